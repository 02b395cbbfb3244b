#pragma once

#include <charconv>
#include <chrono>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "db/conninfo.hpp"

struct pg_conn;

namespace pgleak::db {

// The application_name of each of pgleak's own sessions, in one place: the
// run waits for some to leave, and the settings probe counts others out.
namespace own_name {
inline constexpr const char* kSetup = "pgleak-setup";      // the embedded server's set-up
inline constexpr const char* kProbe = "pgleak-probe";      // the server's settings
inline constexpr const char* kSampler = "pgleak-sampler";  // pg_stat_activity, PgBouncer's console
inline constexpr const char* kAdmin = "pgleak-admin";      // faults and clean-up
inline constexpr const char* kMonitor = "pgleak-monitor";  // pgleak monitor
inline constexpr const char* kShard = "pgleak-shard";      // a shard's barrier, held for the run
}  // namespace own_name

// A session for pgleak's own queries (the sampler, faults and clean-up,
// monitor, server settings, embedded-server setup), never for the workload:
// tagged with its own application_name so it is told apart from the run's
// backends, and, unlike a worker's session, bounded everywhere:
//  - connecting gives up after `connect_timeout` (the DSN's connect_timeout
//    when it sets one, else 10 s) or at once when `interrupt` is requested;
//  - every query gives up after `query_timeout`, or when its stop token or
//    `interrupt` is requested; the session is then closed (a server that
//    accepts TCP but never answers, or a stopped postmaster, cannot hang it).
// A session that failed is broken for good: open a new one.
//
// Not thread-safe: one thread at a time.
class OwnSession {
 public:
  struct Options {
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds query_timeout{10'000};
    std::stop_token interrupt;
  };
  using Row = std::vector<std::optional<std::string>>;  // nullopt = SQL NULL

  // A field of a Row as a number: 0 for NULL or text that is not one.
  template <typename T>
  static T number(const std::optional<std::string>& field) {
    T value{};
    if (field) {
      std::from_chars(field->data(), field->data() + field->size(), value);
    }
    return value;
  }

  // Throws DbError (08001 for a connect that failed or timed out).
  OwnSession(const ConnInfo& target, const std::string& application_name, Options options);
  OwnSession(const ConnInfo& target, const std::string& application_name)
      : OwnSession(target, application_name, Options{}) {}
  ~OwnSession();
  OwnSession(const OwnSession&) = delete;
  OwnSession& operator=(const OwnSession&) = delete;

  // Runs one or more statements; returns the rows of the last result. Throws
  // DbError with the server's SQLSTATE, or disconnected() for a broken,
  // timed-out or interrupted session.
  std::vector<Row> query(std::string_view sql, const std::stop_token& stop = {});
  // The column names of the rows the last query returned.
  const std::vector<std::string>& columns() const { return columns_; }
  // The first column of the single row a query returns, as an integer.
  long long scalar(std::string_view sql, const std::stop_token& stop = {});
  // A SQL string literal for `text` (PQescapeLiteral).
  std::string quote(std::string_view text) const;
  bool broken() const { return conn_ == nullptr; }

 private:
  void close() noexcept;

  pg_conn* conn_ = nullptr;
  Options options_;
  std::vector<std::string> columns_;
};

}  // namespace pgleak::db

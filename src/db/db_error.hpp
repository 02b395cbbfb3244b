#pragma once

#include <stdexcept>
#include <string>

namespace pgleak::db {

// Where an error's SQLSTATE came from.
enum class CodeSource {
  kNone,        // no SQLSTATE: what a driver shows for a lost connection (psycopg2's pgcode None)
  kServer,      // the server sent it in a result
  kClassified,  // pgleak read it from the text of an error that carried none
};

// A failure reported by (or on the way to) the server, as the driver reports
// it: the SQLSTATE only where the server sent one in a result, or where pgleak
// classified the text (which `source()` says), and whether the session is
// gone, which is what the pool needs to know.
class DbError : public std::runtime_error {
 public:
  DbError(const std::string& message, std::string sqlstate, bool disconnected)
      : DbError(message, sqlstate, disconnected,
                sqlstate.empty() ? CodeSource::kNone : CodeSource::kServer) {}
  DbError(const std::string& message, std::string sqlstate, bool disconnected, CodeSource source)
      : std::runtime_error(message),
        sqlstate_(std::move(sqlstate)),
        disconnected_(disconnected),
        source_(sqlstate_.empty() ? CodeSource::kNone : source) {}

  // Five characters, or empty when nothing identifies the error.
  const std::string& sqlstate() const noexcept { return sqlstate_; }
  CodeSource source() const noexcept { return source_; }
  // The connection can no longer be used (SQLAlchemy's "is_disconnect").
  bool disconnected() const noexcept { return disconnected_; }

  // A lost connection: the FATAL the server sent before it closed (from the
  // failed statement's text, or a notice that came while the session was
  // idle) and its SQLSTATE read from that text; empty when none came. A
  // driver that speaks the protocol itself (JDBC, pgx, node-postgres) shows
  // this to its caller; libpq's drivers show the lost connection instead.
  void set_server_fatal(std::string message, std::string sqlstate) {
    server_fatal_ = std::move(message);
    server_fatal_sqlstate_ = std::move(sqlstate);
  }
  const std::string& server_fatal() const noexcept { return server_fatal_; }
  const std::string& server_fatal_sqlstate() const noexcept { return server_fatal_sqlstate_; }

 private:
  std::string server_fatal_;
  std::string server_fatal_sqlstate_;
  std::string sqlstate_;
  bool disconnected_;
  CodeSource source_;
};

// A connect cut short because the run (or its process) was stopping: not a
// failure of the pool or the server, so pools do not count it and workers do
// not report it. A DbError, so a caller that only knows DbError still sees a
// connect that did not happen.
class ConnectInterrupted : public DbError {
 public:
  ConnectInterrupted() : DbError("interrupted while connecting", "", true) {}
};

}  // namespace pgleak::db

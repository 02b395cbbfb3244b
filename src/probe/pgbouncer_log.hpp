#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "probe/log_follower.hpp"
#include "record/recorder.hpp"

namespace pgleak::probe {

// One "pooler error" line of PgBouncer's log: an error PgBouncer sent a
// client before closing it, e.g.
//   2026-11-30 20:32:20.528 UTC [26409] WARNING C-0x55...: postgres/pgleak_app@127.0.0.1:33678
//   pooler error: query_wait_timeout
struct PoolerError {
  std::optional<std::chrono::system_clock::time_point> timestamp;
  std::string client;  // "postgres/pgleak_app@127.0.0.1:33678"
  std::string text;    // "query_wait_timeout"
  std::string reason;  // db::pgbouncer_error_key(text), or the text in snake_case
};

// Parses one line of PgBouncer's log; nullopt for anything but a pooler error.
std::optional<PoolerError> parse_pooler_error(std::string_view line);

// Follows PgBouncer's log during a run and records each pooler error as a
// pgbouncer_log event (its reason in Event::pgbouncer_error, counted by the
// recorder), at PgBouncer's own time of the line. A client sees most of these
// only as "server closed the connection unexpectedly": the log says why.
//
// Thread-safety: start()/stop() from one thread; reading runs on its own thread.
class PgBouncerLogTailer {
 public:
  PgBouncerLogTailer(std::string path, record::Recorder& recorder);
  void start() { follower_.start(); }
  // Reads what is left, then stops.
  void stop() { follower_.stop(); }

 private:
  void on_line(std::string_view line);

  record::Recorder& recorder_;
  LogFollower follower_;  // last: its thread stops before the rest goes
};

}  // namespace pgleak::probe

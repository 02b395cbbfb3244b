#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "probe/log_follower.hpp"
#include "record/observations.hpp"
#include "record/recorder.hpp"

namespace pgleak::probe {

// One line of PostgreSQL's jsonlog (log_destination = 'jsonlog'), reduced to
// what attribution needs.
struct ServerLogEntry {
  std::string severity;  // ERROR, FATAL, LOG, ...
  std::string sqlstate;
  std::string message;
  std::string application_name;
  std::string user;
  std::string backend_type;
  int pid = 0;
  // The server's own time of the entry ("2026-11-30 15:19:07.812 UTC").
  std::optional<std::chrono::system_clock::time_point> timestamp;
};

// Parses one jsonlog line; nullopt for anything that is not one.
std::optional<ServerLogEntry> parse_jsonlog_line(std::string_view line);

// Whether an entry is a failure of one of the run's client backends worth an
// event: ERROR, FATAL or PANIC, or the LOG of a client that vanished (class
// 08: 08P01 with an open transaction, 08006 unexpected EOF). With
// `whole_server` (a server only the run uses), also a client backend that
// failed before it had an application_name: a refusal at the limit (53300)
// is logged before PostgreSQL knows who asked.
bool is_reportable(const ServerLogEntry& entry, const std::string& run_marker,
                   bool whole_server = false);

// Follows the embedded server's jsonlog during a run and records each
// reportable entry as a server_log event, tied to the process, replica and
// pattern of the backend (from its application_name tag) and, through
// `worker_of`, to the worker that held it, at the server's own time of the
// entry. This is how a 25P03 that the client only saw as "server closed the
// connection unexpectedly" is explained. Refusals that cannot be tied to a
// backend are recorded unattributed (the server is the run's alone).
//
// Thread-safety: start()/stop() from one thread; reading runs on its own thread.
class ServerLogTailer {
 public:
  // (process, replica, pid) -> "group.index" of the worker that last held pid, or "".
  using WorkerOf = std::function<std::string(const std::string&, int, int)>;

  // `shared`: a server others use too (an external target's log): only the
  // run's own backends count, and what the log held before the run is skipped.
  // `run_marker`: what the run's tags hold (BackendTag::run_marker, or
  // fleet_marker for every shard of a sharded run).
  ServerLogTailer(std::string path, std::string run_marker, record::Recorder& recorder,
                  WorkerOf worker_of, bool shared = false);
  ServerLogTailer(const ServerLogTailer&) = delete;
  ServerLogTailer& operator=(const ServerLogTailer&) = delete;

  void start() { follower_.start(/*from_end=*/shared_); }
  // Reads what is left, then stops.
  void stop() { follower_.stop(); }
  // What of the log could not be read whole (rotations, truncations, long lines).
  LogGaps gaps() const { return follower_.gaps(); }

 private:
  void on_line(std::string_view line);

  const bool shared_;
  const std::string run_marker_;
  record::Recorder& recorder_;
  const WorkerOf worker_of_;
  LogFollower follower_;  // last: its thread stops before the rest goes
};

}  // namespace pgleak::probe

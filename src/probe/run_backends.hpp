#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "db/conninfo.hpp"
#include "db/own_session.hpp"

namespace pgleak::probe {

// Acts on the backends of one run, and only those: every query matches the
// run's tag marker ("/<run_id>/", or "/<run_id>/<process>." for one process),
// so pgleak never touches another client's sessions. Used for scheduled faults
// and for the shutdown safety net. Reconnects on demand (the server may have
// restarted); every query is bounded (5 s to connect, 5 s to answer).
//
// Thread-safety: every member may be called from any thread (one mutex).
class RunBackends {
 public:
  // `marker` is what every tag of the run holds (BackendTag::run_marker), or
  // of one shard of it (BackendTag::shard_marker): a shard acts on its own
  // backends only. `interrupt` ends any wait on the server at once (the run's
  // forced stop).
  RunBackends(db::ConnInfo admin, std::string marker, std::stop_token interrupt = {});
  ~RunBackends();
  RunBackends(const RunBackends&) = delete;
  RunBackends& operator=(const RunBackends&) = delete;

  // `process` empty = all processes of the run. Each returns how many
  // backends it signalled, or -1 when the server cannot be reached.
  int cancel(const std::string& process = {}, bool active_only = false);
  int terminate(const std::string& process = {});
  int count(const std::string& process = {});
  // The run's (or a process's) backends with a TCP client: pid and client
  // port (as the server sees it, which is the worker's own).
  std::optional<std::vector<std::pair<int, int>>> client_ports(const std::string& process = {});
  // Terminates those of `pids` that are backends of the run; how many, or -1.
  int terminate_pids(const std::vector<int>& pids);
  // Which of `pids` are still backends of the run.
  std::optional<std::vector<int>> still_there(const std::vector<int>& pids);
  // Backends exit asynchronously after their client disconnects: polls until
  // none of the run's remain or `timeout` passes; returns how many remain.
  int wait_gone(std::chrono::milliseconds timeout);
  // Why the last call that returned -1 could not reach the server.
  std::string last_error() const;

 private:
  // SELECT select_list over the run's (or a process's) backends and `where`;
  // nothing when the server cannot be reached (last_error says why).
  std::optional<std::vector<db::OwnSession::Row>> select(const std::string& select_list,
                                                         const std::string& process,
                                                         const std::string& where);
  int scalar(const std::string& select_list, const std::string& process, bool active_only);

  const db::ConnInfo admin_;
  const std::string marker_;
  const std::stop_token interrupt_;
  mutable std::mutex mutex_;
  std::unique_ptr<db::OwnSession> conn_;
  std::string last_error_;
};

}  // namespace pgleak::probe

#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <stop_token>
#include <string>
#include <vector>

#include "probe/server_info.hpp"
#include "record/observations.hpp"
#include "record/pool_stats.hpp"
#include "record/recorder.hpp"
#include "record/run_result.hpp"
#include "record/side_file.hpp"
#include "run/worker_engine.hpp"
#include "scenario/scenario.hpp"
#include "scenario/shard.hpp"
#include "util/latency_histogram.hpp"

namespace pgleak::run {

// One shard of a sharded run (scenario/shard.hpp): it runs its slice of the
// replicas, after every shard has reached the barrier (run/shard_barrier.hpp).
struct ShardRun {
  scenario::ShardRef shard;
  std::string run_id;    // shared by every shard (six characters, as make_run_id's)
  std::string run_name;  // what the user named the run (--run-id), or how it was derived
  std::chrono::milliseconds barrier_timeout{std::chrono::minutes{10}};
  // Where the shards meet (run/shard_barrier.hpp); none: the target's DSN.
  std::optional<std::string> barrier_dsn;
};

// Shard 0 samples pg_stat_activity and reads the server log; every shard
// samples its own pools.
inline bool samples_server(const scenario::ShardRef& shard) {
  return shard.index == 0;
}

struct RunOptions {
  // Target an existing server instead of an embedded one; never reconfigured.
  std::optional<std::string> dsn;
  // With a DSN: called with what the target says about itself before anything
  // is started; it throws (util::UsageError) to refuse the run, e.g. when the
  // scenario would take the slots other clients of that server need.
  std::function<void(const record::ServerInfo&)> preflight;
  // Ctrl-C / SIGTERM / SIGHUP: the run stops early, cleans up, and says so.
  std::stop_token interrupt;
  // A second signal: the same clean-up without its grace periods.
  std::stop_token force;
  // Status lines ("server started", "running ..."), holders as they appear,
  // and the progress line; nullptr for none.
  std::ostream* log = nullptr;
  // Redraw the progress line in place (a terminal) rather than print lines.
  bool progress_in_place = false;
  // With a DSN that points at a PgBouncer: its admin console (database
  // "pgbouncer"), read at every sample and never changed.
  std::optional<std::string> pgbouncer_admin;
  // With a DSN: the server's jsonlog, followed for server-side attribution
  // (empty: the clients' view only).
  std::string server_log;
  // Stream every sample and event, in full, to this gzip JSON Lines file
  // (record::SideFile) while the run goes; empty for none.
  std::string side_file;
  // Run as one shard of a sharded run (needs `dsn`).
  std::optional<ShardRun> shard;
  // Fibers on a few event-loop threads, or a thread per worker.
  WorkerEngine engine;
};

// Runs a validated scenario against its target and returns what it saw, in
// four phases: open the target, start the workload and its instruments, watch
// until the scenario ends (or is stopped), then stop everything and collect.
// Every backend the run opened is closed and an embedded server is stopped and
// deleted before this returns, on every path, exceptions included; every wait
// in the stop phase is bounded. Throws util::InfrastructureError when the
// target cannot be reached or the embedded server cannot start, and what
// `preflight` throws.
record::RunResult run_scenario(const scenario::Scenario& scenario, const RunOptions& options);

// Six characters of [a-z0-9]: marks every backend of one run.
std::string make_run_id();
// The same, drawn from a name (FNV-1a), so that every shard of a run agrees
// on it from any name they share (a Kubernetes Job's uid will do).
std::string run_id_from_name(const std::string& name);

}  // namespace pgleak::run

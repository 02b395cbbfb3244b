#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <stop_token>
#include <string>
#include <vector>

#include "pool/pool_stats.hpp"
#include "probe/server_info.hpp"
#include "record/side_file.hpp"
#include "run/recorded.hpp"
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
  std::function<void(const probe::ServerInfo&)> preflight;
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
};

enum class RunStatus { kCompleted, kInterrupted, kTargetLost, kAborted };

struct TargetDescription {
  bool embedded = true;
  std::string dsn_redacted;  // external targets only
  probe::ServerInfo server;
  // The workers' role may use the superuser-reserved slots (an external
  // target whose DSN logs in as a superuser); the embedded one never does.
  bool app_role_superuser = false;
  // Client connections already on the server before the run (external).
  int connections_before = 0;
  // PgBouncer in the path: pgleak's own (embedded) or the user's (--dsn with
  // --pgbouncer-admin); `console` is its admin console, redacted.
  bool pgbouncer = false;
  bool pgbouncer_embedded = false;
  std::string pgbouncer_console;
};

struct PoolOutcome {
  std::string process;
  int replica = 0;
  pool::PoolStats stats;
  int outstanding = 0;  // checkouts still out when the run ended (held sessions)
};

// How one worker group of one replica was paced.
struct LoadOutcome {
  std::string process;
  int replica = 0;
  std::string group;
  bool open_model = false;
  uint64_t arrivals = 0;  // open model: units that arrived
  uint64_t dropped = 0;   // open model: arrivals that found every worker busy
  std::shared_ptr<util::LatencyHistogram> start_delays;  // arrival to pickup
};

// What a shard of a sharded run was, for its report and `pgleak merge`.
struct ShardOutcome {
  scenario::ShardRef shard;
  std::string run_name;
  bool samples_server = false;
  double barrier_wait_s = 0;
  int64_t started_at_unix_ms = 0;  // when it passed the barrier: its t = 0
  std::vector<scenario::ReplicaRef> replicas;
};

// Everything a run observed, for analysis and the report.
struct RunResult {
  std::string run_id;
  std::string started_at_utc;  // ISO 8601
  double wall_s = 0;
  RunStatus status = RunStatus::kCompleted;
  std::string status_detail;
  TargetDescription target;
  // The kept samples: all of a short run's, a peak-keeping selection of a
  // long one's (record::BoundedSeries); `series` covers every sample taken.
  std::vector<Sample> samples;
  record::SeriesStats series;
  std::vector<Event> events;
  uint64_t events_dropped = 0;
  std::map<std::string, uint64_t> events_by_kind;  // every event, dropped ones included
  std::shared_ptr<const util::LatencyHistogram> timeout_lateness;
  // The side file, when one was asked for (empty path otherwise).
  record::SideFile::Status side_file;
  std::map<std::string, uint64_t> errors_by_sqlstate;
  std::map<std::string, uint64_t> server_errors_by_sqlstate;
  // What PgBouncer logged sending clients errors, by reason (pgbouncer_log events).
  std::map<std::string, uint64_t> pgbouncer_errors;
  // Server-log attribution: only where pgleak can read the log (embedded).
  bool server_log_available = false;
  std::string server_log_note;
  uint64_t pool_timeouts = 0;
  uint64_t connections_lost = 0;
  std::vector<PoolOutcome> pools;
  std::vector<LoadOutcome> loads;
  // Checkouts older than leak_threshold at the end of the scenario.
  std::vector<Holder> holders;
  std::shared_ptr<util::LatencyHistogram> checkout_waits;  // all pools merged
  uint64_t connect_attempts = 0;  // every connection the workers tried to open
  uint64_t sampler_missed_intervals = 0;
  double sampler_max_lag_ms = 0;
  int leftover_backends_terminated = 0;
  // False when the check for leftover backends was due and could not be made
  // (the admin session failed): never read as "none left".
  bool cleanup_checked = true;
  std::string cleanup_note;  // why the check for leftover backends was not made
  std::optional<ShardOutcome> shard;
};

std::string_view to_string(RunStatus status);

// Runs a validated scenario against its target and returns what it saw, in
// four phases: open the target, start the workload and its instruments, watch
// until the scenario ends (or is stopped), then stop everything and collect.
// Every backend the run opened is closed and an embedded server is stopped and
// deleted before this returns, on every path, exceptions included; every wait
// in the stop phase is bounded. Throws util::InfrastructureError when the
// target cannot be reached or the embedded server cannot start, and what
// `preflight` throws.
RunResult run_scenario(const scenario::Scenario& scenario, const RunOptions& options);

// Six characters of [a-z0-9]: marks every backend of one run.
std::string make_run_id();
// The same, drawn from a name (FNV-1a), so that every shard of a run agrees
// on it from any name they share (a Kubernetes Job's uid will do).
std::string run_id_from_name(const std::string& name);

}  // namespace pgleak::run

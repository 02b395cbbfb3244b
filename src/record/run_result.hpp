#pragma once

// What a run observed, whole: the result `run::run_scenario` returns, the
// analysis reads, the report writes and `pgleak merge` rebuilds from shards'
// reports. Plain values (the histograms are shared, read-only once the run
// ends); no locking. Their JSON, both ways, is in record/run_result_json.hpp.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "record/observations.hpp"
#include "record/pool_stats.hpp"
#include "record/series.hpp"
#include "record/server_info.hpp"
#include "record/side_file.hpp"
#include "scenario/shard.hpp"
#include "util/latency_histogram.hpp"

namespace pgleak::record {

enum class RunStatus { kCompleted, kInterrupted, kTargetLost, kAborted };

struct TargetDescription {
  bool embedded = true;
  std::string dsn_redacted;  // external targets only
  record::ServerInfo server;
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
  record::PoolStats stats;
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

// What one network fault did (run/network_faults): when it held, and what
// became of the backends it cut off from their clients, from the server's
// own pg_stat_activity.
struct NetworkFaultOutcome {
  std::string action;             // scenario::to_string(NetworkFault::Action)
  std::string target;             // a process, or "all"
  double began_s = -1;            // -1: it never began (the run ended first, or it failed)
  std::optional<double> ended_s;  // when its packets flowed again, if they did
  int cut_off = 0;                // the backends it cut off (a reset: aborted)
  // Of those, how long after the cut each ended on the server, in order.
  std::vector<double> lived_s;
  // Still on the server when the watch ended (the heal, or the run's end);
  // and of those, how many could not be checked (counted as still there).
  int left = 0;
  int unchecked = 0;
  std::string error;  // why it failed, if it did
};

// Everything a run observed, for analysis and the report.
struct RunResult {
  std::string run_id;
  std::string started_at_utc;  // ISO 8601
  double wall_s = 0;
  RunStatus status = RunStatus::kCompleted;
  std::string status_detail;
  // What ran the workers (run::WorkerEngine): "fibers" or "threads" (a
  // merge of shards that differ: "mixed"), and the fibers' event-loop
  // threads (0: threads, or a merge).
  std::string engine;
  int engine_threads = 0;
  // Of the fibers' socket waits, those that went through a loop's epoll set
  // (fiber::EngineOptions::epoll_above). Not in the report: it tells how the
  // engine waited, not what the run showed; the engine's tests read it.
  uint64_t engine_epoll_waits = 0;
  // The most worker sessions open at once on pgleak's side (db::SessionTally,
  // counted to the moment, where the samples see the server at their ticks)
  // and when, seconds into the run. None for a merge: the shards' peaks need
  // not have come at once.
  struct SessionPeak {
    int open = 0;
    double at_s = 0;
  };
  std::optional<SessionPeak> sessions_peak;
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
  std::vector<NetworkFaultOutcome> network_faults;  // in the scenario's order
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

// "completed", "interrupted", "target_lost", "aborted"; and back (nullopt for
// a word pgleak does not write).
std::string_view to_string(RunStatus status);
std::optional<RunStatus> run_status_from_string(std::string_view text);

}  // namespace pgleak::record

#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

// What a run observes: one Sample per sampler tick (the snapshot every output
// reads: progress line, JSON report) and Events as they happen.
namespace pgleak::record {

// One pool (one simulated process replica) at a sample.
struct PoolSample {
  std::string process;
  int replica = 0;
  int checked_out = 0;
  int idle = 0;
  int overflow = 0;
  int waiting = 0;
  int open = 0;
  int replicas = 1;  // more than one when a kept sample folded a process's replicas (replica -1)
};

// PgBouncer's admin console at one instant: SHOW POOLS summed over every
// pool but the console's own, and SHOW STATS's running totals.
struct PgBouncerSample {
  int cl_active = 0;      // clients linked to a server connection (or idle, free to run)
  int cl_waiting = 0;     // clients that sent a query and wait for a server connection
  int sv_active = 0;      // server connections linked to a client
  int sv_idle = 0;        // server connections free for a client
  int sv_used = 0;        // server connections idle past server_check_delay (checked before reuse)
  int sv_login = 0;       // server connections logging in
  double maxwait_ms = 0;  // how long the oldest waiting client has waited
  uint64_t xact_count = 0;   // transactions pooled so far
  uint64_t query_count = 0;  // queries pooled so far
  double wait_time_ms = 0;   // time clients spent waiting for a server, so far
};

// pg_stat_activity at one instant. `total` counts every client backend but the
// sampler's own; `own` those tagged by this run (equal on the embedded server).
// Invariant: sum(by_state) == total.
struct Sample {
  double t_s = 0;
  int total = 0;
  int own = 0;
  std::map<std::string, int> by_state;
  std::map<std::string, int> by_application;
  // The run's own backends per simulated process (from their application_name).
  std::map<std::string, int> by_process;
  std::vector<PoolSample> pools;
  // With PgBouncer in the path and its admin console readable.
  std::optional<PgBouncerSample> pgbouncer;
  double lag_ms = 0;  // how late the sample was taken against its schedule
  // A kept sample whose pools (per process) or application names (dropped)
  // were folded to bound the report; the side file has them in full.
  bool folded = false;
};

// A checkout held longer than the scenario's leak_threshold (HikariCP's
// leakDetectionThreshold): who holds it and for how long.
struct Holder {
  std::string process;
  int replica = 0;
  std::string worker;
  std::string pattern;
  int backend_pid = 0;
  double since_s = 0;        // checkout time, seconds into the run
  double age_s = 0;          // wall seconds held
  double age_nominal_s = 0;  // the same in the scenario's time (age / time_scale)
};

// Event kinds, as they appear in the report.
inline constexpr const char* kPoolTimeout = "pool_timeout";
inline constexpr const char* kConnectError = "connect_error";
inline constexpr const char* kQueryError = "query_error";
// A statement found its connection gone (the server ended it, or it broke):
// reported, as the driver reports it, with libpq's text and no SQLSTATE.
inline constexpr const char* kConnectionLost = "connection_lost";
inline constexpr const char* kSamplerError = "sampler_error";
inline constexpr const char* kFault = "fault";
// An ERROR/FATAL the server wrote to its log about one of the run's backends.
inline constexpr const char* kServerLog = "server_log";
// The application's own exception (a "raise" step): nothing reached the server.
inline constexpr const char* kApplicationError = "application_error";
// An error PgBouncer sent a client, from its log ("pooler error").
inline constexpr const char* kPgBouncerLog = "pgbouncer_log";
// engine.dispose() of a process's engine.
inline constexpr const char* kEngineDispose = "engine_dispose";
// A simulated process ended (cleanly, or crashed) or was started again.
inline constexpr const char* kProcessExit = "process_exit";
inline constexpr const char* kProcessCrash = "process_crash";
inline constexpr const char* kProcessStart = "process_start";
// A step of the shards' barrier that failed (a lock not taken, a poll not
// answered): the shards it concerns waited out their bounds instead.
inline constexpr const char* kShardBarrier = "shard_barrier";
// A check pgleak could not make (the end-of-run count of leftover backends).
inline constexpr const char* kCheckFailed = "check_failed";

struct Event {
  double t_s = 0;
  std::string kind;
  std::string sqlstate;  // empty when none applies (a pool timeout, a lost connection)
  std::string message;
  std::string process;
  int replica = -1;
  std::string worker;  // "<group>.<index>"
  std::string pattern;
  std::optional<double> waited_ms;   // pool timeouts: request to failure
  std::optional<double> timeout_ms;  // pool timeouts: the pool_timeout it waited for
  // Where the SQLSTATE came from: "server" (sent in a result, as psycopg2's
  // pgcode), "pgleak" (read from the text of an error that carried none,
  // e.g. a refusal at connect), "server_log" (the server's log); empty without one.
  std::string code_source;
  // The reason, when the error is PgBouncer's (db::pgbouncer_error_key).
  std::string pgbouncer_error;
};

}  // namespace pgleak::record

#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "scenario/expectation.hpp"
#include "scenario/steps.hpp"
#include "util/duration.hpp"

// The scenario model: plain values, filled from a file by scenario::load(),
// validated once, then passed as const& to the run. Every duration is a
// ScaledDuration: what the file says and what the run applies (x time_scale).
namespace pgleak::scenario {

using util::ScaledDuration;

// Sent to the server with each connection of a pool (SQLAlchemy connect_args).
struct ConnectArgs {
  std::optional<ScaledDuration> connect_timeout;
  std::optional<ScaledDuration> statement_timeout;
  std::optional<ScaledDuration> idle_in_transaction_session_timeout;
  std::optional<std::string> application_name;  // prefix of every backend tag
  // libpq's TCP settings (whole seconds for keepalives, milliseconds for
  // tcp_user_timeout): they decide when a worker notices a dead network.
  std::optional<bool> keepalives;
  std::optional<ScaledDuration> keepalives_idle;
  std::optional<ScaledDuration> keepalives_interval;
  std::optional<int> keepalives_count;
  std::optional<ScaledDuration> tcp_user_timeout;
};

// A setting of a pool kind other than SQLAlchemy's (pool_kinds.hpp), at the
// scenario's value or the kind's default: the field its type names is set.
struct KindValue {
  int number = 0;
  bool flag = false;
  ScaledDuration duration;
};

// One simulated process's pool: create_engine(pool_size=..., ...), or another
// library's pool (`kind`).
struct PoolSettings {
  std::string kind{"sqlalchemy"};  // a row of pool_kinds()
  // The kind's own settings by the library's names (not SQLAlchemy's, whose
  // are the fields below); every one of the kind's is present.
  std::map<std::string, KindValue, std::less<>> own;
  int own_number(std::string_view name) const { return own_at(name).number; }
  bool own_flag(std::string_view name) const { return own_at(name).flag; }
  const ScaledDuration& own_duration(std::string_view name) const { return own_at(name).duration; }
  // The kind's setting `name`; a name the kind does not have is a bug in
  // pgleak (std::logic_error), never a scenario's.
  const KindValue& own_at(std::string_view name) const {
    const auto it = own.find(name);
    if (it == own.end()) {
      throw std::logic_error("pool kind " + kind + " has no setting " + std::string{name});
    }
    return it->second;
  }

  int pool_size = 5;
  int max_overflow = 10;
  ScaledDuration pool_timeout;                 // default 30s
  std::optional<ScaledDuration> pool_recycle;  // none = SQLAlchemy's -1
  bool pool_pre_ping = false;
  bool use_lifo = false;
  bool reset_on_return = true;  // "rollback" (default) or "none"
  bool null_pool = false;       // poolclass "NullPool": a connection per checkout
  ConnectArgs connect;
};

// One step of a ramp: over `duration`, move linearly to `target` (workers for
// a closed model, arrivals per nominal second for an open one).
struct Stage {
  ScaledDuration duration;
  double target = 0;
};

// Open-model pacing: units of work arriving at this rate whatever the workers
// are doing. Per nominal second: time_scale compresses time, so the applied
// rate is per_second / time_scale.
struct ArrivalRate {
  double per_second = 0;
};

// The pattern name of a group that writes its own `steps`.
inline constexpr const char* kStepsPattern = "steps";

// Workers that share a pattern and workload inside one simulated process.
struct WorkerGroup {
  std::string name;         // defaults to the pattern name
  std::string pattern;      // a name from workload::PatternRegistry, or kStepsPattern
  std::vector<Step> steps;  // the group's own session flow (pattern == kStepsPattern)
  int count = 1;
  std::optional<int> iterations;            // units of work per worker
  std::optional<ScaledDuration> duration;   // or: run this long
  ScaledDuration think_time;                // pause between units of work (closed model)
  ScaledDuration start_after;               // the group starts this long after its process
  std::optional<ArrivalRate> arrival_rate;  // set: open model; count = most units at once
  std::vector<Stage> stages;                // ramp the count (closed) or the rate (open)
  std::optional<std::string> query;         // the unit of work's statement; patterns default it
  nlohmann::json options = nlohmann::json::object();  // validated by the pattern
  // After a connect the server refused or could not take: "backoff" (the
  // default) waits think_time, at least 10 ms, doubling with jitter up to 1 s
  // over consecutive failures; "immediate" waits think_time only, as a loop
  // that retries at once does (a real one made 8 refusals in 0.02 s).
  enum class ConnectRetry { kBackoff, kImmediate };
  ConnectRetry connect_retry = ConnectRetry::kBackoff;
};

// How each copy of a process ends before the run does, and whether it comes
// back: a clean exit (its connections say goodbye) or a crash (kill -9, the
// OOM killer: its sockets close without one), at a set time after it started
// or after its workers did a number of units of work; then, with
// restart_after, started again that much later (systemd's Restart=always and
// RestartSec), to end the same way again.
struct Lifecycle {
  enum class End { kExit, kCrash };
  End end = End::kExit;
  std::optional<ScaledDuration> at;
  std::optional<int> after_units;
  std::optional<ScaledDuration> restart_after;
  // A restarted process's start-up (the interpreter and its imports: 0.18 to
  // 0.27 s for a Python process that imports SQLAlchemy): its life, and its
  // workers, begin this long after the restart.
  ScaledDuration startup;
};

// CPython's cyclic garbage collector, as it bears on sessions: a Session let
// go with its transaction open sits in a reference cycle and keeps its
// connection until a collection. CPython collects when allocations pass a
// threshold, so how often depends on what the process does; the scenario
// says it as an interval of its time, or never (a process that allocates
// nothing while it waits). The default, 2 s, is what SQLAlchemy 1.4 on
// CPython 3.11 showed: dropped sessions freed 1.2-2.4 s in at 90-200 units
// of work a second (docs/SESSIONS.md).
struct GarbageCollector {
  static constexpr util::Micros kDefaultInterval = std::chrono::seconds{2};
  std::optional<ScaledDuration> interval;  // none: only gc.collect() collects
};

// A program that runs `replicas` times at once (the 25 duplicate launchers:
// each copy started start_interval after the one before, none stopping the
// others), each copy with its own pool.
struct ProcessSpec {
  std::string name;
  int replicas = 1;
  ScaledDuration start_interval;  // replica r starts at r x start_interval
  PoolSettings pool;
  std::vector<WorkerGroup> workers;
  std::optional<Lifecycle> lifecycle;
  GarbageCollector gc;
};

// Something done to the run's backends or server at a scheduled time, to
// exercise pre-ping and reconnect paths. pgleak only ever acts on its own run.
struct Fault {
  enum class Action { kTerminateBackends, kCancelBackends, kRestartServer };
  ScaledDuration at;
  Action action = Action::kTerminateBackends;
  std::string target = "all";  // "all" or a process name
};

std::string_view to_string(Fault::Action action);

// A fault in the network between the workers (or PgBouncer) and the server.
// Those the kernel makes, in the run's own network namespace (net/
// namespace.hpp; root and the embedded server):
//  - blackhole: every packet to and from the server's port dropped, new
//    connects included, until `lasts` ends (or the run does);
//  - partition: the same, and `lasts` is required: the network heals;
//  - reset: the server's sockets of the target's connections aborted, so a
//    RST reaches each worker and the backend ends at once;
//  - half_open: the target's clients vanish without a FIN: their packets are
//    dropped from then on (until `lasts` ends) and the workers' sockets cut,
//    so the server keeps each backend until its keepalives or
//    tcp_user_timeout give up.
// Those pgleak's relay makes (net/relay.hpp; any target, no root), between
// the workers and whatever they connect to, in `direction`, for what the
// workers send and receive from `at` until `lasts` ends (or the run does):
//  - latency: each chunk held `delay`, give or take up to `jitter`;
//  - bandwidth: at most `rate` per direction of each connection.
struct NetworkFault {
  enum class Action { kBlackhole, kPartition, kReset, kHalfOpen, kLatency, kBandwidth };
  enum class Direction { kBoth, kToServer, kToClient };
  ScaledDuration at;
  std::optional<ScaledDuration> lasts;  // "for"
  Action action = Action::kBlackhole;
  std::string target = "all";  // "all" or a process name (reset, half_open)
  // The relay's faults. A rate is scaled as durations are: at time_scale 0.1
  // a nominal 1MB/s applies as 10MB/s, so a transfer takes a tenth as long.
  std::optional<ScaledDuration> delay;
  std::optional<ScaledDuration> jitter;
  int64_t rate_nominal = 0;  // bytes per second
  int64_t rate_applied = 0;
  Direction direction = Direction::kBoth;
};

std::string_view to_string(NetworkFault::Action action);
std::string_view to_string(NetworkFault::Direction direction);
// Whether the kernel makes it (in a namespace), or the relay.
bool kernel_fault(NetworkFault::Action action);
// The action a scenario names so, if any.
std::optional<NetworkFault::Action> network_action(std::string_view name);

// The embedded server's settings (an external target's are read, never set).
struct ServerSettings {
  int max_connections = 100;
  int superuser_reserved_connections = 3;
  // The role the workers log in as: an ordinary one by default, so the
  // reserved slots apply to them; a superuser to reproduce an application
  // that logs in as postgres (it may take every slot but the sampler's).
  bool app_role_superuser = false;
  // CONNECTION LIMIT of that role and of its database (superusers are exempt).
  std::optional<int> role_connection_limit;
  std::optional<int> database_connection_limit;
  // The server's TCP settings (whole seconds; tcp_user_timeout milliseconds):
  // when a backend whose client vanished is noticed and ended.
  std::optional<ScaledDuration> tcp_keepalives_idle;
  std::optional<ScaledDuration> tcp_keepalives_interval;
  std::optional<int> tcp_keepalives_count;
  std::optional<ScaledDuration> tcp_user_timeout;
};

// PgBouncer between the workers and the server: what a pgbouncer.ini would
// say, with PgBouncer 1.18's defaults for whatever the scenario leaves out.
// Durations are scaled like every other; PgBouncer takes fractional seconds
// but checks most of its timeouts only a few times a second.
struct PgBouncerSettings {
  enum class Mode { kSession, kTransaction, kStatement };
  Mode pool_mode = Mode::kSession;
  int default_pool_size = 20;
  int min_pool_size = 0;
  int reserve_pool_size = 0;
  ScaledDuration reserve_pool_timeout;  // 5 s
  int max_client_conn = 100;
  int max_db_connections = 0;               // 0: no limit
  ScaledDuration server_idle_timeout;       // 600 s
  ScaledDuration server_lifetime;           // 3600 s
  ScaledDuration query_wait_timeout;        // 120 s
  ScaledDuration idle_transaction_timeout;  // 0: off
  // Startup parameters PgBouncer lets through unchecked. Without "options"
  // here, a client that sends server-side timeouts as options (pool
  // "connect" settings) is refused, as a real PgBouncer refuses psycopg2.
  std::vector<std::string> ignore_startup_parameters;
  // (The loader sets each duration's default, scaled like a written value.)

  // The most server connections PgBouncer opens for the workers' one
  // database and user: default_pool_size + reserve_pool_size, capped by
  // max_db_connections.
  int server_connections() const;
};

std::string_view to_string(PgBouncerSettings::Mode mode);

struct Scenario {
  std::string name;
  std::string description;
  std::string source_path;
  // The file as read (a shard's report carries it, so `pgleak merge` can
  // judge the fleet by the same scenario), and scenario_digest() of it.
  std::string source_text;
  std::string digest;
  double time_scale = 1.0;
  ScaledDuration duration;
  // Wall-clock: the sampler is the instrument, not the workload, so time_scale leaves it alone.
  util::Micros sample_interval{std::chrono::seconds{1}};
  ServerSettings server;
  // PgBouncer in the path (embedded target: pgleak starts it; with --dsn the
  // DSN points at the user's own and this block is not used).
  std::optional<PgBouncerSettings> pgbouncer;
  PoolSettings pool;  // defaults for every process
  std::vector<ProcessSpec> processes;
  std::vector<Fault> faults;                 // in the order of their `at`
  std::vector<NetworkFault> network_faults;  // "network": {"faults"}, in the order of their `at`
  // Checkouts held longer than this are reported as holders (HikariCP's
  // leakDetectionThreshold); none = holders are not judged.
  std::optional<ScaledDuration> leak_threshold;
  std::vector<Expectation> expect;  // thresholds; an implicit verdict == healthy unless given

  int64_t total_workers() const;
  bool needs_embedded_server() const;  // a restart_server fault, or a network fault
  bool has_network() const { return !network_faults.empty(); }
  bool needs_namespace() const;  // a fault the kernel makes
  bool needs_relay() const;      // a fault the relay makes
};

}  // namespace pgleak::scenario

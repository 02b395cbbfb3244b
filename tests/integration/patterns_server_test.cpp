// Each pattern run through the real runner against the test server (the
// external --dsn path), asserting what pg_stat_activity showed.
#include <gtest/gtest.h>

#include <thread>

#include "analysis/summary.hpp"
#include "analysis/verdict.hpp"
#include "pg_environment.hpp"
#include "run/runner.hpp"
#include "run_helpers.hpp"
#include "scenario/loader.hpp"
#include "util/errors.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::run {
namespace {

using testing::PgEnvironment;

std::string one_process(const std::string& workers, const std::string& pool = "{}",
                        const std::string& duration = "1500ms") {
  return R"({"name": "t", "duration": ")" + duration +
         R"(", "sample_interval": "100ms", "pool": )" + pool +
         R"(, "processes": [{"name": "p", "workers": [)" + workers + "]}]}";
}

void expect_nothing_left(const record::RunResult& r) {
  EXPECT_EQ(PgEnvironment::get().admin_int(
                "SELECT count(*)::int FROM pg_stat_activity WHERE strpos(application_name, '/" +
                r.run_id + "/') > 0"),
            0);
  EXPECT_EQ(r.leftover_backends_terminated, 0);
  EXPECT_FALSE(r.target.embedded);
}

TEST(PatternsOnServer, OutsideLoopLeavesIdleInTransaction) {
  // Two units each, then the sessions stay as the loop left them: the final
  // state cannot catch a worker in the middle of a unit.
  const auto r = run_json(one_process(
      R"({"pattern": "outside_loop", "count": 3, "iterations": 2, "think_time": "50ms"})", "{}",
      "2500ms"));
  ASSERT_FALSE(r.samples.empty());
  EXPECT_EQ(final_state(r, "idle in transaction"), 3);
  EXPECT_EQ(r.samples.back().own, 3);
  EXPECT_EQ(r.pools[0].outstanding, 3);
  // Nothing came back during the run; pgleak's clean-up returned the three,
  // which are not the application's check-ins.
  EXPECT_EQ(r.pools[0].stats.checkins_by_cleanup, 3u);
  EXPECT_EQ(r.pools[0].stats.checkins, 0u);
  expect_nothing_left(r);
}

// Committing after each iteration gives the connection back to the pool:
// nothing is held between iterations, and the pool keeps one or two idle
// connections (as many as the iterations ever needed at once).
TEST(PatternsOnServer, OutsideLoopWithCommitHoldsNothingBetweenIterations) {
  const auto r = run_json(one_process(
      R"({"pattern": "outside_loop", "count": 2, "iterations": 2, "think_time": "50ms",
          "options": {"commit": true}})",
      "{}", "2500ms"));
  EXPECT_EQ(final_state(r, "idle in transaction"), 0);
  EXPECT_GE(final_state(r, "idle"), 1);
  EXPECT_LE(final_state(r, "idle"), 2);
  EXPECT_EQ(r.pools[0].outstanding, 0);
  EXPECT_EQ(r.pools[0].stats.checkouts, 4u);
  EXPECT_EQ(r.pools[0].stats.checkins_by_cleanup, 0u);
  expect_nothing_left(r);
}

TEST(PatternsOnServer, HeldByObjectHoldsEvenAfterItsWorkIsDone) {
  // One read each, never committed: the sessions' transactions stay open.
  const auto r =
      run_json(one_process(R"({"pattern": "held_by_object", "count": 4, "iterations": 1})"));
  EXPECT_EQ(final_state(r, "idle in transaction"), 4);
  EXPECT_EQ(r.samples.back().own, 4);
  EXPECT_EQ(r.pools[0].outstanding, 4);
  expect_nothing_left(r);
}

// A Session that was never used never checked anything out (SQLAlchemy's
// autobegin): holding the object is not holding a connection.
TEST(PatternsOnServer, AnUnusedSessionHoldsNoConnection) {
  const auto r = run_json(one_process(
      R"({"pattern": "held_by_object", "count": 4, "iterations": 1, "options": {"run_query": false}})"));
  for (const auto& s : r.samples) {
    EXPECT_EQ(s.own, 0) << s.t_s;
  }
  EXPECT_EQ(r.pools[0].stats.checkouts, 0u);
  expect_nothing_left(r);
}

// A Session that commits after each use gives its connection back each time.
TEST(PatternsOnServer, HeldByObjectThatCommitsHoldsNothingBetweenUses) {
  const auto r = run_json(one_process(
      R"({"pattern": "held_by_object", "count": 3, "iterations": 2, "think_time": "50ms",
          "options": {"commit": true}})",
      "{}", "2500ms"));
  EXPECT_EQ(final_state(r, "idle in transaction"), 0);
  EXPECT_EQ(r.pools[0].outstanding, 0);
  EXPECT_EQ(r.pools[0].stats.checkouts, 6u);  // one per unit
  EXPECT_EQ(r.pools[0].stats.checkins, 6u);
  expect_nothing_left(r);
}

TEST(PatternsOnServer, GlobalSessionIsOneConnectionPerProcess) {
  const auto r =
      run_json(one_process(R"({"pattern": "global_session", "count": 5, "think_time": "20ms"})"));
  int peak = 0;
  for (const auto& s : r.samples) {
    peak = std::max(peak, s.own);
  }
  EXPECT_EQ(peak, 1);
  EXPECT_EQ(r.samples.back().own, 1);
  EXPECT_EQ(r.pools[0].outstanding, 1);  // its reads left the shared transaction open
  expect_nothing_left(r);
}

TEST(PatternsOnServer, ScopedReturnsEverythingAndOverflowCloses) {
  const auto r = run_json(one_process(
      R"j({"pattern": "scoped", "count": 6, "think_time": "5ms", "query": "SELECT pg_sleep(0.01)"})j",
      R"({"pool_size": 2, "max_overflow": 4})"));
  int peak = 0;
  for (const auto& s : r.samples) {
    peak = std::max(peak, s.own);
  }
  EXPECT_LE(peak, 6);
  const auto& stats = r.pools[0].stats;
  // Every checkout came back: by the application, or, for the units the
  // run's end caught (at most one a worker), by the clean-up.
  EXPECT_EQ(stats.checkins + stats.checkins_by_cleanup, stats.checkouts);
  EXPECT_LE(stats.checkins_by_cleanup, 6u);
  EXPECT_GT(stats.checkouts, 20u);
  EXPECT_GT(stats.overflow_closed, 0u);  // bursts above pool_size were closed on return
  EXPECT_EQ(r.pool_timeouts, 0u);
  expect_nothing_left(r);
}

TEST(PatternsOnServer, PoolTimeoutsAreRecordedWithTheMessage) {
  const auto r = run_json(
      one_process(R"j({"pattern": "scoped", "count": 4, "query": "SELECT pg_sleep(0.2)"})j",
                  R"({"pool_size": 1, "max_overflow": 0, "pool_timeout": "50ms"})"));
  ASSERT_GT(r.pool_timeouts, 0u);
  bool found = false;
  for (const auto& e : r.events) {
    if (e.kind == record::kPoolTimeout) {
      found = true;
      EXPECT_EQ(e.message,
                "QueuePool limit of size 1 overflow 0 reached, connection timed out, timeout 0.05");
      EXPECT_EQ(e.process, "p");
      EXPECT_EQ(e.pattern, "scoped");
      ASSERT_TRUE(e.waited_ms);
      EXPECT_GE(*e.waited_ms, 50.0);
    }
  }
  EXPECT_TRUE(found);
  const auto sc = scenario::parse(one_process(R"j({"pattern": "scoped"})j"), "x.json",
                                  workload::PatternRegistry::builtin().catalog());
  const auto summary = analysis::summarize(r, sc);
  const auto verdict = analysis::judge(summary, r, sc);
  EXPECT_FALSE(verdict.pass);
  EXPECT_EQ(verdict.diagnosis, analysis::Diagnosis::kUndersized);
  expect_nothing_left(r);
}

}  // namespace
}  // namespace pgleak::run

namespace pgleak::run {
namespace {

uint64_t errors(const record::RunResult& r, const std::string& sqlstate) {
  return r.errors_by_sqlstate.contains(sqlstate) ? r.errors_by_sqlstate.at(sqlstate) : 0;
}

TEST(PatternsOnServer, LeakOnErrorKeepsFailedSessionsAborted) {
  const auto r = run_json(one_process(
      R"({"pattern": "leak_on_error", "iterations": 3, "options": {"error_rate": 1.0}})",
      R"({"pool_size": 5, "max_overflow": 0})"));
  EXPECT_EQ(errors(r, "22012"), 3u);  // division by zero: the app's exception
  EXPECT_EQ(final_state(r, "idle in transaction (aborted)"), 3);
  EXPECT_EQ(r.pools[0].outstanding, 3);
  expect_nothing_left(r);
}

TEST(PatternsOnServer, LeakOnErrorWithoutErrorsReturnsEverything) {
  const auto r = run_json(one_process(
      R"({"pattern": "leak_on_error", "iterations": 5, "options": {"error_rate": 0.0}})"));
  EXPECT_TRUE(r.errors_by_sqlstate.empty());
  EXPECT_EQ(r.pools[0].outstanding, 0);
  EXPECT_EQ(r.pools[0].stats.checkins, 5u);
  expect_nothing_left(r);
}

TEST(PatternsOnServer, IdleInTransactionIsEndedByTheServerAndReconnects) {
  const auto r =
      run_json(one_process(R"({"pattern": "idle_in_transaction", "think_time": "300ms"})",
                           R"({"connect": {"idle_in_transaction_session_timeout": "100ms"}})"));
  // The session sat idle in transaction, then the server ended it (25P03); the
  // client saw it on next use as psycopg2 does: a lost connection, no SQLSTATE.
  int max_idle_in_tx = 0;
  for (const auto& s : r.samples) {
    max_idle_in_tx = std::max(max_idle_in_tx, s.by_state.contains("idle in transaction")
                                                  ? s.by_state.at("idle in transaction")
                                                  : 0);
  }
  EXPECT_EQ(max_idle_in_tx, 1);
  EXPECT_GE(r.connections_lost, 2u);
  EXPECT_EQ(errors(r, "25P03"), 0u) << "no SQLSTATE is invented for a lost connection";
  for (const auto& e : r.events) {
    if (e.kind == record::kConnectionLost) {
      EXPECT_TRUE(e.sqlstate.empty());
      EXPECT_NE(e.message.find("server closed the connection unexpectedly"), std::string::npos)
          << e.message;
    }
  }
  EXPECT_GE(r.pools[0].stats.connects, 3u);  // a new connection after each loss
  expect_nothing_left(r);
}

TEST(PatternsOnServer, IdleInTransactionKeepFailingStaysBroken) {
  const auto r = run_json(one_process(
      R"({"pattern": "idle_in_transaction", "think_time": "300ms",
          "options": {"on_disconnect": "keep_failing"}})",
      R"({"connect": {"idle_in_transaction_session_timeout": "100ms"}})"));
  EXPECT_EQ(r.pools[0].stats.connects, 1u);  // never replaced
  // Every later use fails as SQLAlchemy refuses it, with no SQLSTATE.
  const auto pending = std::count_if(r.events.begin(), r.events.end(), [](const record::Event& e) {
    return e.kind == record::kQueryError && e.sqlstate.empty() &&
           e.message == "Can't reconnect until invalid transaction is rolled back.";
  });
  EXPECT_GE(pending, 1);
  expect_nothing_left(r);
}

TEST(PatternsOnServer, SlowStatementIsCancelledWith57014Then25P02) {
  const auto r = run_json(one_process(
      R"({"pattern": "slow_statement", "iterations": 2,
          "options": {"sleep": "5s", "statement_after_error": true}})",
      R"({"connect": {"statement_timeout": "100ms"}})"));
  EXPECT_EQ(errors(r, "57014"), 2u);
  EXPECT_EQ(errors(r, "25P02"), 2u);
  EXPECT_EQ(r.pools[0].stats.checkins, 2u);  // rolled back and returned
  expect_nothing_left(r);
}

TEST(PatternsOnServer, ConnectionPerTaskBypassesThePool) {
  auto& env = PgEnvironment::get();
  const std::string sessions_sql =
      "SELECT sessions::int FROM pg_stat_database WHERE datname = 'postgres'";
  const int sessions_before = env.admin_int(sessions_sql);
  const auto r = run_json(one_process(
      R"({"pattern": "connection_per_task", "count": 2, "iterations": 10})", "{}", "3s"));
  EXPECT_TRUE(r.errors_by_sqlstate.empty());
  // The server saw a session per unit of work: 2 workers x 10 units (plus the
  // run's own sampler, admin and probe sessions). Session counts are published
  // as backends exit, so wait (bounded) until they show.
  int opened = 0;
  for (int i = 0; i < 200 && opened < 20; ++i) {
    opened = env.admin_int(sessions_sql) - sessions_before;
    if (opened < 20) {
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
  }
  EXPECT_GE(opened, 20);
  EXPECT_EQ(r.pools[0].stats.checkouts, 0u);
  EXPECT_EQ(r.samples.back().own, 0);  // nothing held between units
  expect_nothing_left(r);
}

}  // namespace
}  // namespace pgleak::run

namespace pgleak::run {
namespace {

std::string fault_scenario(bool pre_ping) {
  // Units of about a millisecond every 400 ms: the fault at 700 ms finds the
  // connections in the pool, between units, which is where pre-ping acts.
  // The 1.8 s after it leave room for units on new connections on a busy
  // machine (at 1.5 s, an ASan run on 2 loaded cores once ended first).
  return std::string{R"({"name": "f", "duration": "2500ms", "sample_interval": "100ms",
    "pool": {"pool_size": 2, "max_overflow": 0, "pool_pre_ping": )"} +
         (pre_ping ? "true" : "false") + R"(},
    "processes": [{"name": "api", "workers": [{"pattern": "scoped", "count": 2, "think_time": "400ms"}]}],
    "faults": [{"at": "700ms", "action": "terminate_backends", "target": "api"}]})";
}

int fault_events(const record::RunResult& r) {
  return static_cast<int>(
      std::count_if(r.events.begin(), r.events.end(), [](const record::Event& e) {
        return e.kind == record::kFault &&
               e.message.find("terminate_backends on api") != std::string::npos;
      }));
}

uint64_t sum(const record::RunResult& r, uint64_t record::PoolStats::*field) {
  uint64_t total = 0;
  for (const auto& p : r.pools) {
    total += p.stats.*field;
  }
  return total;
}

TEST(FaultsOnServer, PrePingHidesTerminatedBackendsFromTheApp) {
  const auto r = run_json(fault_scenario(true));
  EXPECT_EQ(fault_events(r), 1);
  // Pre-ping replaced the dead connections before the app used them. A unit
  // that happened to be in flight at the fault (a 1 ms window in 400) would
  // fail whatever the pool does: at most one per worker.
  uint64_t seen = 0;
  for (const auto& [state, n] : r.errors_by_sqlstate) {
    seen += n;
  }
  EXPECT_LE(seen, 2u) << "the app saw errors despite pre_ping";
  EXPECT_GE(sum(r, &record::PoolStats::pre_ping_failures), 1u);
  // Every checkout of a pooled connection pinged it; most pings found it alive.
  EXPECT_GT(sum(r, &record::PoolStats::pre_pings), sum(r, &record::PoolStats::pre_ping_failures));
  EXPECT_GE(sum(r, &record::PoolStats::connects), 3u);  // replaced after the fault
  expect_nothing_left(r);
}

TEST(FaultsOnServer, WithoutPrePingTheFirstUseFailsThenThePoolRecovers) {
  const auto r = run_json(fault_scenario(false));
  EXPECT_EQ(fault_events(r), 1);
  EXPECT_GE(r.connections_lost, 1u);  // as psycopg2 reports a terminated backend: no SQLSTATE
  EXPECT_EQ(sum(r, &record::PoolStats::pre_ping_failures), 0u);
  EXPECT_GE(sum(r, &record::PoolStats::connects), 3u);
  // After the failures, units of work succeed again on new connections.
  EXPECT_GE(sum(r, &record::PoolStats::checkouts), 6u);
  expect_nothing_left(r);
}

TEST(FaultsOnServer, RestartServerIsSurvivedWithPrePing) {
  // restart_server needs the embedded server: this run starts its own.
  const auto sc =
      scenario::parse(R"({"name": "restart", "duration": "3s", "sample_interval": "100ms",
    "pool": {"pool_size": 2, "max_overflow": 0, "pool_pre_ping": true},
    "processes": [{"name": "api", "workers": [{"pattern": "scoped", "count": 2, "think_time": "50ms"}]}],
    "faults": [{"at": "500ms", "action": "restart_server"}]})",
                      "inline.json", workload::PatternRegistry::builtin().catalog());
  const auto r = run_scenario(sc, {});
  EXPECT_EQ(r.status, record::RunStatus::kCompleted) << r.status_detail;
  bool restarted = false;
  for (const auto& e : r.events) {
    restarted = restarted ||
                (e.kind == record::kFault && e.message.find("restart done") != std::string::npos);
  }
  EXPECT_TRUE(restarted);
  EXPECT_GE(sum(r, &record::PoolStats::pre_ping_failures), 1u);
  // The last samples show the workers back on the restarted server.
  EXPECT_GT(r.samples.back().own, 0);
}

TEST(FaultsOnServer, RestartServerIsRefusedWithAnExternalTarget) {
  const auto sc = scenario::parse(R"({"name": "restart", "duration": "1s",
    "processes": [{"name": "api", "workers": [{"pattern": "scoped"}]}],
    "faults": [{"at": "500ms", "action": "restart_server"}]})",
                                  "inline.json", workload::PatternRegistry::builtin().catalog());
  RunOptions options;
  options.dsn = PgEnvironment::get().app().to_libpq();
  EXPECT_THROW(run_scenario(sc, options), util::UsageError);
}

}  // namespace
}  // namespace pgleak::run

namespace pgleak::run {
namespace {

int own_of(const record::Sample& s, const std::string& process) {
  int n = 0;
  for (const auto& [app, count] : s.by_application) {
    if (app.find("/" + process + ".") != std::string::npos) {
      n += count;
    }
  }
  return n;
}

// The scenario's clock starts once the sampler is ready. On the embedded
// server the sampler's start waits for the set-up sessions to leave; were the
// clock running, the arrivals due in that wait would fire as one burst, most
// of them dropped. Four workers take 20 quick units a second with ease.
TEST(LoadModels, AnOpenModelOnAnIdleEmbeddedServerDropsNothing) {
  RunOptions options;  // no DSN: pgleak's own throwaway server
  const auto r =
      run_scenario(parse_inline(R"({"name": "idle", "duration": "1s", "sample_interval": "100ms",
        "processes": [{"name": "api", "workers": [{"pattern": "scoped", "count": 4,
                                                   "arrival_rate": "20/s"}]}]})"),
                   options);
  ASSERT_TRUE(r.target.embedded);
  ASSERT_EQ(r.loads.size(), 1u);
  EXPECT_EQ(r.loads[0].dropped, 0u);
  EXPECT_GE(r.loads[0].arrivals, 19u);
  EXPECT_LE(r.loads[0].arrivals, 21u);
}

TEST(LoadModels, OpenModelCountsDroppedArrivalsRampsAndLateStarts) {
  const auto r = run_json(R"j({"name": "load", "duration": "3s", "sample_interval": "100ms",
   "processes": [
     {"name": "api", "pool": {"pool_size": 4, "max_overflow": 0},
      "workers": [{"name": "req", "pattern": "scoped", "count": 4, "arrival_rate": "50/s",
                   "query": "SELECT pg_sleep(0.05)",
                   "stages": [{"duration": "1s", "rate": "50/s"}, {"duration": "1s", "rate": "200/s"}]}]},
     {"name": "late", "workers": [{"name": "obj", "pattern": "held_by_object", "count": 3,
                                   "start_after": "1500ms", "think_time": "100ms"}]},
     {"name": "ramp", "workers": [{"name": "obj", "pattern": "held_by_object", "count": 4,
                                   "think_time": "100ms", "stages": [{"duration": "2s", "target": 4}]}]}]})j");
  // Open model: 50 in the first second, 125 while ramping to 200/s, then 200 a
  // second; four workers of 50 ms each cannot keep up, and what they could not
  // take is counted as dropped, never queued.
  const auto& open = r.loads[0];
  ASSERT_TRUE(open.open_model);
  EXPECT_GE(open.arrivals, 370u);
  EXPECT_LE(open.arrivals, 376u);
  EXPECT_GT(open.dropped, 100u);
  // Every arrival was either taken or dropped (at most one per worker may be
  // in hand, not yet picked up, when the run stops).
  EXPECT_LE(open.start_delays->count() + open.dropped, open.arrivals);
  EXPECT_GE(open.start_delays->count() + open.dropped + 4, open.arrivals);
  for (const auto& s : r.samples) {
    // start_after: nothing of "late" before 1.5 s.
    if (s.t_s < 1.4) {
      EXPECT_EQ(own_of(s, "late"), 0) << s.t_s;
    }
    // The ramp: never more holders than the count reached at that moment.
    EXPECT_LE(own_of(s, "ramp"), static_cast<int>(4 * std::min(1.0, s.t_s / 2.0))) << s.t_s;
  }
  EXPECT_EQ(own_of(r.samples.back(), "late"), 3);
  EXPECT_EQ(own_of(r.samples.back(), "ramp"), 4);
  expect_nothing_left(r);
}

}  // namespace
}  // namespace pgleak::run

namespace pgleak::run {
namespace {

// On the embedded server both sides are visible: what the client saw and what
// the server logged, for statement_timeout; and pool_recycle at work.
TEST(TimeoutsOnEmbeddedServer, StatementTimeoutBothSidesAndRecycleOnlyAtCheckout) {
  const auto sc = scenario::parse(R"({"name": "timeouts", "duration": "30m", "time_scale": 0.001,
    "sample_interval": "100ms",
    "pool": {"pool_recycle": "300s", "connect": {"statement_timeout": "30s"}},
    "processes": [
      {"name": "report", "workers": [{"pattern": "slow_statement", "iterations": 2,
                                      "options": {"sleep": "60s"}}]},
      {"name": "api", "workers": [{"pattern": "scoped", "think_time": "100s"}]},
      {"name": "holder", "workers": [{"pattern": "held_by_object", "think_time": "100s"}]}]})",
                                  "inline.json", workload::PatternRegistry::builtin().catalog());
  const auto r = run_scenario(sc, {});
  ASSERT_EQ(r.status, record::RunStatus::kCompleted);
  EXPECT_TRUE(r.server_log_available);
  // 30 s x 0.001 = 30 ms against 60 ms statements: cancelled, seen by both sides.
  EXPECT_EQ(errors(r, "57014"), 2u);
  ASSERT_TRUE(r.server_errors_by_sqlstate.contains("57014"));
  EXPECT_EQ(r.server_errors_by_sqlstate.at("57014"), 2u);
  for (const auto& p : r.pools) {
    if (p.process == "api") {
      // 300 s x 0.001 = 0.3 s recycle, a checkout every 0.1 s for 1.8 s.
      EXPECT_GE(p.stats.recycled, 3u);
      // Each recycle closes and reconnects; a reconnect under way when the run
      // ends is cut short by its stop and counts as a failed connect.
      EXPECT_EQ(p.stats.connects + p.stats.connect_failures, p.stats.recycled + 1);
      EXPECT_LE(p.stats.connect_failures, 1u);
    }
    if (p.process == "holder") {
      // Checked out the whole run, far past the recycle age: never replaced.
      EXPECT_EQ(p.stats.recycled, 0u);
      EXPECT_EQ(p.stats.connects, 1u);
    }
  }
}

}  // namespace
}  // namespace pgleak::run

namespace pgleak::run {
namespace {

// `holders` workers each keep one session for the run. They all connect at
// once, and PostgreSQL refuses a storm of connects beyond what its limits
// imply: a backend that will be refused holds its slot while it is checked
// (seen here under ASan: 1 of 2 slots taken). So the refused retry, as the
// incident's services did, with pgleak's jittered backoff, and the peak is
// the limit's.
record::RunResult run_embedded(const std::string& server, int holders) {
  const auto sc = scenario::parse(
      R"({"name": "roles", "duration": "2s", "sample_interval": "100ms", "server": )" + server +
          R"(, "processes": [{"name": "app", "workers": [{"pattern": "held_by_object", "count": )" +
          std::to_string(holders) + R"(, "think_time": "20ms"}]}]})",
      "inline.json", workload::PatternRegistry::builtin().catalog());
  return run_scenario(sc, {});
}

bool refused_with(const record::RunResult& r, const std::string& text) {
  return std::any_of(r.events.begin(), r.events.end(), [&](const record::Event& e) {
    return e.kind == record::kConnectError && e.sqlstate == "53300" && e.code_source == "pgleak" &&
           e.message.find(text) != std::string::npos;
  });
}

// An application that logs in as a superuser may take the reserved slots
// too: 6 slots, one of them the sampler's, give it 5 (an ordinary role gets 2).
TEST(RolesOnEmbeddedServer, ASuperuserApplicationTakesTheReservedSlots) {
  const auto super = run_embedded(
      R"({"max_connections": 6, "superuser_reserved_connections": 3, "role": {"superuser": true}})",
      8);
  EXPECT_TRUE(super.target.app_role_superuser);
  EXPECT_EQ(peak_own(super), 5);
  EXPECT_TRUE(refused_with(super, "sorry, too many clients already"));
  const auto ordinary =
      run_embedded(R"({"max_connections": 6, "superuser_reserved_connections": 3})", 8);
  EXPECT_FALSE(ordinary.target.app_role_superuser);
  EXPECT_EQ(peak_own(ordinary), 2);
  EXPECT_TRUE(refused_with(ordinary, "reserved for"));
}

TEST(RolesOnEmbeddedServer, RoleAndDatabaseConnectionLimitsRefuseWith53300) {
  const auto role = run_embedded(R"({"max_connections": 20, "role": {"connection_limit": 2}})", 5);
  EXPECT_EQ(peak_own(role), 2);
  EXPECT_TRUE(refused_with(role, "too many connections for role \"pgleak_app\""));
  const auto database =
      run_embedded(R"({"max_connections": 20, "database": {"connection_limit": 3}})", 5);
  // The database's limit counts every session in it, pgleak's sampler too.
  EXPECT_EQ(peak_own(database), 2);
  EXPECT_TRUE(refused_with(database, "too many connections for database \"postgres\""));
}

}  // namespace
}  // namespace pgleak::run

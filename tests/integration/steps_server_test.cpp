// Steps, late releases, engine.dispose() and process lifecycles through the
// real runner against a real server: each built-in pattern beside its steps
// twin, and each way a session or a process lets go of its connections.
#include <gtest/gtest.h>

#include <algorithm>

#include "pg_environment.hpp"
#include "run/runner.hpp"
#include "run_helpers.hpp"
#include "scenario/loader.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::run {
namespace {

using testing::PgEnvironment;

// On pgleak's own embedded server, whose log it reads.
record::RunResult run_embedded(const std::string& text) {
  return run_scenario(parse_inline(text), RunOptions{});
}

std::string scenario_with(const std::string& workers, const std::string& pool = "{}",
                          const std::string& duration = "1500ms",
                          const std::string& process_extra = "") {
  return R"({"name": "t", "duration": ")" + duration +
         R"(", "sample_interval": "100ms", "processes": [{"name": "p", "pool": )" + pool + ", " +
         process_extra + R"("workers": [)" + workers + "]}]}";
}

size_t count_events(const record::RunResult& r, const std::string& kind) {
  return static_cast<size_t>(std::count_if(r.events.begin(), r.events.end(),
                                           [&](const record::Event& e) { return e.kind == kind; }));
}

void expect_nothing_left(const record::RunResult& r) {
  EXPECT_EQ(r.leftover_backends_terminated, 0);
}

// --- each built-in pattern and its documented twin find the same picture ----

struct Twin {
  std::string pattern;
  std::string group;  // count, iterations, think_time; options for the built-in
  std::string options;
  std::string pool = "{}";
  // Replaces a default of the twin (its options are the built-in's defaults).
  std::pair<std::string, std::string> twin_edit;
};

Twin twin_of(std::string pattern, std::string group, std::string options = "{}",
             std::string pool = "{}", std::pair<std::string, std::string> edit = {}) {
  return {std::move(pattern), std::move(group), std::move(options), std::move(pool),
          std::move(edit)};
}

class StepsTwins : public ::testing::TestWithParam<Twin> {};

TEST_P(StepsTwins, GiveTheServerPictureOfTheirBuiltIn) {
  const auto& t = GetParam();
  const auto* info = workload::PatternRegistry::builtin().find(t.pattern);
  ASSERT_NE(info, nullptr);
  std::string twin = info->twin;
  if (!t.twin_edit.first.empty()) {
    const auto at = twin.find(t.twin_edit.first);
    ASSERT_NE(at, std::string::npos) << twin;
    twin.replace(at, t.twin_edit.first.size(), t.twin_edit.second);
  }
  auto pool = t.pool;
  if (info->twin_null_pool) {
    pool = R"({"poolclass": "NullPool"})";
  }
  const auto builtin = run_json(scenario_with(
      R"({"pattern": ")" + t.pattern + R"(", )" + t.group + R"(, "options": )" + t.options + "}",
      t.pool, "1200ms"));
  const auto steps =
      run_json(scenario_with(R"({"steps": )" + twin + ", " + t.group + "}", pool, "1200ms"));
  ASSERT_FALSE(builtin.samples.empty());
  ASSERT_FALSE(steps.samples.empty());
  // Every state but plain idle, whose count is how many connections a pool
  // happened to open at once and keeps.
  auto held = [](const record::RunResult& r) {
    auto states = r.samples.back().by_state;
    states.erase("idle");
    return states;
  };
  EXPECT_EQ(held(steps), held(builtin)) << t.pattern;
  // Counts, not peaks: a sample may or may not catch a connection that lives
  // for one unit of work. NullPool's checkouts are connections of their own.
  if (!info->twin_null_pool) {
    EXPECT_EQ(steps.pools[0].stats.checkouts, builtin.pools[0].stats.checkouts) << t.pattern;
  }
  EXPECT_EQ(steps.pools[0].outstanding, builtin.pools[0].outstanding) << t.pattern;
  EXPECT_EQ(steps.errors_by_sqlstate, builtin.errors_by_sqlstate) << t.pattern;
  // A pool opens as many connections as the workers happened to need at
  // once; without a pool, one per unit of work.
  if (info->twin_null_pool) {
    EXPECT_EQ(steps.connect_attempts, builtin.connect_attempts) << t.pattern;
  }
  EXPECT_EQ(steps.pool_timeouts, builtin.pool_timeouts) << t.pattern;
  expect_nothing_left(builtin);
  expect_nothing_left(steps);
}

INSTANTIATE_TEST_SUITE_P(
    EveryPattern, StepsTwins,
    ::testing::Values(
        twin_of("scoped", R"("count": 3, "iterations": 2, "think_time": "20ms")"),
        twin_of("held_by_object", R"("count": 3, "iterations": 2, "think_time": "20ms")"),
        twin_of("outside_loop", R"("count": 3, "iterations": 2, "think_time": "20ms")"),
        twin_of("global_session", R"("count": 3, "iterations": 2, "think_time": "20ms")"),
        twin_of("leak_on_error", R"("count": 2, "iterations": 2, "think_time": "20ms")",
                R"({"error_rate": 1})", "{}", {R"("probability": 0.1)", R"("probability": 1)"}),
        twin_of("idle_in_transaction", R"("count": 2, "iterations": 2, "think_time": "20ms")"),
        twin_of("slow_statement", R"("count": 2, "iterations": 1)", "{}",
                R"({"connect": {"statement_timeout": "100ms"}})"),
        twin_of("connection_per_task", R"("count": 2, "iterations": 2, "think_time": "20ms")")),
    [](const auto& p) { return p.param.pattern; });

// --- a leaked session let go later -------------------------------------------

// a = SessionLocal(); b = SessionLocal(): each session checks out its own
// connection, so one worker holds two.
TEST(Steps, AWorkerMayHoldSeveralSessions) {
  const auto r = run_json(scenario_with(
      R"({"count": 2, "iterations": 1, "steps": [{"open": "a"}, {"open": "b"},
          {"execute": "a"}, {"execute": "b"}, {"sleep": "process_end"}]})"));
  EXPECT_EQ(final_state(r, "idle in transaction"), 4);
  EXPECT_EQ(r.pools[0].outstanding, 4);
  expect_nothing_left(r);
}

// A transaction held idle for a set time, then committed: idle in
// transaction until then, and the connection is back in the pool after.
TEST(Steps, HoldIdleInTransactionThenCommit) {
  const auto r = run_json(scenario_with(
      R"({"count": 2, "iterations": 1, "steps": [{"open": "db"}, {"execute": "db"},
          {"sleep": "500ms"}, {"commit": "db"}, {"sleep": "process_end"}]})"));
  bool held = false;
  for (const auto& s : r.samples) {
    held = held || (s.by_state.contains("idle in transaction") &&
                    s.by_state.at("idle in transaction") == 2);
  }
  EXPECT_TRUE(held);
  EXPECT_EQ(final_state(r, "idle in transaction"), 0);
  EXPECT_EQ(r.pools[0].outstanding, 0);
  EXPECT_EQ(r.pools[0].stats.checkins, 2u);
  EXPECT_EQ(r.pools[0].stats.checkins_by_cleanup, 0u);
  expect_nothing_left(r);
}

// An error inside try runs except and finally; without except it ends the
// unit of work, and the next unit starts.
TEST(Steps, ErrorsAreHandledAsPythonHandlesThem) {
  const auto r = run_json(scenario_with(
      R"({"name": "handled", "count": 1, "iterations": 3, "steps": [{"open": "db"},
          {"loop": [{"try": [{"execute": "db", "sql": "SELECT 1/0"}, {"commit": "db"}],
                     "except": [{"rollback": "db"}], "finally": [{"close": "db"}]}]}]},
         {"name": "unhandled", "count": 1, "iterations": 3, "steps": [{"open": "db"},
          {"loop": [{"raise": "job failed"}, {"execute": "db"}]}, {"sleep": "process_end"}]})"));
  ASSERT_TRUE(r.errors_by_sqlstate.contains("22012"));
  EXPECT_EQ(r.errors_by_sqlstate.at("22012"), 3u);  // each unit ran again after the error
  size_t app_errors = 0;
  for (const auto& e : r.events) {
    if (e.kind == record::kApplicationError) {
      ++app_errors;
      EXPECT_EQ(e.message, "job failed");
    }
  }
  EXPECT_EQ(app_errors, 3u);
  // The raise came before the execute: the unhandled worker never checked out.
  EXPECT_EQ(r.pools[0].stats.checkouts, 3u);
  EXPECT_EQ(r.pools[0].outstanding, 0);
  expect_nothing_left(r);
}

// A session closed late (by someone else, 1 s on) holds its connection idle
// in transaction until then, and nothing after: the pool keeps it idle.
TEST(LateRelease, ALateCloseGivesTheConnectionBackThen) {
  const auto r = run_json(scenario_with(
      R"({"count": 2, "iterations": 1, "steps": [{"open": "db"}, {"execute": "db"},
          {"close": "db", "after": "1s"}, {"sleep": "process_end"}]})",
      "{}", "2s"));
  ASSERT_GE(r.samples.size(), 3u);
  EXPECT_EQ(peak_own(r), 2);
  int held_early = 0;
  for (const auto& s : r.samples) {
    if (s.t_s < 0.8 && s.by_state.contains("idle in transaction")) {
      held_early = std::max(held_early, s.by_state.at("idle in transaction"));
    }
  }
  EXPECT_EQ(held_early, 2);  // before the close was due
  EXPECT_EQ(final_state(r, "idle in transaction"), 0);
  EXPECT_EQ(final_state(r, "idle"), 2);  // back in the pool
  EXPECT_EQ(r.pools[0].outstanding, 0);
  EXPECT_EQ(r.pools[0].stats.checkins_by_cleanup, 0u);
  expect_nothing_left(r);
}

// A session in a reference cycle, collected 600 ms after it was dropped,
// gives its connection back then, rolled back; dropped with no transaction
// open, at once (reference counting). In SQLAlchemy 1.4 it is the pool's
// weakref callback on the connection (_finalize_fairy) that checks it in
// when the collector frees the session.
TEST(LateRelease, ACollectedSessionGivesItsConnectionBack) {
  const auto r = run_json(scenario_with(
      R"({"name": "cycle", "count": 2, "iterations": 1, "steps": [{"open": "db"},
          {"execute": "db"}, {"drop": "db", "after": "600ms"}, {"sleep": "process_end"}]},
         {"name": "refcount", "count": 1, "iterations": 1, "steps": [{"open": "db"},
          {"execute": "db"}, {"commit": "db"}, {"drop": "db"}, {"sleep": "process_end"}]})"));
  EXPECT_EQ(final_state(r, "idle in transaction"), 0);
  EXPECT_EQ(r.pools[0].outstanding, 0);
  EXPECT_EQ(r.pools[0].stats.checkins, 3u);
  EXPECT_EQ(r.pools[0].stats.checkins_by_cleanup, 0u);
  expect_nothing_left(r);
}

// The most and the fewest backends idle in transaction that the samples
// taken between `from` and `to` seconds saw (least is 999 when none was).
struct Held {
  int most = 0;
  int least = 999;
};
Held idle_in_transaction(const record::RunResult& r, double from, double to) {
  Held h;
  for (const auto& s : r.samples) {
    if (s.t_s > from && s.t_s < to) {
      const auto it = s.by_state.find("idle in transaction");
      const int n = it == s.by_state.end() ? 0 : it->second;
      h.most = std::max(h.most, n);
      h.least = std::min(h.least, n);
    }
  }
  return h;
}

// SQLAlchemy 1.4 on CPython: `del db` (or `db = SessionLocal()` again) with a
// transaction open leaves the Session in a reference cycle, so its connection
// stays checked out, idle in transaction, until the collector runs: never on
// its own with "gc": "never", until gc.collect() ({"collect": true}).
TEST(GarbageCollector, ADroppedTransactionWaitsForACollection) {
  const auto r = run_json(scenario_with(
      R"({"name": "dropper", "count": 2, "iterations": 1, "steps": [{"open": "db"},
          {"execute": "db"}, {"drop": "db"}, {"open": "db"}, {"execute": "db"},
          {"open": "db"}, {"sleep": "process_end"}]},
         {"name": "collector", "count": 1, "iterations": 1, "start_after": "900ms",
          "steps": [{"collect": true}]})",
      "{}", "1500ms", R"("gc": "never", )"));
  // Two dropped, two rebound, each with its transaction; gc.collect() frees all four.
  EXPECT_EQ(idle_in_transaction(r, 0.3, 0.8).most, 4);
  EXPECT_EQ(idle_in_transaction(r, 1.2, 99).least, 0);
  EXPECT_EQ(r.pools[0].stats.checkins, 4u);
  EXPECT_EQ(r.pools[0].stats.checkins_by_cleanup, 0u);
  expect_nothing_left(r);
}

// The automatic collector, every 600 ms from the process's start: the
// transactions dropped at once are held until the first run, then freed.
TEST(GarbageCollector, AutomaticCollectionsFreeDroppedTransactions) {
  const auto r = run_json(scenario_with(
      R"({"count": 2, "iterations": 1, "steps": [{"open": "db"}, {"execute": "db"},
          {"drop": "db"}, {"sleep": "process_end"}]})",
      "{}", "1500ms", R"("gc": "600ms", )"));
  EXPECT_EQ(idle_in_transaction(r, 0.2, 0.5).most, 2);  // before the first automatic run
  EXPECT_EQ(idle_in_transaction(r, 0.9, 99).least, 0);
  EXPECT_EQ(final_state(r, "idle in transaction"), 0);
  EXPECT_EQ(r.pools[0].stats.checkins, 2u);
  EXPECT_EQ(r.pools[0].stats.checkins_by_cleanup, 0u);
  expect_nothing_left(r);
}

// Kept sessions hold until the process ends; the run's clean-up returns them.
TEST(LateRelease, AKeptSessionHoldsUntilTheProcessEnds) {
  const auto r = run_json(scenario_with(
      R"({"count": 2, "iterations": 1, "steps": [{"open": "db"}, {"execute": "db"},
          {"keep": "db"}, {"open": "db"}]})"));
  EXPECT_EQ(final_state(r, "idle in transaction"), 2);
  EXPECT_EQ(r.pools[0].outstanding, 2);
  EXPECT_EQ(r.pools[0].stats.checkins_by_cleanup, 2u);
  expect_nothing_left(r);
}

// Engine.dispose() while three sessions leak: the new pool has a fresh
// budget, so three more sessions fit beside them (pool 2 + overflow 1 each),
// as SQLAlchemy 1.4.46 does (tests/unit/queue_pool_test.cpp has the figures).
TEST(EngineDispose, ANewPoolBesideTheLeakedConnections) {
  const auto r = run_json(scenario_with(
      R"({"name": "leak", "count": 3, "iterations": 1, "steps": [{"open": "db"},
          {"execute": "db"}, {"sleep": "process_end"}]},
         {"name": "disposer", "count": 1, "iterations": 1, "start_after": "500ms",
          "steps": [{"dispose": true}]},
         {"name": "after", "count": 3, "iterations": 1, "start_after": "1s",
          "steps": [{"open": "db"}, {"execute": "db"}, {"sleep": "process_end"}]})",
      R"({"pool_size": 2, "max_overflow": 1, "pool_timeout": "300ms"})", "2s"));
  EXPECT_EQ(r.samples.back().own, 6);
  EXPECT_EQ(r.pools[0].outstanding, 6);
  EXPECT_EQ(r.pool_timeouts, 0u);
  EXPECT_EQ(r.pools[0].stats.disposals, 1u);
  EXPECT_EQ(count_events(r, record::kEngineDispose), 1u);
  expect_nothing_left(r);
}

// Without the dispose the same three late sessions wait and time out.
TEST(EngineDispose, WithoutItTheLateSessionsTimeOut) {
  const auto r = run_json(scenario_with(
      R"({"name": "leak", "count": 3, "iterations": 1, "steps": [{"open": "db"},
          {"execute": "db"}, {"sleep": "process_end"}]},
         {"name": "after", "count": 3, "iterations": 1, "start_after": "1s",
          "steps": [{"open": "db"}, {"execute": "db"}, {"sleep": "process_end"}]})",
      R"({"pool_size": 2, "max_overflow": 1, "pool_timeout": "300ms"})", "2s"));
  EXPECT_EQ(peak_own(r), 3);
  EXPECT_EQ(r.pool_timeouts, 3u);
  expect_nothing_left(r);
}

// --- processes that end and come back -----------------------------------------

// A crash with open transactions: PostgreSQL 15 logs "unexpected EOF on
// client connection with an open transaction" (08006) for each, the process
// reports nothing of its own end, and after restart_after it opens its
// connections again.
TEST(Lifecycle, ACrashIsSeenByTheServerAndTheRestartReconnects) {
  const auto r = run_embedded(
      scenario_with(R"({"pattern": "held_by_object", "count": 2, "think_time": "50ms"})",
                    R"({"pool_size": 2, "max_overflow": 0})", "2500ms",
                    R"("lifecycle": {"end": "crash", "at": "1s", "restart_after": "600ms"}, )"));
  EXPECT_EQ(count_events(r, record::kProcessCrash), 1u);
  EXPECT_EQ(count_events(r, record::kProcessStart), 1u);
  ASSERT_TRUE(r.server_errors_by_sqlstate.contains("08006"));
  EXPECT_EQ(r.server_errors_by_sqlstate.at("08006"), 2u);
  EXPECT_EQ(r.connections_lost, 0u);  // a killed process reports nothing
  // Gone between the crash and the restart, back after it.
  bool gap = false;
  for (const auto& s : r.samples) {
    gap = gap || (s.t_s > 1.0 && s.own == 0);
  }
  EXPECT_TRUE(gap);
  EXPECT_EQ(r.samples.back().own, 2);
  EXPECT_EQ(r.pools[0].stats.connects, 4u);
  expect_nothing_left(r);
}

// Ended after its units of work and restarted: each life starts its workers
// anew, so each life ends after the same number of units.
TEST(Lifecycle, AnExitAfterUnitsThenARestartRepeats) {
  const auto r = run_json(scenario_with(
      R"({"pattern": "scoped", "count": 1, "think_time": "50ms"})", "{}", "1500ms",
      R"("lifecycle": {"end": "exit", "after_units": 4, "restart_after": "100ms"}, )"));
  const auto exits = count_events(r, record::kProcessExit);
  EXPECT_GE(exits, 2u);
  EXPECT_LE(exits, 6u);
  const auto starts = count_events(r, record::kProcessStart);
  EXPECT_TRUE(starts == exits || starts + 1 == exits) << starts << " " << exits;
  // 4 units per life; the life ends as its 4th unit starts, which may be cut
  // short before its checkout.
  EXPECT_GE(r.pools[0].stats.checkouts, 3 * exits);
  EXPECT_LE(r.pools[0].stats.checkouts, 4 * (exits + 1));
  expect_nothing_left(r);
}

// A clean exit after a number of units: the connections say goodbye (no
// "unexpected EOF"), and without restart_after the process stays gone.
TEST(Lifecycle, ACleanExitAfterUnitsOfWork) {
  const auto r = run_embedded(
      scenario_with(R"({"pattern": "held_by_object", "count": 2, "think_time": "20ms"})", "{}",
                    "2s", R"("lifecycle": {"end": "exit", "after_units": 10}, )"));
  EXPECT_EQ(count_events(r, record::kProcessExit), 1u);
  EXPECT_EQ(count_events(r, record::kProcessStart), 0u);
  EXPECT_FALSE(r.server_errors_by_sqlstate.contains("08006"));
  EXPECT_EQ(r.samples.back().own, 0);
  EXPECT_EQ(r.pools[0].stats.checkouts, 2u);  // one session each, held across units
  expect_nothing_left(r);
}

}  // namespace
}  // namespace pgleak::run

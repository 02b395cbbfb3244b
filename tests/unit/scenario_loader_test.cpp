#include <gtest/gtest.h>

#include "scenario/loader.hpp"
#include "scenario_problems.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::scenario {
namespace {

using namespace std::chrono_literals;

const char* kMinimal = R"({
  "name": "mini", "duration": "10s",
  "processes": [ { "name": "api", "workers": [ { "pattern": "scoped" } ] } ]
})";

TEST(ScenarioLoader, MinimalScenarioGetsSqlalchemyDefaults) {
  const auto s = parse_ok(kMinimal);
  EXPECT_EQ(s.name, "mini");
  EXPECT_EQ(s.time_scale, 1.0);
  EXPECT_EQ(s.server.max_connections, 100);
  EXPECT_EQ(s.server.superuser_reserved_connections, 3);
  ASSERT_EQ(s.processes.size(), 1u);
  const auto& pool = s.processes[0].pool;
  EXPECT_EQ(pool.pool_size, 5);
  EXPECT_EQ(pool.max_overflow, 10);
  EXPECT_EQ(pool.pool_timeout.applied, 30s);
  EXPECT_FALSE(pool.pool_recycle);
  EXPECT_TRUE(pool.reset_on_return);
  EXPECT_EQ(s.processes[0].workers[0].name, "scoped");
  EXPECT_FALSE(s.processes[0].workers[0].query);
}

TEST(ScenarioLoader, ProcessPoolOverridesOnlyWhatItNames) {
  const auto s = parse_ok(R"({
    "name": "x", "duration": "1m", "time_scale": 0.01,
    "pool": { "pool_size": 3, "max_overflow": 5, "pool_timeout": "10s", "pool_recycle": "900s",
              "pool_pre_ping": true,
              "connect": { "statement_timeout": "30s", "idle_in_transaction_session_timeout": "60s",
                           "application_name": "dispatching_api" } },
    "processes": [ { "name": "a", "pool": { "max_overflow": 0 }, "workers": [ { "pattern": "scoped" } ] },
                   { "name": "b", "workers": [ { "pattern": "scoped" } ] } ]
  })");
  const auto& a = s.processes[0].pool;
  EXPECT_EQ(a.pool_size, 3);
  EXPECT_EQ(a.max_overflow, 0);
  EXPECT_TRUE(a.pool_pre_ping);
  EXPECT_EQ(a.connect.application_name, "dispatching_api");
  EXPECT_EQ(s.processes[1].pool.max_overflow, 5);
  // Every duration is scaled, and keeps its nominal value.
  EXPECT_EQ(a.pool_timeout.nominal, 10s);
  EXPECT_EQ(a.pool_timeout.applied, 100ms);
  EXPECT_EQ(a.pool_recycle->applied, 9s);
  EXPECT_EQ(a.connect.idle_in_transaction_session_timeout->applied, 600ms);
  EXPECT_EQ(s.duration.applied, 600ms);
}

// A connect is the server's real work, which compression cannot shorten:
// connect_timeout is compressed no further than libpq's own minimum, 2 s.
TEST(ScenarioLoader, CompressionStopsConnectTimeoutAtLibpqsMinimum) {
  const auto at = [](const std::string& scale, const std::string& timeout) {
    const auto s =
        parse_ok(R"({"name": "x", "duration": "1m", "time_scale": )" + scale +
                 R"(, "pool": {"connect": {"connect_timeout": ")" + timeout +
                 R"("}}, "processes": [{"name": "a", "workers": [{"pattern": "scoped"}]}]})");
    return *s.processes[0].pool.connect.connect_timeout;
  };
  EXPECT_EQ(at("0.01", "10s").nominal, 10s);
  EXPECT_EQ(at("0.01", "10s").applied, 2s);         // not 100 ms
  EXPECT_EQ(at("0.5", "10s").applied, 5s);          // above the floor: scaled as usual
  EXPECT_EQ(at("0.01", "1500ms").applied, 1500ms);  // written below it: as written
  EXPECT_EQ(at("1", "1500ms").applied, 1500ms);     // uncompressed: untouched
  EXPECT_EQ(at("2", "10s").applied, 20s);
}

TEST(ScenarioLoader, TimeScaleFromCommandLineWins) {
  LoadOptions o;
  o.time_scale = 0.5;
  const auto s = parse_ok(kMinimal, o);
  EXPECT_EQ(s.time_scale, 0.5);
  EXPECT_EQ(s.duration.applied, 5s);
}

TEST(ScenarioLoader, CollectsEveryProblemWithItsPointer) {
  const auto problems = problems_of(R"({
    "name": "bad name!", "duration": "10",
    "colour": "blue",
    "server": { "max_connections": 10, "superuser_reserved_connections": 10 },
    "pool": { "pool_size": -1, "pool_timeout": 5 },
    "processes": [ { "name": "p", "replicas": 0,
                     "pool": { "max_overflow": -2, "connect": { "statment_timeout": "1s" } },
                     "workers": [ { "pattern": "nope" },
                                  { "pattern": "scoped", "iterations": 3, "duration": "1s" },
                                  { "pattern": "held_by_object", "options": { "commit": "yes" } } ] } ]
  })");
  const auto all = dump(problems);
  EXPECT_TRUE(has_problem(problems, "/name", "must start with a letter")) << all;
  EXPECT_TRUE(has_problem(problems, "/duration", "needs a unit")) << all;
  EXPECT_TRUE(has_problem(problems, "/colour", "unknown key")) << all;
  EXPECT_TRUE(has_problem(problems, "/server/superuser_reserved_connections", "less than")) << all;
  EXPECT_TRUE(has_problem(problems, "/pool/pool_size", "must be >= 0")) << all;
  EXPECT_TRUE(has_problem(problems, "/pool/pool_timeout", "duration string")) << all;
  EXPECT_TRUE(has_problem(problems, "/processes/0/replicas", "must be >= 1")) << all;
  EXPECT_TRUE(has_problem(problems, "/processes/0/pool/max_overflow", "must be >= -1")) << all;
  EXPECT_TRUE(has_problem(problems, "/processes/0/pool/connect/statment_timeout", "unknown key"))
      << all;
  EXPECT_TRUE(has_problem(problems, "/processes/0/workers/0/pattern", "unknown pattern")) << all;
  EXPECT_TRUE(has_problem(problems, "/processes/0/workers/1/duration", "not both")) << all;
  EXPECT_TRUE(has_problem(problems, "/processes/0/workers/2/options/commit", "true or false"))
      << all;
  EXPECT_EQ(problems.size(), 12u) << all;
}

TEST(ScenarioLoader, RequiresTheEssentials) {
  const auto problems = problems_of("{}");
  EXPECT_TRUE(has_problem(problems, "/name", "is required"));
  EXPECT_TRUE(has_problem(problems, "/duration", "is required"));
  EXPECT_TRUE(has_problem(problems, "/processes", "non-empty array"));
}

TEST(ScenarioLoader, ReportsJsonSyntaxErrorsWithLineAndColumn) {
  const auto problems = problems_of("{\n  \"name\": \"x\",\n  \"duration\": 10s\n}");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].message.find("line 3"), std::string::npos) << problems[0].message;
}

TEST(ScenarioLoader, RejectsUnknownPatternOptions) {
  const auto problems = problems_of(R"({"name": "x", "duration": "1s", "processes": [
    {"name": "p", "workers": [{"pattern": "outside_loop", "options": {"comit": false}}]}]})");
  EXPECT_TRUE(has_problem(problems, "/processes/0/workers/0/options/comit", "commit"))
      << dump(problems);
}

TEST(ScenarioLoader, RejectsTagsPostgresWouldTruncate) {
  const auto problems = problems_of(R"({"name": "x", "duration": "1s",
    "pool": {"connect": {"application_name": "a_rather_long_application_name"}},
    "processes": [{"name": "a_process_name_of_32_characters_", "replicas": 100,
                   "workers": [{"pattern": "held_by_object"}]}]})");
  EXPECT_TRUE(has_problem(problems, "/processes/0/name", "PostgreSQL keeps 63")) << dump(problems);
}

TEST(ScenarioLoader, RejectsDuplicateNames) {
  const auto problems = problems_of(R"({"name": "x", "duration": "1s", "processes": [
    {"name": "p", "workers": [{"pattern": "scoped"}, {"pattern": "scoped"}]},
    {"name": "p", "workers": [{"pattern": "scoped"}]}]})");
  EXPECT_TRUE(has_problem(problems, "/processes/1/name", "duplicate")) << dump(problems);
  EXPECT_TRUE(has_problem(problems, "/processes/0/workers/1/name", "duplicate")) << dump(problems);
}

TEST(ScenarioLoader, UnreadableFileIsAScenarioError) {
  EXPECT_THROW(load("/nonexistent/scenario.json", workload::PatternRegistry::builtin().catalog()),
               ScenarioError);
}

TEST(ScenarioLoader, ReadsLoadModels) {
  const auto s = parse_ok(R"({"name": "x", "duration": "1m", "time_scale": 0.5, "processes": [
    {"name": "p", "workers": [
      {"name": "open", "pattern": "scoped", "count": 8, "arrival_rate": "120/m",
       "stages": [{"duration": "10s", "rate": "10/s"}]},
      {"name": "closed", "pattern": "scoped", "count": 4, "start_after": "20s",
       "stages": [{"duration": "30s", "target": 4}]}]}]})");
  const auto& open = s.processes[0].workers[0];
  ASSERT_TRUE(open.arrival_rate);
  EXPECT_DOUBLE_EQ(open.arrival_rate->per_second, 2.0);
  EXPECT_DOUBLE_EQ(open.stages[0].target, 10.0);
  EXPECT_EQ(open.stages[0].duration.applied, 5s);
  const auto& closed = s.processes[0].workers[1];
  EXPECT_FALSE(closed.arrival_rate);
  EXPECT_EQ(closed.start_after.applied, 10s);
  EXPECT_DOUBLE_EQ(closed.stages[0].target, 4.0);
}

TEST(ScenarioLoader, RejectsBadLoadModels) {
  const auto problems = problems_of(R"({"name": "x", "duration": "1m", "processes": [
    {"name": "p", "workers": [
      {"name": "a", "pattern": "scoped", "arrival_rate": "fast", "think_time": "1s"},
      {"name": "b", "pattern": "scoped", "count": 2, "stages": [{"duration": "1s", "target": 3}]},
      {"name": "c", "pattern": "scoped", "arrival_rate": "5/s", "stages": [{"duration": "1s"}]},
      {"name": "d", "pattern": "scoped", "stages": []}]}]})");
  const auto all = dump(problems);
  EXPECT_TRUE(has_problem(problems, "/processes/0/workers/0/arrival_rate", "rate like")) << all;
  EXPECT_TRUE(has_problem(problems, "/processes/0/workers/1/stages/0/target", "must be <= 2"))
      << all;
  EXPECT_TRUE(has_problem(problems, "/processes/0/workers/2/stages/0/rate", "is required")) << all;
  EXPECT_TRUE(has_problem(problems, "/processes/0/workers/3/stages", "non-empty")) << all;
}

TEST(ScenarioLoader, PoolRecycleAcceptsMinusOneForNone) {
  const auto s = parse_ok(R"({"name": "x", "duration": "1s", "pool": {"pool_recycle": -1},
    "processes": [{"name": "p", "workers": [{"pattern": "scoped"}]}]})");
  EXPECT_FALSE(s.pool.pool_recycle);
}

// The fidelity settings of a process and a group: the garbage collector's
// schedule, the retry after a refused connect, a restarted process's start-up.
TEST(ScenarioLoader, ReadsTheCollectorTheRetryAndTheStartUp) {
  const auto s = parse_ok(R"({
    "name": "x", "duration": "1m", "time_scale": 0.1,
    "processes": [
      { "name": "a", "gc": "500ms", "workers": [ { "pattern": "scoped", "connect_retry": "immediate" } ],
        "lifecycle": { "end": "crash", "at": "10s", "restart_after": "1s", "startup": "250ms" } },
      { "name": "b", "gc": "never", "workers": [ { "pattern": "scoped" } ] },
      { "name": "c", "workers": [ { "pattern": "scoped" } ] } ]
  })");
  ASSERT_TRUE(s.processes[0].gc.interval);
  EXPECT_EQ(s.processes[0].gc.interval->nominal, 500ms);
  EXPECT_EQ(s.processes[0].gc.interval->applied, 50ms);
  EXPECT_FALSE(s.processes[1].gc.interval);
  ASSERT_TRUE(s.processes[2].gc.interval);  // CPython's collector runs unless told otherwise
  EXPECT_EQ(s.processes[2].gc.interval->nominal, GarbageCollector::kDefaultInterval);
  EXPECT_EQ(s.processes[0].workers[0].connect_retry, WorkerGroup::ConnectRetry::kImmediate);
  EXPECT_EQ(s.processes[1].workers[0].connect_retry, WorkerGroup::ConnectRetry::kBackoff);
  EXPECT_EQ(s.processes[0].lifecycle->startup.applied, 25ms);
}

TEST(ScenarioLoader, RefusesBadFidelitySettingsWithTheirPointers) {
  const auto problems = problems_of(R"({
    "name": "x", "duration": "1m",
    "processes": [
      { "name": "a", "gc": 5, "workers": [ { "pattern": "scoped", "connect_retry": "sometimes" } ],
        "lifecycle": { "at": "10s", "startup": "1s" } },
      { "name": "b", "gc": "0s", "pool": { "poolclass": "NullPool", "pool_size": 3,
                                           "max_overflow": 1 },
        "workers": [ { "pattern": "scoped" } ] } ]
  })");
  EXPECT_TRUE(has_problem(problems, "/processes/0/gc", "\"never\" or a duration"))
      << dump(problems);
  EXPECT_TRUE(has_problem(problems, "/processes/0/workers/0/connect_retry", "immediate"))
      << dump(problems);
  EXPECT_TRUE(has_problem(problems, "/processes/0/lifecycle/startup", "restart_after"))
      << dump(problems);
  EXPECT_TRUE(has_problem(problems, "/processes/1/gc", "greater than zero")) << dump(problems);
  // SQLAlchemy: create_engine(poolclass=NullPool, pool_size=3) raises TypeError.
  EXPECT_TRUE(has_problem(problems, "/processes/1/pool/pool_size", "NullPool takes no pool_size"))
      << dump(problems);
  EXPECT_TRUE(has_problem(problems, "/processes/1/pool/max_overflow", "NullPool"))
      << dump(problems);
}

}  // namespace
}  // namespace pgleak::scenario

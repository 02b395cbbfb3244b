// The verdict on synthetic runs: series built by hand, judged without a server.
#include "analysis/verdict.hpp"

#include <gtest/gtest.h>

#include <random>

#include "analysis/budget.hpp"
#include "run/live_watch.hpp"
#include "scenario/loader.hpp"
#include "scenario/metrics.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::analysis {
namespace {

scenario::Scenario scenario_with(const std::string& extra = "") {
  return scenario::parse(R"({"name": "s", "duration": "10m", "time_scale": 0.01, )" + extra +
                             R"("processes": [{"name": "p", "replicas": 10,
                               "pool": {"pool_size": 5, "max_overflow": 10},
                               "workers": [{"pattern": "scoped"}]}]})",
                         "synthetic.json", workload::PatternRegistry::builtin().catalog());
}

record::RunResult with_series(const std::function<int(int)>& own_at, int n = 60) {
  record::RunResult r;
  r.target.server.max_connections = 100;
  r.target.server.superuser_reserved_connections = 3;
  record::BoundedSeries series{record::Recorder::kKeptSamples};  // as the recorder keeps them
  for (int i = 0; i < n; ++i) {
    record::Sample s;
    s.t_s = i * 0.1;
    s.own = s.total = own_at(i);
    s.by_state["idle"] = s.own;
    series.add(s);
  }
  r.samples = series.kept();
  r.series = series.stats();
  return r;
}

Verdict judged(const record::RunResult& r, const scenario::Scenario& sc) {
  return judge(summarize(r, sc), r, sc);
}

TEST(Verdict, SteadyGrowthIsALeak) {
  const auto sc = scenario_with();
  const auto r = with_series([](int i) { return i; });  // one more connection every sample
  const auto v = judged(r, sc);
  EXPECT_EQ(v.diagnosis, Diagnosis::kLeak);
  EXPECT_FALSE(v.pass);
  const auto s = summarize(r, sc);
  // 10 connections per wall second = 0.1 per nominal second = 6 per nominal minute.
  EXPECT_NEAR(s.growth.slope_per_min, 6.0, 1e-6);
  EXPECT_NEAR(s.growth.r2, 1.0, 1e-9);
  EXPECT_FALSE(s.growth.plateaued);
}

TEST(Verdict, RiseThenPlateauBelowCapacityIsHealthy) {
  const auto sc = scenario_with();
  const auto v = judged(with_series([](int i) { return std::min(i, 20); }), sc);
  EXPECT_EQ(v.diagnosis, Diagnosis::kHealthy) << v.reasons.front();
  EXPECT_TRUE(v.pass);
}

TEST(Verdict, NoiseIsNotALeak) {
  const auto sc = scenario_with();
  std::mt19937 rng{7};
  std::uniform_int_distribution<int> jitter{-3, 3};
  const auto v = judged(with_series([&](int) { return 30 + jitter(rng); }), sc);
  EXPECT_EQ(v.diagnosis, Diagnosis::kHealthy);
}

TEST(Verdict, TimeoutsWithoutHoldersAreUndersized) {
  const auto sc = scenario_with();
  auto r = with_series([](int) { return 15; });
  r.pool_timeouts = 12;
  const auto v = judged(r, sc);
  EXPECT_EQ(v.diagnosis, Diagnosis::kUndersized);
  EXPECT_NE(v.findings.front().evidence.find("12 pool timeouts"), std::string::npos);
}

TEST(Verdict, HoldersPastTheThresholdAreALeakNotUndersized) {
  const auto sc = scenario_with(R"("leak_threshold": "60s", )");
  auto r = with_series([](int) { return 15; });
  r.pool_timeouts = 12;  // the pool ran dry because of the holders: "raising it only delays it"
  r.holders.push_back({"p", 3, "scoped.0", "leak_on_error", 4242, 0.5, 5.0, 500.0});
  const auto v = judged(r, sc);
  EXPECT_EQ(v.diagnosis, Diagnosis::kLeak);
  EXPECT_NE(v.findings.front().evidence.find("p.3 scoped.0 (leak_on_error)"), std::string::npos)
      << v.findings.front().evidence;
  EXPECT_EQ(v.findings.size(), 1u);  // not also undersized
}

TEST(Verdict, RefusalsAreServerLimitFirstWithOtherFindingsKept) {
  const auto sc = scenario_with(R"("leak_threshold": "60s", )");
  auto r = with_series([](int i) { return std::min(i * 2, 96); });
  r.errors_by_sqlstate["53300"] = 40;
  r.events.push_back({1.5, record::kConnectError, "53300", "too many", "p", 0, "w.0",
                      "held_by_object", std::nullopt, std::nullopt, "pgleak", ""});
  r.holders.push_back({"p", 0, "w.0", "held_by_object", 1, 0, 5.0, 500.0});
  const auto v = judged(r, sc);
  EXPECT_EQ(v.diagnosis, Diagnosis::kServerLimit);
  ASSERT_EQ(v.findings.size(), 2u);
  EXPECT_EQ(v.findings[1].diagnosis, Diagnosis::kLeak);
  EXPECT_NE(v.findings[0].evidence.find("first at 1.5s"), std::string::npos);
}

// Failed connects that no client saw as a refusal are put down to a pool
// that connects and retries in the background only for kinds that do:
// node-postgres and SQLAlchemy connect in the caller.
TEST(Verdict, BackgroundRefusalsAreFoundOnlyInPoolsThatConnectInTheBackground) {
  for (const std::string kind :
       {"sqlalchemy", "hikaricp", "psycopg_pool", "pgx", "node_postgres"}) {
    SCOPED_TRACE(kind);
    const auto sc = scenario::parse(
        R"({"name": "s", "duration": "10m", "pool": {"kind": ")" + kind +
            R"("}, "processes": [{"name": "p", "workers": [{"pattern": "scoped"}]}]})",
        "synthetic.json", workload::PatternRegistry::builtin().catalog());
    auto r = with_series([](int) { return 4; });
    record::PoolOutcome p;
    p.stats.connect_failures = 3;
    r.pools.push_back(p);
    const auto v = judged(r, sc);
    const bool background = kind == "hikaricp" || kind == "psycopg_pool" || kind == "pgx";
    EXPECT_EQ(v.diagnosis == Diagnosis::kServerLimit, background) << v.findings.size();
  }
}

// A check that could not be made is never read as a pass: the leftover
// count failed, and the verdict says so first.
TEST(Verdict, ACleanupCheckThatCouldNotRunFailsTheVerdict) {
  const auto sc = scenario_with();
  auto r = with_series([](int) { return 5; });
  r.status = record::RunStatus::kCompleted;
  ASSERT_TRUE(judged(r, sc).pass);
  r.cleanup_checked = false;
  r.cleanup_note = "could not check that no backend of the run was left: connection refused";
  const auto v = judged(r, sc);
  EXPECT_FALSE(v.pass);
  ASSERT_FALSE(v.reasons.empty());
  EXPECT_EQ(v.reasons.front(), r.cleanup_note);
}

TEST(Verdict, ANetworkFaultThatCouldNotBeMadeFailsTheVerdict) {
  const auto sc = scenario_with();
  auto r = with_series([](int) { return 5; });
  r.status = record::RunStatus::kCompleted;
  record::NetworkFaultOutcome made;
  made.action = "partition";
  made.target = "all";
  made.began_s = 2.0;
  r.network_faults.push_back(made);
  ASSERT_TRUE(judged(r, sc).pass);
  record::NetworkFaultOutcome failed = made;
  failed.began_s = -1;
  failed.error = "nft exited with 1: Could not process rule";
  r.network_faults.push_back(failed);
  const auto v = judged(r, sc);
  EXPECT_FALSE(v.pass);
  ASSERT_FALSE(v.reasons.empty());
  EXPECT_NE(v.reasons.front().find("network fault partition on all could not be made"),
            std::string::npos)
      << v.reasons.front();
  EXPECT_NE(v.reasons.front().find(failed.error), std::string::npos);
}

TEST(Verdict, ThresholdsAddressSummaryMetrics) {
  const auto sc = scenario_with(
      R"("expect": {"peak_connections": "<= 20", "errors.53300": "== 0",
                    "checkout_wait_ms.p95": "< 50", "verdict": "leak"}, )");
  const auto v = judged(with_series([](int i) { return i; }), sc);
  EXPECT_FALSE(v.pass);
  std::map<std::string, bool> by_metric;
  for (const auto& t : v.thresholds) {
    by_metric[t.expectation.metric] = t.pass;
    EXPECT_FALSE(t.implicit);  // the scenario names a verdict: no default one
  }
  EXPECT_FALSE(by_metric.at("peak_connections"));  // 59 > 20
  EXPECT_TRUE(by_metric.at("errors.53300"));       // absent counts as 0
  EXPECT_TRUE(by_metric.at("checkout_wait_ms.p95"));
  EXPECT_TRUE(by_metric.at("verdict"));  // a leak, as expected
}

// A metric added as docs/ARCHITECTURE.md says: a row of metrics.def (its
// value: the pools' connect_failures added up) and a threshold on it.
TEST(Metrics, ConnectFailuresAreThePoolsFailedOpensAddedUp) {
  auto r = with_series([](int) { return 10; });
  for (const uint64_t failed : {2u, 0u, 5u}) {
    record::PoolOutcome p;
    p.stats.connect_failures = failed;
    p.stats.connects = 3;
    r.pools.push_back(p);
  }
  const auto sc = scenario_with(R"("expect": {"connect_failures": "== 0"}, )");
  const auto s = summarize(r, sc);
  EXPECT_EQ(s.connect_failures, 7u);
  EXPECT_EQ(s.connects, 9u);
  EXPECT_EQ(summary_json(s).at("connect_failures"), 7);
  const auto v = judge(s, r, sc);
  const auto t = std::find_if(v.thresholds.begin(), v.thresholds.end(), [](const auto& th) {
    return th.expectation.metric == "connect_failures";
  });
  ASSERT_NE(t, v.thresholds.end());
  EXPECT_FALSE(t->pass);  // 7 is not 0
  EXPECT_FALSE(v.pass);
  ASSERT_NE(scenario::find_metric("connect_failures"), nullptr);
  EXPECT_EQ(scenario::find_metric("connect_failures")->compare_noise, 0.0);
}

TEST(Verdict, MetricValuesResolveDottedNamesAndAliases) {
  Summary s;
  s.errors_by_sqlstate["57014"] = 3;
  s.checkout_wait_ms.p95 = 1.5;
  const auto j = summary_json(s);
  EXPECT_EQ(metric_value(j, "errors.57014"), 3.0);
  EXPECT_EQ(metric_value(j, "errors.53300"), 0.0);
  EXPECT_EQ(metric_value(j, "checkout_wait_ms.p95"), 1.5);
  EXPECT_EQ(metric_value(j, "no.such"), std::nullopt);
}

// "Every summary metric is addressable": each numeric or boolean leaf of the
// summary the report writes is a name the scenario loader accepts.
TEST(Verdict, EverySummaryMetricIsAddressable) {
  std::function<void(const nlohmann::json&, const std::string&)> walk =
      [&](const nlohmann::json& node, const std::string& path) {
        for (const auto& [key, value] : node.items()) {
          const auto name = path.empty() ? key : path + "." + key;
          if (key == "errors_by_sqlstate" || key == "server_errors_by_sqlstate") {
            continue;  // addressed as errors.X / server_errors.X
          }
          if (value.is_object()) {
            walk(value, name);
          } else {
            EXPECT_EQ(scenario::check_metric(name), std::nullopt) << name;
            EXPECT_TRUE(metric_value(summary_json(Summary{}), name).has_value()) << name;
          }
        }
      };
  walk(summary_json(Summary{}), "");
}

// scenario/metrics.def is the one table: every row has a value in the
// summary, and exactly the rows marked live have a value while a run runs.
TEST(Metrics, EveryRowHasAValueAndTheLiveOnesAreWatched) {
  Summary s;
  const auto j = summary_json(s);
  for (const auto& m : scenario::metrics()) {
    const auto v = metric_json(s, m);
    EXPECT_TRUE(v.is_number() || v.is_boolean()) << m.name;
    EXPECT_TRUE(metric_value(j, std::string{m.name}).has_value()) << m.name;
    EXPECT_EQ(scenario::check_metric(std::string{m.name}), std::nullopt) << m.name;
  }
  scenario::Scenario sc;
  record::Recorder recorder{std::chrono::steady_clock::now()};
  std::vector<std::unique_ptr<workload::ProcessReplica>> none;
  run::LiveWatch watch{sc, recorder, none, nullptr, false, 0};
  for (const auto& m : scenario::metrics()) {
    EXPECT_EQ(watch.value_so_far(std::string{m.name}).has_value(), m.live) << m.name;
    EXPECT_EQ(scenario::can_abort_early(std::string{m.name}), m.live) << m.name;
  }
  EXPECT_EQ(watch.value_so_far("errors.53300"), 0.0);
}

TEST(Verdict, AnIncompleteRunNeverPasses) {
  const auto sc = scenario_with();
  auto r = with_series([](int) { return 5; });
  r.status = record::RunStatus::kInterrupted;
  EXPECT_FALSE(judged(r, sc).pass);
}

TEST(Expectation, KnowsWhenAGrowingValueCanNoLongerPass) {
  std::string why;
  const auto le = scenario::parse_expectation("pool_timeouts", "<= 2", &why);
  ASSERT_TRUE(le);
  EXPECT_FALSE(le->lost_for_good(2));
  EXPECT_TRUE(le->lost_for_good(3));
  const auto ge = scenario::parse_expectation("checkouts", ">= 100", &why);
  EXPECT_FALSE(ge->lost_for_good(0));  // a lower bound may still be reached
  EXPECT_FALSE(scenario::parse_expectation("x", "about 5", &why));
  EXPECT_TRUE(scenario::check_metric("checkout_wait_ms.p95") == std::nullopt);
  EXPECT_TRUE(scenario::check_metric("errors.53300") == std::nullopt);
  EXPECT_TRUE(scenario::check_metric("peak") != std::nullopt);
  EXPECT_TRUE(scenario::can_abort_early("errors.53300"));
  EXPECT_FALSE(scenario::can_abort_early("checkout_wait_ms.p95"));  // may still fall
}

TEST(Budget, TheIncidentCouldNeverFitAndThreePlusFiveWouldNotHaveEither) {
  auto sc = scenario::load(std::string{PGLEAK_SOURCE_DIR} + "/scenarios/incident-before.json",
                           workload::PatternRegistry::builtin().catalog());
  const probe::ServerLimits limits{100, 3, 0, 0};
  const auto before = compute_budget(sc, limits);
  EXPECT_EQ(before.available, 97);
  EXPECT_EQ(before.processes[0].worst_case, 25 * 15);
  EXPECT_EQ(before.worst_case, 25 * 15 + 4 * 15);
  EXPECT_FALSE(before.fits);
  for (auto& p : sc.processes) {
    p.pool.pool_size = 3;
    p.pool.max_overflow = 5;
  }
  const auto smaller = compute_budget(sc, limits);
  EXPECT_EQ(smaller.worst_case, 25 * 8 + 4 * 8);
  EXPECT_FALSE(smaller.fits);
  sc.processes[0].replicas = 1;  // one supervised launcher
  EXPECT_TRUE(compute_budget(sc, limits).fits);
}

// The workers' role decides what is available: a superuser may take the
// reserved slots; a role's CONNECTION LIMIT is its own, a database's is shared
// with every session in it (pgleak's sampler included).
TEST(Budget, TheWorkersRoleAndConnectionLimits) {
  const auto sc = scenario::parse(R"({"name": "b", "duration": "1m",
      "server": {"max_connections": 20, "superuser_reserved_connections": 3,
                 "role": {"superuser": false, "connection_limit": 6},
                 "database": {"connection_limit": 10}},
      "processes": [{"name": "api", "workers": [{"pattern": "scoped"}]}]})",
                                  "b.json", workload::PatternRegistry::builtin().catalog());
  EXPECT_FALSE(sc.server.app_role_superuser);
  EXPECT_EQ(sc.server.role_connection_limit, 6);
  EXPECT_EQ(sc.server.database_connection_limit, 10);
  const auto ordinary = compute_budget(sc, probe::limits_for(20, 3, false, 0, 6, 10));
  EXPECT_EQ(ordinary.available, 6);  // the role's limit binds first
  EXPECT_EQ(probe::workers_limit(probe::limits_for(20, 3, false, 0, -1, 10)), 10);
  EXPECT_EQ(compute_budget(sc, probe::limits_for(20, 3, false, 4, -1, 10)).available,
            5);  // 10 - 5 others
  const auto super = compute_budget(sc, probe::limits_for(20, 3, true, 0, 6, 10));
  EXPECT_EQ(super.available, 19);  // superusers pass every limit but max_connections
  EXPECT_EQ(probe::workers_limit(probe::limits_for(20, 3, true, 0, 6, 10)), 20);
}

TEST(Budget, PoolLessAndUnboundedPools) {
  const auto sc = scenario::parse(R"({"name": "b", "duration": "1m", "processes": [
      {"name": "script", "replicas": 2, "workers": [{"pattern": "connection_per_task", "count": 3}]},
      {"name": "api", "pool": {"max_overflow": -1}, "workers": [{"pattern": "scoped"}]}]})",
                                  "b.json", workload::PatternRegistry::builtin().catalog());
  const auto b = compute_budget(sc, {100, 3, 0, 1});
  EXPECT_EQ(b.processes[0].pool_less, 3);
  EXPECT_EQ(b.processes[0].worst_case, 6);
  EXPECT_TRUE(b.processes[1].unbounded);
  EXPECT_FALSE(b.fits);
  EXPECT_EQ(b.available, 96);  // one slot for the sampler
  EXPECT_EQ(b.processes[1].unbounded_by, "max_overflow -1");
  EXPECT_EQ(worst_case_text(b),
            "unbounded (api: max_overflow -1; 6 connections from the bounded pools)");
}

// One worst case for validate, budget, the run and its refusal: a NullPool
// process is unbounded, and says why.
TEST(Budget, NullPoolIsUnboundedAndSaysWhy) {
  const auto sc = scenario::parse(R"({"name": "b", "duration": "1m", "processes": [
      {"name": "cron", "pool": {"poolclass": "NullPool"}, "workers": [{"pattern": "scoped"}]},
      {"name": "api", "workers": [{"pattern": "scoped"}]}]})",
                                  "b.json", workload::PatternRegistry::builtin().catalog());
  const auto b = compute_budget(sc, {100, 3, 0, 0});
  EXPECT_TRUE(b.unbounded);
  EXPECT_FALSE(b.fits);
  EXPECT_EQ(b.worst_case, 15);
  EXPECT_EQ(worst_case_text(b),
            "unbounded (cron: NullPool; 15 connections from the bounded pools)");
  EXPECT_NE(format_budget(sc, b).find("worst case unbounded (cron: NullPool;"), std::string::npos)
      << format_budget(sc, b);
}

// Which limit binds, in words: the superuser's, a CONNECTION LIMIT's, or the
// ordinary role's slots.
TEST(Budget, TheLimitIsExplainedByTheOneThatApplies) {
  EXPECT_EQ(probe::explain_limit(probe::limits_for(20, 3, false, 0)),
            "max_connections 20 - superuser_reserved_connections 3 for an ordinary role");
  EXPECT_EQ(probe::explain_limit(probe::limits_for(20, 3, true, 0, 6, 10)),
            "max_connections 20: the workers' role is a superuser, which may take the "
            "superuser_reserved_connections slots and no CONNECTION LIMIT binds");
  EXPECT_EQ(probe::explain_limit(probe::limits_for(20, 3, false, 0, 6, 10)),
            "the role's CONNECTION LIMIT 6, below the 17 slots of an ordinary role "
            "(max_connections 20 - superuser_reserved_connections 3)");
  EXPECT_EQ(probe::explain_limit(probe::limits_for(20, 3, false, 0, 12, 10)).substr(0, 37),
            "the database's CONNECTION LIMIT 10, b");
  EXPECT_EQ(probe::explain_limit(probe::limits_for(20, 3, false, 0, 30, -1)),
            "max_connections 20 - superuser_reserved_connections 3 for an ordinary role");
}

}  // namespace
}  // namespace pgleak::analysis

// Two shards of one run as two threads of this process, against the suite's
// server: the barrier, the split, who samples the server, and the merge of
// their reports. (The sharding suite runs them as processes; this one runs
// under the sanitizers with the rest of the server suite.)
#include <gtest/gtest.h>

#include <thread>

#include "analysis/summary.hpp"
#include "analysis/verdict.hpp"
#include "report/json_report.hpp"
#include "report/merge.hpp"
#include "run_helpers.hpp"

namespace pgleak::run {
namespace {

const char* kFleet = R"({
  "name": "two-shards", "duration": "1500ms", "sample_interval": "50ms",
  "processes": [
    {"name": "api", "replicas": 3, "pool": {"pool_size": 1, "max_overflow": 0},
     "workers": [{"name": "w", "pattern": "scoped", "count": 2, "think_time": "5ms"}]},
    {"name": "held", "replicas": 1, "pool": {"pool_size": 1, "max_overflow": 0},
     "workers": [{"name": "h", "pattern": "held_by_object", "count": 1}]}]})";

TEST(ShardedRun, TwoShardsStartTogetherSplitTheFleetAndMergeIntoOneRun) {
  scenario::LoadOptions load;
  load.shards = 2;
  const auto sc =
      scenario::parse(kFleet, "two.json", workload::PatternRegistry::builtin().catalog(), load);
  std::vector<record::RunResult> results(2);
  std::vector<std::string> errors(2);
  std::vector<std::thread> shards;
  for (int i = 0; i < 2; ++i) {
    shards.emplace_back([&, i] {
      RunOptions options;
      options.dsn = testing::PgEnvironment::get().app().to_libpq();
      options.shard = ShardRun{{i, 2}, "tw0shd", "two-shards-test", std::chrono::seconds{30}, {}};
      try {
        results[static_cast<size_t>(i)] = run_scenario(sc, options);
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(i)] = e.what();
      }
    });
  }
  for (auto& t : shards) {
    t.join();
  }
  ASSERT_EQ(errors[0], "");
  ASSERT_EQ(errors[1], "");
  std::vector<report::ShardFile> files;
  for (int i = 0; i < 2; ++i) {
    const auto& r = results[static_cast<size_t>(i)];
    EXPECT_EQ(r.status, record::RunStatus::kCompleted) << r.status_detail;
    ASSERT_TRUE(r.shard);
    EXPECT_EQ(r.shard->shard.index, i);
    // g = 0..3 (api.0, api.1, api.2, held.0): shard 0 runs api.0 and api.2.
    ASSERT_EQ(r.pools.size(), 2u);
    EXPECT_EQ(r.pools[0].process, "api");
    EXPECT_EQ(r.pools[0].replica, i);
    EXPECT_EQ(r.pools[1].process, i == 0 ? "api" : "held");
    EXPECT_GT(r.pools[0].stats.checkouts, 0u);
    // Shard 0 alone sees the server: every shard's backends, by the run id.
    int own = 0;
    for (const auto& s : r.samples) {
      own = std::max(own, s.own);
      EXPECT_FALSE(s.pools.empty());
    }
    if (i == 0) {
      EXPECT_GE(own, 3) << "shard 0 saw only its own backends";
    } else {
      EXPECT_EQ(own, 0);
    }
    EXPECT_EQ(r.run_id, results[0].run_id);
    const auto summary = analysis::summarize(r, sc);
    files.push_back({"shard-" + std::to_string(i) + ".json",
                     report::report_text(
                         report::build_report(sc, r, summary, analysis::judge(summary, r, sc)))});
  }
  // They started together: their barrier exits within a second.
  EXPECT_LE(std::abs(results[0].shard->started_at_unix_ms - results[1].shard->started_at_unix_ms),
            1000);
  const auto merged = report::merge_shards(files, workload::PatternRegistry::builtin().catalog());
  EXPECT_EQ(merged.result.pools.size(), 4u);
  EXPECT_EQ(merged.result.status, record::RunStatus::kCompleted);
  EXPECT_EQ(merged.result.checkout_waits->count(),
            results[0].checkout_waits->count() + results[1].checkout_waits->count());
  EXPECT_EQ(merged.result.series.peak_own, results[0].series.peak_own);
  // No backend of the run is left, and no shard session.
  EXPECT_EQ(testing::PgEnvironment::get().admin_int(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE '%/tw%' "
                "OR application_name = 'pgleak-shard'"),
            0);
}

}  // namespace
}  // namespace pgleak::run

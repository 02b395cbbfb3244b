// Sharded runs without a server: the split, the digest, the shard's backend
// tags, histograms written down and read back, and `pgleak merge` on shard
// reports built here (every kind of input it must refuse, and what it sums).
#include "scenario/shard.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "../scratch_dir.hpp"
#include "analysis/summary.hpp"
#include "analysis/verdict.hpp"
#include "record/record_json.hpp"
#include "record/recorder.hpp"
#include "record/run_result_json.hpp"
#include "report/compare.hpp"
#include "report/html_report.hpp"
#include "report/json_report.hpp"
#include "report/merge.hpp"
#include "run/runner.hpp"
#include "scenario/backend_tag.hpp"
#include "scenario/loader.hpp"
#include "util/errors.hpp"
#include "util/files.hpp"
#include "util/gzip_file.hpp"
#include "util/latency_histogram.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak {
namespace {

using nlohmann::json;

scenario::PatternCatalog catalog() {
  return workload::PatternRegistry::builtin().catalog();
}

// Two processes: 5 replicas of "api" and 2 of "batch".
std::string fleet_text(int api_replicas = 5, const std::string& extra = "") {
  return R"({"name": "fleet", "duration": "1m", "time_scale": 0.1,)" + extra +
         R"( "processes": [
    {"name": "api", "replicas": )" +
         std::to_string(api_replicas) + R"(, "pool": {"pool_size": 2, "max_overflow": 1},
     "workers": [{"name": "w", "pattern": "scoped", "count": 3}]},
    {"name": "batch", "replicas": 2, "pool": {"pool_size": 1, "max_overflow": 0},
     "workers": [{"name": "b", "pattern": "scoped", "count": 1}]}]})";
}

scenario::Scenario fleet(int shards = 1, int api_replicas = 5) {
  scenario::LoadOptions o;
  o.shards = shards;
  return scenario::parse(fleet_text(api_replicas), "fleet.json", catalog(), o);
}

TEST(ParseShard, TakesIOfNCountingFromZero) {
  const auto s = scenario::parse_shard("2/4");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->index, 2);
  EXPECT_EQ(s->count, 4);
  EXPECT_EQ(s->str(), "2/4");
  for (const char* bad : {"4/4", "-1/4", "1/0", "1", "a/2", "1/2x", "1/1000", "", "/", "0/"}) {
    std::string why;
    EXPECT_FALSE(scenario::parse_shard(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

// The barrier counts milliseconds: a shorter timeout is refused, not cut to
// 0 ms (which waited not at all), and a fraction of one rounds up.
TEST(ParseBarrierTimeout, TakesADurationOfMoreThanZero) {
  EXPECT_EQ(scenario::parse_barrier_timeout("90s"), std::chrono::milliseconds{90'000});
  EXPECT_EQ(scenario::parse_barrier_timeout("10m"), std::chrono::milliseconds{600'000});
  EXPECT_EQ(scenario::parse_barrier_timeout("1500us"), std::chrono::milliseconds{2});
  for (const char* bad : {"0s", "abc", "-1s", "", "500us"}) {
    try {
      scenario::parse_barrier_timeout(bad);
      ADD_FAILURE() << bad << " was taken";
    } catch (const util::UsageError& e) {
      EXPECT_NE(std::string{e.what()}.find("--barrier-timeout"), std::string::npos) << e.what();
    }
  }
}

TEST(SplitReplicas, DealsReplicasRoundTheShardsInFileOrder) {
  const auto sc = fleet();
  const auto split = scenario::split_replicas(sc, 3);
  ASSERT_EQ(split.size(), 3u);
  // g: api.0..4 are 0..4, batch.0..1 are 5..6; shard = g mod 3.
  const std::vector<std::vector<std::pair<size_t, int>>> expected{
      {{0, 0}, {0, 3}, {1, 1}}, {{0, 1}, {0, 4}}, {{0, 2}, {1, 0}}};
  std::set<std::pair<size_t, int>> seen;
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(split[i].size(), expected[i].size()) << "shard " << i;
    for (size_t j = 0; j < split[i].size(); ++j) {
      EXPECT_EQ(split[i][j].process, expected[i][j].first);
      EXPECT_EQ(split[i][j].replica, expected[i][j].second);
      seen.insert({split[i][j].process, split[i][j].replica});
    }
  }
  EXPECT_EQ(seen.size(), 7u);  // every replica, once
  // What one process runs: its shard's slice, or (unsharded) every replica in file order.
  for (int i = 0; i < 3; ++i) {
    const auto mine = scenario::replicas_of(sc, scenario::ShardRef{i, 3});
    ASSERT_EQ(mine.size(), expected[static_cast<size_t>(i)].size());
    for (size_t j = 0; j < mine.size(); ++j) {
      EXPECT_EQ(mine[j].process, expected[static_cast<size_t>(i)][j].first);
      EXPECT_EQ(mine[j].replica, expected[static_cast<size_t>(i)][j].second);
    }
  }
  const auto all = scenario::replicas_of(sc, std::nullopt);
  ASSERT_EQ(all.size(), 7u);
  EXPECT_EQ(all[4].process, 0u);
  EXPECT_EQ(all[4].replica, 4);
  EXPECT_EQ(all[5].process, 1u);
  EXPECT_EQ(all[5].replica, 0);
  EXPECT_EQ(scenario::total_replicas(sc), 7);
}

TEST(RunIdFromName, EveryShardDrawsTheSameSixCharactersFromOneName) {
  const auto id = run::run_id_from_name("1b4e28ba-2fa1-11d2-883f-0016d3cca427");
  EXPECT_EQ(id, run::run_id_from_name("1b4e28ba-2fa1-11d2-883f-0016d3cca427"));
  EXPECT_NE(id, run::run_id_from_name("1b4e28ba-2fa1-11d2-883f-0016d3cca428"));
  ASSERT_EQ(id.size(), scenario::kRunIdLength);
  for (const char c : id) {
    EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) << id;
  }
}

TEST(ScenarioDigest, IgnoresLayoutButNotContentOrTimeScale) {
  const auto a = fleet();
  auto reordered = fleet_text();
  reordered.replace(reordered.find(R"("name": "fleet", "duration": "1m")"),
                    std::string{R"("name": "fleet", "duration": "1m")"}.size(),
                    R"("duration":"1m",   "name":"fleet")");
  const auto b = scenario::parse(reordered, "other.json", catalog());
  EXPECT_EQ(a.digest, b.digest);
  EXPECT_EQ(a.digest.size(), 16u);
  EXPECT_NE(a.digest, fleet(1, 6).digest);
  scenario::LoadOptions faster;
  faster.time_scale = 0.01;
  EXPECT_NE(a.digest, scenario::parse(fleet_text(), "fleet.json", catalog(), faster).digest);
  EXPECT_EQ(a.source_text, fleet_text());
}

TEST(ScenarioLimits, WorkersAreCountedPerShardAndTagsFitWithTheShard) {
  // 10,000 replicas x 11 workers: 110,000 for one process, 55,000 per shard of 2.
  const std::string many =
      R"({"name": "t", "duration": "1m", "processes": [{"name": "p", "replicas": 10000,
          "workers": [{"pattern": "scoped", "count": 11}]}]})";
  scenario::LoadOptions two;
  two.shards = 2;
  EXPECT_THROW(scenario::parse(many, "t.json", catalog()), scenario::ScenarioError);
  EXPECT_NO_THROW(scenario::parse(many, "t.json", catalog(), two));
  // An application_name that fits the tag only without "@<shard>":
  // "<name>/xxxxxx/p.4/scoped" is 63 bytes.
  const std::string name(63 - std::string{"/xxxxxx/p.4/scoped"}.size(), 'a');
  const auto text =
      R"({"name": "t", "duration": "1m", "pool": {"connect": {"application_name": ")" + name +
      R"("}}, "processes": [{"name": "p", "replicas": 5, "workers": [{"name": "w",
                    "pattern": "scoped"}]}]})";
  EXPECT_NO_THROW(scenario::parse(text, "t.json", catalog()));
  scenario::LoadOptions sharded;
  sharded.shards = 4;
  try {
    scenario::parse(text, "t.json", catalog(), sharded);
    FAIL() << "a tag too long with its shard was accepted";
  } catch (const scenario::ScenarioError& e) {
    EXPECT_NE(std::string{e.what()}.find("application_name"), std::string::npos) << e.what();
  }
}

TEST(BackendTag, AShardsTagCarriesItsIndexAndMatchesOnlyItsOwnMarkers) {
  scenario::BackendTag tag{"pgleak", "k3x9q2", "api", 4, "scoped", 12};
  const auto text = tag.str();
  EXPECT_EQ(text, "pgleak/k3x9q2@12/api.4/scoped");
  const auto back = scenario::BackendTag::parse(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->run_id, "k3x9q2");
  EXPECT_EQ(back->shard, 12);
  EXPECT_EQ(back->process, "api");
  EXPECT_EQ(back->replica, 4);
  EXPECT_NE(text.find(scenario::BackendTag::fleet_marker("k3x9q2")), std::string::npos);
  EXPECT_NE(text.find(scenario::BackendTag::shard_marker("k3x9q2", 12)), std::string::npos);
  EXPECT_EQ(text.find(scenario::BackendTag::shard_marker("k3x9q2", 1)), std::string::npos);
  EXPECT_EQ(text.find(scenario::BackendTag::run_marker("k3x9q2")), std::string::npos);
  const auto plain = scenario::BackendTag{"pgleak", "k3x9q2", "api", 4, "scoped"}.str();
  EXPECT_EQ(plain.find(scenario::BackendTag::fleet_marker("k3x9q2")), std::string::npos);
  EXPECT_EQ(scenario::BackendTag::parse(plain)->shard, -1);
  for (const char* bad : {"pgleak/k3x9q2@/api.4/scoped", "pgleak/k3x9q2#1/api.4/scoped",
                          "pgleak/k3x9q2@1x/api.4/scoped", "pgleak/k3x9q@1/api.4/scoped"}) {
    EXPECT_FALSE(scenario::BackendTag::parse(bad)) << bad;
  }
}

TEST(LatencyHistogram, BucketsReadBackGiveTheSameHistogram) {
  util::LatencyHistogram h;
  for (int i = 1; i <= 5000; ++i) {
    h.record(util::Micros{i * 37 % 100000});
  }
  util::LatencyHistogram copy;
  record::add_histogram_json(copy, json::parse(record::histogram_json(h).dump()));
  EXPECT_EQ(copy.count(), h.count());
  EXPECT_EQ(copy.max(), h.max());
  for (const double q : {0.0, 0.5, 0.9, 0.99, 1.0}) {
    EXPECT_EQ(copy.quantile(q), h.quantile(q)) << q;
  }
  // Two shards' histograms add up to the histogram of both.
  util::LatencyHistogram a;
  util::LatencyHistogram b;
  util::LatencyHistogram both;
  for (int i = 0; i < 1000; ++i) {
    (i % 2 == 0 ? a : b).record(util::Micros{i * 13});
    both.record(util::Micros{i * 13});
  }
  util::LatencyHistogram merged;
  merged.add_buckets(a.buckets());
  merged.add_buckets(b.buckets());
  EXPECT_EQ(merged.count(), both.count());
  EXPECT_EQ(merged.quantile(0.95), both.quantile(0.95));
  EXPECT_EQ(merged.max(), both.max());
  util::LatencyHistogram::Buckets bad;
  bad.counts.emplace_back(1 << 20, 1);
  EXPECT_THROW(merged.add_buckets(bad), std::invalid_argument);
}

// `text` as util::GzipFile (the timeline's writer) leaves it: flushed only,
// as a killed run's file is, or closed.
std::string gzipped(const std::string& text, bool closed) {
  testing::ScratchDir dir;
  const auto path = (dir / "t.gz").string();
  util::GzipFile file{path};
  file.write(text);
  file.flush();
  if (closed) {
    file.close();
  }
  return util::read_regular_file(path, size_t{1} << 24);
}

TEST(Gunzip, ReadsWhatWasFlushedOfAStreamCutShort) {
  std::string text;
  for (int i = 0; i < 2000; ++i) {
    text += "line " + std::to_string(i) + "\n";
  }
  const auto whole = gzipped(text, true);
  const auto flushed = gzipped(text, false);
  ASSERT_NE(whole, flushed);  // the cut one lacks the gzip trailer
  EXPECT_EQ(util::gunzip(whole, 1 << 20), text);
  EXPECT_EQ(util::gunzip(flushed, 1 << 20), text);
  EXPECT_THROW(util::gunzip(whole, 100), util::UsageError);
  EXPECT_THROW(util::gunzip("not gzip at all", 1 << 20), util::UsageError);
}

// --- merge -----------------------------------------------------------------

struct ShardSpec {
  int index = 0;
  int count = 2;
  std::string run_id = "abc123";
  std::string run_name = "nightly";
  record::RunStatus status = record::RunStatus::kCompleted;
  int timeouts = 0;
  std::string engine = "fibers";
};

// A shard's report as `pgleak run --shard` writes it, from a result built here.
std::string shard_report(const scenario::Scenario& sc, const ShardSpec& spec) {
  record::RunResult r;
  r.run_id = spec.run_id;
  r.started_at_utc = "2026-11-30T00:00:00Z";
  r.wall_s = 6 + spec.index;
  r.status = spec.status;
  r.status_detail = spec.status == record::RunStatus::kCompleted ? "" : "interrupted";
  r.engine = spec.engine;
  r.engine_threads = spec.engine == "fibers" ? 2 : 0;
  r.sessions_peak = record::RunResult::SessionPeak{3 + spec.index, 1.5 + spec.index};
  r.target.embedded = false;
  r.target.dsn_redacted = "postgresql://app@db/app";
  r.target.server.server_version = "15.18";
  r.target.server.max_connections = 100;
  r.target.server.superuser_reserved_connections = 3;
  r.target.connections_before = 4;
  auto& sh = r.shard.emplace();
  sh.shard = {spec.index, spec.count};
  sh.run_name = spec.run_name;
  sh.samples_server = spec.index == 0;
  sh.started_at_unix_ms = 1000 + spec.index * 7;
  sh.replicas = scenario::split_replicas(sc, spec.count)[static_cast<size_t>(spec.index)];
  r.checkout_waits = std::make_shared<util::LatencyHistogram>();
  auto lateness = std::make_shared<util::LatencyHistogram>();
  r.timeout_lateness = lateness;
  for (int i = 0; i < 10; ++i) {
    r.checkout_waits->record(util::Micros{100 * (spec.index + 1) + i});
  }
  for (const auto& ref : sh.replicas) {
    record::PoolOutcome p;
    p.process = sc.processes[ref.process].name;
    p.replica = ref.replica;
    p.stats.checkouts = 100;
    p.stats.connects = 2;
    p.outstanding = 1;
    r.pools.push_back(p);
  }
  for (int i = 0; i < spec.timeouts; ++i) {
    record::Event e;
    e.t_s = 1.0 + i;
    e.kind = record::kPoolTimeout;
    e.message = "QueuePool limit reached";
    e.waited_ms = 31;
    e.timeout_ms = 30;
    r.events.push_back(e);
    ++r.events_by_kind[e.kind];
    ++r.pool_timeouts;
    lateness->record(util::Micros{1000});
  }
  record::Sample s;
  s.t_s = 0.5;
  s.own = s.total = spec.index == 0 ? 9 : 0;
  s.by_state["idle"] = s.total;
  s.pools.push_back({"batch", 9, 1, 0, 0, 0, 1});
  r.samples.push_back(s);
  r.series.taken = 1;
  r.series.peak_own = s.own;
  r.series.peak_total = s.total;
  r.series.last = s;
  const auto summary = analysis::summarize(r, sc);
  const auto verdict = analysis::judge(summary, r, sc);
  return report::report_text(report::build_report(sc, r, summary, verdict));
}

std::string merge_error(const std::vector<report::ShardFile>& files) {
  try {
    report::merge_shards(files, catalog());
  } catch (const util::UsageError& e) {
    return e.what();
  }
  return "(merged)";
}

TEST(Merge, SumsTheShardsAndTakesTheServersViewFromShardZero) {
  const auto sc = fleet(2);
  const auto m = report::merge_shards({{"s1.json", shard_report(sc, {.index = 1, .timeouts = 2})},
                                       {"s0.json", shard_report(sc, {.index = 0, .timeouts = 1})}},
                                      catalog());
  EXPECT_EQ(m.result.pools.size(), 7u);  // every replica of the scenario
  EXPECT_EQ(m.result.pool_timeouts, 3u);
  EXPECT_EQ(m.result.events.size(), 3u);
  EXPECT_EQ(m.result.events_by_kind.at(record::kPoolTimeout), 3u);
  EXPECT_EQ(m.result.checkout_waits->count(), 20u);
  EXPECT_EQ(m.result.timeout_lateness->count(), 3u);
  EXPECT_EQ(m.result.series.peak_own, 9);
  EXPECT_EQ(m.result.target.connections_before, 4);
  ASSERT_EQ(m.result.samples.size(), 1u);
  EXPECT_EQ(m.result.samples[0].pools.size(), 2u);  // shard 0's pool line and shard 1's
  EXPECT_EQ(m.result.status, record::RunStatus::kCompleted);
  EXPECT_EQ(m.merge.at("start_skew_ms"), 7);
  EXPECT_EQ(m.scenario.digest, sc.digest);
  const auto summary = analysis::summarize(m.result, m.scenario);
  EXPECT_EQ(summary.checkouts, 700u);
  EXPECT_EQ(summary.held_at_end, 7);
}

// Reports written before this round's fields (cleanup.checked, a process's
// gc, a group's connect_retry, a lifecycle's startup, the budget's words)
// still merge, compare and draw: each new field is read with its old meaning
// when absent.
TEST(Merge, ReportsWithoutThisRoundsFieldsStillLoad) {
  const auto sc = fleet(2);
  const auto old = [&](int index) {
    auto doc = nlohmann::json::parse(shard_report(sc, {.index = index}));
    doc["cleanup"].erase("checked");
    for (auto& p : doc["scenario"]["processes"]) {
      p.erase("gc");
      for (auto& w : p["workers"]) {
        w.erase("connect_retry");
      }
    }
    for (auto& p : doc["budget"]["processes"]) {
      p.erase("unbounded_by");
    }
    doc["budget"].erase("worst_case_text");
    doc["budget"].erase("limit_explained");
    doc["run"].erase("engine");
    doc["run"].erase("engine_threads");
    doc["run"].erase("sessions_peak");
    return doc;
  };
  const auto m =
      report::merge_shards({{"s0.json", old(0).dump()}, {"s1.json", old(1).dump()}}, catalog());
  EXPECT_TRUE(m.result.cleanup_checked);
  EXPECT_EQ(m.result.pools.size(), 7u);
  EXPECT_EQ(m.result.engine, "");  // not said, so not guessed
  const auto cmp = report::compare_reports(old(0), old(1), 0.1);
  EXPECT_FALSE(report::format_comparison(cmp).empty());
  EXPECT_FALSE(report::render_html({{"old.json", old(0)}}).empty());
}

// What ran each shard's workers is listed per shard; the merged run names
// the engine when the shards agree, "mixed" when they do not, and leaves a
// shard's unknown word out.
TEST(Merge, TheEngineIsTheShardsOwnOrMixed) {
  const auto sc = fleet(2);
  const auto merged = [&](const std::string& a, const std::string& b) {
    auto one = nlohmann::json::parse(shard_report(sc, {.index = 1, .engine = b}));
    if (b == "warp drive") {
      one["run"]["engine"] = b;
    }
    return report::merge_shards(
        {{"s0.json", shard_report(sc, {.index = 0, .engine = a})}, {"s1.json", one.dump()}},
        catalog());
  };
  const auto same = merged("fibers", "fibers");
  EXPECT_EQ(same.result.engine, "fibers");
  EXPECT_EQ(same.result.engine_threads, 0);  // each shard's own, in the listing only
  const auto mixed = merged("fibers", "threads");
  EXPECT_EQ(mixed.result.engine, "mixed");
  EXPECT_EQ(mixed.merge.at("shards").at(1).at("engine"), "threads");
  const auto odd = merged("threads", "warp drive");
  EXPECT_EQ(odd.result.engine, "threads");
  EXPECT_TRUE(odd.merge.at("shards").at(1).at("engine").is_null());
  const auto doc = report::build_report(
      same.scenario, same.result, analysis::summarize(same.result, same.scenario),
      analysis::judge(analysis::summarize(same.result, same.scenario), same.result, same.scenario));
  EXPECT_EQ(doc.at("run").at("engine"), "fibers");
  EXPECT_TRUE(doc.at("run").at("engine_threads").is_null());
}

// Each shard counted its own sessions; their peaks need not have come at
// once, so the merged run has none, and each shard's is listed as it said.
TEST(Merge, EachShardsPeakOfSessionsIsListedAndTheMergeClaimsNone) {
  const auto sc = fleet(2);
  const auto m = report::merge_shards(
      {{"s0.json", shard_report(sc, {.index = 0})}, {"s1.json", shard_report(sc, {.index = 1})}},
      catalog());
  EXPECT_FALSE(m.result.sessions_peak);
  const auto& shards = m.merge.at("shards");
  EXPECT_EQ(shards.at(0).at("sessions_peak"), (nlohmann::json{{"open", 3}, {"at_s", 1.5}}));
  EXPECT_EQ(shards.at(1).at("sessions_peak"), (nlohmann::json{{"open", 4}, {"at_s", 2.5}}));
  const auto doc = report::build_report(
      m.scenario, m.result, analysis::summarize(m.result, m.scenario),
      analysis::judge(analysis::summarize(m.result, m.scenario), m.result, m.scenario));
  EXPECT_TRUE(doc.at("run").at("sessions_peak").is_null());

  // A shard's file is read, not copied: a count that is not one is refused.
  auto bad = nlohmann::json::parse(shard_report(sc, {.index = 1}));
  for (const auto& open : {nlohmann::json("many"), nlohmann::json(-3)}) {
    bad["run"]["sessions_peak"]["open"] = open;
    const auto said =
        merge_error({{"s0.json", shard_report(sc, {.index = 0})}, {"s1.json", bad.dump()}});
    EXPECT_EQ(said.rfind("s1.json: ", 0), 0U) << said;
  }
}

TEST(Merge, AShardThatEndedEarlyIsNamedAndTheRunDidNotComplete) {
  const auto sc = fleet(2);
  const auto m = report::merge_shards(
      {{"s0.json", shard_report(sc, {.index = 0})},
       {"s1.json", shard_report(sc, {.index = 1, .status = record::RunStatus::kInterrupted})}},
      catalog());
  EXPECT_EQ(m.result.status, record::RunStatus::kInterrupted);
  EXPECT_NE(m.result.status_detail.find("shard 1/2"), std::string::npos) << m.result.status_detail;
  ASSERT_EQ(m.merge.at("ended_early").size(), 1u);
  EXPECT_FALSE(m.merge.at("shards").at(0).at("ended_early").get<bool>());
  EXPECT_TRUE(m.merge.at("shards").at(1).at("ended_early").get<bool>());
}

TEST(Merge, RefusesEveryKindOfMismatchedInput) {
  const auto sc = fleet(2);
  const auto s0 = shard_report(sc, {.index = 0});
  const auto s1 = shard_report(sc, {.index = 1});
  const auto expect = [](const std::vector<report::ShardFile>& files, const std::string& what) {
    const auto error = merge_error(files);
    EXPECT_NE(error.find(what), std::string::npos) << "wanted \"" << what << "\", got " << error;
  };
  expect({{"s0.json", s0}}, "missing shard(s) 1 of 2");
  expect({{"s0.json", s0}, {"again.json", s0}, {"s1.json", s1}}, "given twice");
  expect({{"s0.json", s0}, {"x.json", shard_report(sc, {.index = 1, .run_id = "zzz999"})}},
         "different runs");
  expect({{"s0.json", s0}, {"x.json", shard_report(sc, {.index = 1, .run_name = "other"})}},
         "different runs");
  expect({{"s0.json", s0}, {"x.json", shard_report(sc, {.index = 1, .count = 3})}}, "the same N");
  // N is bounded as --shard's is: a report may claim any, and merge sizes its table by it.
  auto vast = json::parse(s0);
  vast["shard"]["count"] = 2'000'000'000;
  expect({{"vast.json", vast.dump()}}, "vast.json: shard 0/2000000000: N must be from 1 to 999");
  // Past int's range, a count is refused, never wrapped (2^32 + 2 is not 2).
  auto wrapped = json::parse(s1);
  wrapped["shard"]["count"] = (int64_t{1} << 32) + 2;
  expect({{"s0.json", s0}, {"wrapped.json", wrapped.dump()}}, "4294967298 is not an int");
  // So is a report holding more events than pgleak writes.
  auto crowded = json::parse(s1);
  crowded["events"] = json::array();
  for (size_t i = 0; i <= record::Recorder::kMaxEvents; ++i) {
    crowded["events"].push_back(0);
  }
  expect({{"s0.json", s0}, {"crowded.json", crowded.dump()}}, "holds 20001 events");
  expect({{"s0.json", s0}, {"x.json", shard_report(fleet(2, 6), {.index = 1})}},
         "different scenarios");
  expect({{"s0.json", s0}, {"x.json", "{not json"}}, "x.json: not JSON");
  expect({{"s0.json", s0}, {"x.json", R"({"schema": "something/1"})"}}, "not a pgleak report");
  auto unsharded = json::parse(s1);
  unsharded["shard"] = nullptr;
  expect({{"s0.json", s0}, {"x.json", unsharded.dump()}}, "not sharded");
  auto merged = json::parse(s1);
  merged["merge"] = json::object();
  expect({{"s0.json", s0}, {"x.json", merged.dump()}}, "a merged report");
  auto edited = json::parse(s0);
  auto text = edited["shard"]["scenario_text"].get<std::string>();
  text.replace(text.find("\"pool_size\": 2"), 14, "\"pool_size\": 9");
  edited["shard"]["scenario_text"] = text;
  expect({{"s0.json", edited.dump()}, {"s1.json", s1}}, "does not match its scenario_digest");
  auto foreign = json::parse(s1);
  foreign["pools"][0]["replica"] = 0;  // api.0 runs on shard 0
  expect({{"s0.json", s0}, {"x.json", foreign.dump()}}, "which is not shard 1/2's");
  auto broken = json::parse(s1);
  broken.erase("pools");
  expect({{"s0.json", s0}, {"x.json", broken.dump()}}, "lacks a field");
  auto bad_histogram = json::parse(s1);
  bad_histogram["shard"]["histograms"]["checkout_waits"]["buckets"] = json::array({{99999, 1}});
  expect({{"s0.json", s0}, {"x.json", bad_histogram.dump()}}, "malformed histogram");
  auto huge = json::parse(s1);
  huge["pools"][0]["replica"] = 1e300;
  expect({{"s0.json", s0}, {"x.json", huge.dump()}}, "out of range");
  json deep = json::parse(s1);
  json* at = &deep["events"];
  for (int i = 0; i < 40; ++i) {
    *at = json::array({json::array()});
    at = &(*at)[0];
  }
  expect({{"s0.json", s0}, {"x.json", deep.dump()}}, "nested deeper");
  expect({}, "no shard reports");
}

// A shard killed before its report: its timeline stands in for it.
std::string timeline_of_killed_shard(const ShardSpec& spec, const std::string& digest) {
  std::string lines = record::json_line(
      {{"run_id", spec.run_id},
       {"scenario_digest", digest},
       {"shard", {{"index", spec.index}, {"count", spec.count}, {"run_name", spec.run_name}}}},
      "header");
  record::Event e;
  e.t_s = 2.5;
  e.kind = record::kConnectError;
  e.sqlstate = "53300";
  e.message = "sorry, too many clients already";
  lines += record::json_line(record::event_json(e), "event");
  record::Sample s;
  s.t_s = 2.0;
  s.pools.push_back({"api", 1, 3, 0, 1, 2, 3});
  lines += record::json_line(record::sample_json(s), "sample");
  return gzipped(lines, false);  // no end line, and no gzip trailer: the writer was killed
}

TEST(Merge, AKilledShardIsTakenFromItsTimelineAndSaidToHaveEndedEarly) {
  const auto sc = fleet(2);
  const auto m = report::merge_shards(
      {{"s0.json", shard_report(sc, {.index = 0})},
       {"s1.timeline.jsonl.gz", timeline_of_killed_shard({.index = 1}, sc.digest)}},
      catalog());
  EXPECT_EQ(m.result.errors_by_sqlstate.at("53300"), 1u);
  EXPECT_EQ(m.result.status, record::RunStatus::kInterrupted);
  const auto& entry = m.merge.at("shards").at(1);
  EXPECT_EQ(entry.at("status"), "killed");
  EXPECT_NE(entry.at("status_detail").get<std::string>().find("cut off at 2.5s"), std::string::npos)
      << entry.dump();
  ASSERT_EQ(m.result.samples.size(), 1u);
  EXPECT_EQ(m.result.samples[0].pools.size(), 2u);
  // A report wins over the timeline of the same shard.
  const auto both = report::merge_shards(
      {{"s0.json", shard_report(sc, {.index = 0})},
       {"s1.timeline.jsonl.gz", timeline_of_killed_shard({.index = 1}, sc.digest)},
       {"s1.json", shard_report(sc, {.index = 1})}},
      catalog());
  EXPECT_EQ(both.result.status, record::RunStatus::kCompleted);
  EXPECT_EQ(both.result.errors_by_sqlstate.count("53300"), 0u);
  // Shard 0 killed: the target as shard 1 saw it, and no server view.
  const auto no_zero = report::merge_shards(
      {{"s0.timeline.jsonl.gz", timeline_of_killed_shard({.index = 0}, sc.digest)},
       {"s1.json", shard_report(sc, {.index = 1})}},
      catalog());
  EXPECT_EQ(no_zero.result.target.server.max_connections, 100);
  EXPECT_EQ(no_zero.merge.at("shards").at(0).at("status"), "killed");
  auto no_target = json::parse(shard_report(sc, {.index = 1}));
  no_target["shard"].erase("target_info");
  EXPECT_NE(
      merge_error({{"s0.timeline.jsonl.gz", timeline_of_killed_shard({.index = 0}, sc.digest)},
                   {"s1.json", no_target.dump()}})
          .find("lacks a field"),
      std::string::npos);
  // A line that is not JSON is named by its number in the file: the header
  // is line 1, so a broken third line comes after one event.
  const std::string header =
      record::json_line({{"run_id", "abc123"},
                         {"scenario_digest", sc.digest},
                         {"shard", {{"index", 1}, {"count", 2}, {"run_name", "nightly"}}}},
                        "header");
  record::Event event;
  event.kind = record::kConnectError;
  const auto garbled = merge_error(
      {{"s0.json", shard_report(sc, {.index = 0})},
       {"s1.gz", gzipped(header + record::json_line(record::event_json(event), "event") + "{oops\n",
                         true)}});
  EXPECT_NE(garbled.find("s1.gz: line 3 of the timeline is not JSON"), std::string::npos)
      << garbled;
  // A timeline of another scenario is refused like a report would be.
  EXPECT_NE(merge_error({{"s0.json", shard_report(sc, {.index = 0})},
                         {"s1.gz", timeline_of_killed_shard({.index = 1}, "0000000000000000")}})
                .find("different scenarios"),
            std::string::npos);
}

}  // namespace
}  // namespace pgleak

// What a run keeps in memory (the bounded series, folded samples) and what it
// streams to disk (the side file), without a server.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "../timeline_lines.hpp"
#include "record/record_json.hpp"
#include "record/recorder.hpp"
#include "record/series.hpp"
#include "record/side_file.hpp"
#include "util/errors.hpp"

namespace pgleak::record {
namespace {

namespace fs = std::filesystem;

Sample sample_at(int i, int own) {
  Sample s;
  s.t_s = i * 0.05;
  s.own = s.total = own;
  s.by_state["idle in transaction"] = own / 2;
  s.by_state["idle"] = own - own / 2;
  return s;
}

TEST(BoundedSeries, KeepsEverySampleOfAShortRun) {
  BoundedSeries series{100};
  for (int i = 0; i < 99; ++i) {
    series.add(sample_at(i, i % 7));
  }
  const auto kept = series.kept();
  ASSERT_EQ(kept.size(), 99u);
  for (int i = 0; i < 99; ++i) {
    EXPECT_DOUBLE_EQ(kept[i].t_s, i * 0.05);
    EXPECT_EQ(kept[i].own, i % 7);
  }
}

TEST(BoundedSeries, AnHourAt20HzStaysBoundedAndKeepsItsPeaks) {
  constexpr int kTaken = 72000;  // one hour at 20 Hz
  std::mt19937 rng{7};
  std::uniform_int_distribution<int> noise{0, 9};
  BoundedSeries series{Recorder::kKeptSamples};
  std::set<double> taken_at;
  int peak = -1;
  double peak_at = 0;
  int low = 1 << 30;
  double low_at = 0;
  uint64_t waiting = 0;
  for (int i = 0; i < kTaken; ++i) {
    // A slow climb with noise, one spike, and one dip.
    int own = 20 + i / 1000 + noise(rng);
    own = i == 31337 ? 500 : i == 4242 ? 0 : own;
    Sample s = sample_at(i, own);
    if (i % 10 == 0) {
      s.pools.push_back({"p", 0, 1, 0, 0, 1, 1});
      ++waiting;
    }
    taken_at.insert(s.t_s);
    if (own > peak) {
      peak = own;
      peak_at = s.t_s;
    }
    if (own < low) {
      low = own;
      low_at = s.t_s;
    }
    series.add(std::move(s));
  }
  const auto kept = series.kept();
  EXPECT_EQ(kept.size(), Recorder::kKeptSamples);
  bool has_peak = false;
  bool has_low = false;
  for (size_t i = 0; i < kept.size(); ++i) {
    // Real samples, in time order, each still adding up.
    EXPECT_TRUE(taken_at.contains(kept[i].t_s));
    if (i > 0) {
      EXPECT_GT(kept[i].t_s, kept[i - 1].t_s);
    }
    int states = 0;
    for (const auto& [state, n] : kept[i].by_state) {
      states += n;
    }
    EXPECT_EQ(states, kept[i].total);
    has_peak = has_peak || (kept[i].t_s == peak_at && kept[i].own == 500);
    has_low = has_low || (kept[i].t_s == low_at && kept[i].own == 0);
  }
  EXPECT_TRUE(has_peak);
  EXPECT_TRUE(has_low);
  // The climb survives: the kept series' maxima rise from the first tenth to the last.
  EXPECT_LT(kept[kept.size() / 10].own, kept[kept.size() * 9 / 10].own);
  const auto& st = series.stats();
  EXPECT_EQ(st.taken, static_cast<uint64_t>(kTaken));
  EXPECT_EQ(st.peak_own, 500);
  EXPECT_DOUBLE_EQ(st.peak_own_at_s, peak_at);
  EXPECT_EQ(st.with_waiters, waiting);
  ASSERT_TRUE(st.last);
  EXPECT_DOUBLE_EQ(st.last->t_s, (kTaken - 1) * 0.05);
}

// Past its capacity a series keeps exactly that many, whatever the run's
// length: a run ten times as long keeps as many samples (its report is no
// larger for them).
TEST(BoundedSeries, LongerRunsKeepAsManySamples) {
  for (const int taken : {1501, 2999, 3001, 15000, 150000}) {
    BoundedSeries series{1500};
    for (int i = 0; i < taken; ++i) {
      series.add(sample_at(i, (i * 7919) % 101));
    }
    const auto kept = series.kept();
    EXPECT_EQ(kept.size(), 1500u) << taken;
    for (size_t i = 1; i < kept.size(); ++i) {
      ASSERT_GT(kept[i].t_s, kept[i - 1].t_s) << taken;
    }
  }
}

TEST(BoundedSeries, AFlatRunKeepsItsEnds) {
  BoundedSeries series{10};
  for (int i = 0; i < 1000; ++i) {
    series.add(sample_at(i, 3));
  }
  const auto kept = series.kept();
  ASSERT_LE(kept.size(), 10u);
  EXPECT_DOUBLE_EQ(kept.front().t_s, 0);
  EXPECT_DOUBLE_EQ(series.stats().peak_own_at_s, 0);  // the first sample at the peak
}

TEST(FoldSample, ManyReplicasBecomeOneLinePerProcess) {
  Sample s = sample_at(0, 0);
  for (int r = 0; r < 100; ++r) {
    s.pools.push_back({r < 60 ? "web" : "jobs", r, 1, 2, 0, r % 2, 3});
    s.by_application["pgleak/abcdef/web." + std::to_string(r) + "/scoped"] = 1;
  }
  fold_sample(s);
  EXPECT_TRUE(s.folded);
  EXPECT_TRUE(s.by_application.empty());
  ASSERT_EQ(s.pools.size(), 2u);
  const auto& jobs = s.pools[0];  // in name order
  const auto& web = s.pools[1];
  EXPECT_EQ(jobs.process, "jobs");
  EXPECT_EQ(jobs.replica, -1);
  EXPECT_EQ(jobs.replicas, 40);
  EXPECT_EQ(jobs.checked_out, 40);
  EXPECT_EQ(jobs.idle, 80);
  EXPECT_EQ(jobs.waiting, 20);
  EXPECT_EQ(jobs.open, 120);
  EXPECT_EQ(web.replicas, 60);
  EXPECT_EQ(web.waiting, 30);
  const auto j = sample_json(s);
  EXPECT_TRUE(j.at("folded").get<bool>());
  EXPECT_EQ(j.at("pools")[1].at("replicas"), 60);
  EXPECT_FALSE(j.at("pools")[1].contains("replica"));
}

TEST(FoldSample, ASmallSampleIsLeftAsItIs) {
  Sample s = sample_at(0, 2);
  for (int r = 0; r < static_cast<int>(kMaxDetailPerSample); ++r) {
    s.pools.push_back({"web", r, 1, 0, 0, 0, 1});
  }
  s.by_application["x"] = 2;
  fold_sample(s);
  EXPECT_FALSE(s.folded);
  EXPECT_EQ(s.pools.size(), kMaxDetailPerSample);
  EXPECT_EQ(s.by_application.size(), 1u);
  EXPECT_FALSE(sample_json(s).contains("folded"));
}

// record::sample_line writes by hand what json_line(sample_json(s)) builds:
// the same bytes, for every member and for strings a server or a scenario
// could make awkward.
TEST(SampleLine, IsTheDocumentsLineByteForByte) {
  std::vector<Sample> samples;
  samples.push_back(Sample{});  // all empty, zeros
  Sample s = sample_at(7, 3);
  s.t_s = 1e-7;
  s.lag_ms = 123456789.125;
  s.by_application["quote\" back\\ tab\t nl\n"] = 1;
  s.by_application[std::string{"bad \xff\xfe utf8 \x01"}] = 2;
  s.by_application["caf\xc3\xa9"] = -4;
  s.by_process["web"] = 3;
  s.pools.push_back({"web", 0, 1, 2, 3, 4, 5});
  s.pools.push_back({"web", 1, 0, 0, 0, 0, 0});
  s.pools.push_back({"\x1f\"odd\\", 0, 9, 8, 7, 6, 5});
  s.pools.push_back({"web", 2, 1, 1, 1, 1, 1});
  samples.push_back(s);
  Sample folded = s;
  folded.folded = true;
  folded.pools = {{"jobs", -1, 40, 80, 0, 20, 120, 40}};
  folded.pgbouncer = PgBouncerSample{1, 2, 3, 4, 5, 6, 0.1, 18446744073709551615ULL, 42, 1e300};
  samples.push_back(folded);
  Sample whole = s;
  whole.t_s = 3.0;
  whole.lag_ms = 0.0;
  whole.pgbouncer = PgBouncerSample{};
  samples.push_back(whole);
  for (const auto& sample : samples) {
    EXPECT_EQ(sample_line(sample), json_line(sample_json(sample), "sample"));
  }
}

std::vector<nlohmann::json> read_lines(const fs::path& path) {
  return test_support::timeline_lines(path);
}

class SideFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("pgleak-record-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(SideFileTest, EveryLineFromEveryThreadArrivesBetweenHeaderAndEnd) {
  const auto path = dir_ / "t.timeline.jsonl.gz";
  SideFile file{path.string(), {{"run_id", "abc123"}}};
  constexpr int kThreads = 4;
  constexpr int kEach = 5000;
  std::vector<std::jthread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&file, t] {
      for (int i = 0; i < kEach; ++i) {
        Event e;
        e.t_s = i;
        e.kind = "query_error";
        e.worker = "w." + std::to_string(t);
        file.append(json_line(event_json(e), "event"));
      }
    });
  }
  threads.clear();
  const auto status = file.close({{"status", "completed"}});
  EXPECT_EQ(status.error, "");
  EXPECT_EQ(status.dropped, 0u);
  EXPECT_EQ(status.lines, static_cast<uint64_t>(kThreads * kEach + 2));
  EXPECT_GT(status.compressed_bytes, 0u);
  const auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kEach + 2));
  EXPECT_EQ(lines.front().at("type"), "header");
  EXPECT_EQ(lines.front().at("schema"), "pgleak.timeline/1");
  EXPECT_EQ(lines.front().at("run_id"), "abc123");
  EXPECT_EQ(lines.back().at("type"), "end");
  std::map<std::string, int> per_worker;
  for (size_t i = 1; i + 1 < lines.size(); ++i) {
    ++per_worker[lines[i].at("worker").get<std::string>()];
  }
  EXPECT_EQ(per_worker.size(), static_cast<size_t>(kThreads));
  for (const auto& [worker, n] : per_worker) {
    EXPECT_EQ(n, kEach) << worker;
  }
  // Compressed: repetitive JSON shrinks to well under a tenth.
  EXPECT_LT(status.compressed_bytes, fs::file_size(path) + 64);
}

TEST_F(SideFileTest, WhatWasAppendedIsReadableBeforeTheFileIsClosed) {
  // A run killed with SIGKILL never closes its file: what the writer flushed
  // must decompress on its own.
  const auto path = dir_ / "live.jsonl.gz";
  SideFile file{path.string(), {{"run_id", "r"}}};
  Sample s = sample_at(1, 4);
  file.append(json_line(sample_json(s), "sample"));
  std::vector<nlohmann::json> lines;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  while (lines.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    lines = read_lines(path);  // the writer flushes every 250 ms
    std::this_thread::yield();
  }
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1].at("type"), "sample");
  EXPECT_EQ(lines[1].at("own"), 4);
  file.close({});
}

TEST_F(SideFileTest, APlantedSymlinkIsReplacedNeverWrittenThrough) {
  const auto victim = dir_ / "victim";
  { std::ofstream{victim} << "precious"; }
  const auto path = dir_ / "t.jsonl.gz";
  fs::create_symlink(victim, path);
  EXPECT_THROW(SideFile(path.string(), {}), util::InfrastructureError);
  std::ifstream in{victim};
  std::string text;
  in >> text;
  EXPECT_EQ(text, "precious");
}

TEST_F(SideFileTest, AFullDiskIsAClearError) {
  try {
    SideFile file{"/dev/full", {{"run_id", "r"}}};
    FAIL() << "writing to /dev/full succeeded";
  } catch (const util::InfrastructureError& e) {
    EXPECT_NE(std::string{e.what()}.find("/dev/full"), std::string::npos) << e.what();
    EXPECT_NE(std::string{e.what()}.find("No space left"), std::string::npos) << e.what();
  }
}

TEST_F(SideFileTest, TheRecorderStreamsWhatItDropsFromMemory) {
  const auto path = dir_ / "rec.jsonl.gz";
  SideFile file{path.string(), {}};
  Recorder recorder{Recorder::Clock::now(), /*max_events=*/10, /*kept_samples=*/20};
  recorder.stream_to(&file);
  for (int i = 0; i < 100; ++i) {
    Event e;
    e.t_s = i + 1;
    e.kind = kPoolTimeout;
    e.waited_ms = 30.0 + i * 0.01;
    e.timeout_ms = 30.0;
    recorder.add_event(e);
    recorder.add_sample(sample_at(i, i));
  }
  EXPECT_EQ(recorder.events().size(), 10u);
  EXPECT_EQ(recorder.dropped_events(), 90u);
  EXPECT_EQ(recorder.events_by_kind().at(kPoolTimeout), 100u);
  EXPECT_EQ(recorder.pool_timeouts(), 100u);
  EXPECT_EQ(recorder.timeout_lateness().count(), 100u);
  EXPECT_LE(recorder.samples().size(), 20u);
  EXPECT_EQ(recorder.series_stats().taken, 100u);
  const auto status = file.close({});
  EXPECT_EQ(status.lines, 202u);
  int samples = 0;
  int events = 0;
  for (const auto& line : read_lines(path)) {
    samples += line.at("type") == "sample" ? 1 : 0;
    events += line.at("type") == "event" ? 1 : 0;
  }
  EXPECT_EQ(samples, 100);
  EXPECT_EQ(events, 100);
}

}  // namespace
}  // namespace pgleak::record

#include "util/latency_histogram.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace pgleak::util {
namespace {

TEST(LatencyHistogram, EmptyIsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.quantile(0.99), Micros{0});
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  for (int i = 1; i <= 50; ++i) {
    h.record(Micros{i});
  }
  EXPECT_EQ(h.quantile(0.5), Micros{25});
  EXPECT_EQ(h.quantile(1.0), Micros{50});
  EXPECT_EQ(h.max(), Micros{50});
}

TEST(LatencyHistogram, QuantilesWithinRelativeErrorOfExact) {
  LatencyHistogram h;
  std::mt19937 rng{42};
  std::lognormal_distribution<double> dist{8.0, 1.5};  // ~3 ms median, long tail
  std::vector<int64_t> values;
  for (int i = 0; i < 100000; ++i) {
    const auto v = static_cast<int64_t>(dist(rng));
    values.push_back(v);
    h.record(Micros{v});
  }
  std::sort(values.begin(), values.end());
  for (const double q : {0.5, 0.95, 0.99}) {
    const auto exact = static_cast<double>(values[static_cast<size_t>(q * values.size()) - 1]);
    const auto approx = static_cast<double>(h.quantile(q).count());
    EXPECT_NEAR(approx, exact, exact * 0.02 + 1) << "q=" << q;
  }
  EXPECT_EQ(h.max().count(), values.back());
}

TEST(LatencyHistogram, MergeAddsCountsAndMax) {
  LatencyHistogram a;
  LatencyHistogram b;
  a.record(Micros{10});
  b.record(Micros{5000});
  b.record(Micros{7000});
  a.merge_from(b);
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(a.max(), Micros{7000});
  EXPECT_GE(a.quantile(0.5).count(), 4900);
}

TEST(LatencyHistogram, ConcurrentRecordsAreAllCounted) {
  LatencyHistogram h;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        h.record(Micros{i});
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(h.count(), 40000u);
  EXPECT_EQ(h.max(), Micros{9999});
}

// A pool records under its own mutex (record_serialized): writers on several
// threads, ordered by that lock, while a reader reads without it, lose
// nothing and fill the same buckets as record() does.
TEST(LatencyHistogram, SerializedRecordsUnderOneLockMatchRecord) {
  LatencyHistogram serialized;
  LatencyHistogram plain;
  std::mutex lock;
  std::atomic<bool> writing{true};
  std::thread reader{[&] {
    uint64_t last = 0;
    while (writing.load()) {
      const uint64_t now = serialized.count();
      EXPECT_GE(now, last);  // a reader never sees the count go back
      last = now;
    }
  }};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        std::lock_guard guard{lock};
        serialized.record_serialized(Micros{i * (t + 1)});
      }
    });
  }
  for (auto& w : writers) {
    w.join();
  }
  writing = false;
  reader.join();
  for (int t = 0; t < 4; ++t) {
    for (int i = 0; i < 10000; ++i) {
      plain.record(Micros{i * (t + 1)});
    }
  }
  EXPECT_EQ(serialized.count(), 40000u);
  EXPECT_EQ(serialized.max(), Micros{9999 * 4});
  EXPECT_EQ(serialized.buckets().counts, plain.buckets().counts);
}

}  // namespace
}  // namespace pgleak::util

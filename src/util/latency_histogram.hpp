#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "util/duration.hpp"

namespace pgleak::util {

// A fixed-memory, lock-free latency histogram (log-linear buckets, relative
// error under 1/kSubBuckets). Checkout waits are recorded from every worker
// thread; a vector of samples would grow without bound on long runs.
//
// Thread-safety: record() and the readers may run concurrently from any
// thread. Readers see a consistent-enough view: each bucket is read atomically,
// the set of buckets is not a snapshot (fine for percentiles of a live run).
class LatencyHistogram {
 public:
  void record(Micros value) noexcept;
  // Adds every value `other` holds (to summarise all pools of a run).
  void merge_from(const LatencyHistogram& other) noexcept;

  uint64_t count() const noexcept;
  Micros max() const noexcept;
  // q in [0, 1]; returns the upper bound of the bucket holding the q-quantile,
  // capped at the largest value recorded. Zero when empty.
  Micros quantile(double q) const noexcept;
  // How many values were at most `bound` (to within a bucket's width).
  uint64_t count_at_most(Micros bound) const noexcept;

 private:
  static constexpr int kSubBucketBits = 6;  // 64 sub-buckets: < 1.6% error
  static constexpr int kSubBuckets = 1 << kSubBucketBits;
  static constexpr int kMagnitudes = 40;  // up to 2^40 us, about 12 days
  static constexpr int kBuckets = kMagnitudes * kSubBuckets;

  static int bucket_of(uint64_t us) noexcept;
  static uint64_t upper_bound_of(int bucket) noexcept;

  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<int64_t> max_us_{0};
};

}  // namespace pgleak::util

#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

#include "util/duration.hpp"

namespace pgleak::util {

// A bounded-memory, lock-free latency histogram (log-linear buckets,
// relative error under 1/kSubBuckets). Checkout waits are recorded from every
// worker thread; a vector of samples would grow without bound on long runs.
// Each magnitude's buckets (512 bytes) are allocated when a value first falls
// in it, so an empty histogram costs 320 bytes, not 20 KiB: a run keeps one
// per pool and per worker group of each of its (possibly 1,000s of) replicas.
//
// Thread-safety: record() and the readers may run concurrently from any
// thread. Readers see a consistent-enough view: each bucket is read atomically,
// the set of buckets is not a snapshot (fine for percentiles of a live run).
// record_serialized() is for a histogram whose writers already hold one lock
// (a pool's ledger): it skips the read-modify-write instructions, and readers
// may still run concurrently. One histogram uses one of the two, never both.
class LatencyHistogram {
 public:
  LatencyHistogram() = default;
  ~LatencyHistogram();
  LatencyHistogram(const LatencyHistogram&) = delete;
  LatencyHistogram& operator=(const LatencyHistogram&) = delete;

  // Allocates a magnitude's buckets the first time (std::bad_alloc aside,
  // never fails).
  void record(Micros value);
  // As record(), for a caller whose every write to this histogram happens
  // under one lock it holds (about 10 ns less on a pool's checkout).
  void record_serialized(Micros value);
  // Adds every value `other` holds (to summarise all pools of a run).
  void merge_from(const LatencyHistogram& other);

  uint64_t count() const noexcept;
  Micros max() const noexcept;
  // q in [0, 1]; returns the upper bound of the bucket holding the q-quantile,
  // capped at the largest value recorded. Zero when empty.
  Micros quantile(double q) const noexcept;
  // How many values were at most `bound` (to within a bucket's width).
  uint64_t count_at_most(Micros bound) const noexcept;

  // Everything a histogram holds, to write down and read back exactly (a
  // shard's report, read by `pgleak merge`): its non-empty buckets as
  // (bucket, count) in bucket order, and the largest value.
  struct Buckets {
    std::vector<std::pair<int, uint64_t>> counts;
    Micros max{0};
  };
  Buckets buckets() const;
  // Adds what buckets() wrote (of this histogram or another). Throws
  // std::invalid_argument for a bucket that does not exist or a negative max.
  void add_buckets(const Buckets& buckets);

 private:
  static constexpr int kSubBucketBits = 6;  // 64 sub-buckets: < 1.6% error
  static constexpr int kSubBuckets = 1 << kSubBucketBits;
  static constexpr int kMagnitudes = 40;  // up to 2^40 us, about 12 days
  static constexpr int kBuckets = kMagnitudes * kSubBuckets;

  using Block = std::array<std::atomic<uint64_t>, kSubBuckets>;

  static int bucket_of(uint64_t us) noexcept;
  static uint64_t upper_bound_of(int bucket) noexcept;
  // The count in `bucket`, 0 when its magnitude was never used.
  uint64_t load(int bucket) const noexcept;
  // Adds n to `bucket`, allocating its magnitude's block the first time.
  void add(int bucket, uint64_t n);
  // The counter of `bucket`, allocating its magnitude's block the first time.
  std::atomic<uint64_t>& counter(int bucket);

  std::array<std::atomic<Block*>, kMagnitudes> blocks_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<int64_t> max_us_{0};
};

}  // namespace pgleak::util

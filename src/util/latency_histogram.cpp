#include "util/latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>

namespace pgleak::util {

// Values below kSubBuckets go to bucket == value (exact). Above, a value with
// its highest bit at position p (p >= kSubBucketBits) lands in magnitude
// p - kSubBucketBits + 1, sub-bucket = the kSubBucketBits bits below the top.
int LatencyHistogram::bucket_of(uint64_t us) noexcept {
  if (us < kSubBuckets) {
    return static_cast<int>(us);
  }
  const int top = std::bit_width(us) - 1;
  const int magnitude = top - kSubBucketBits + 1;
  const auto sub = static_cast<int>((us >> (top - kSubBucketBits)) & (kSubBuckets - 1));
  return std::min(magnitude * kSubBuckets + sub, kBuckets - 1);
}

uint64_t LatencyHistogram::upper_bound_of(int bucket) noexcept {
  const int magnitude = bucket / kSubBuckets;
  const int sub = bucket % kSubBuckets;
  if (magnitude == 0) {
    return static_cast<uint64_t>(sub);
  }
  const int shift = magnitude - 1;
  const uint64_t base = (uint64_t{kSubBuckets} + static_cast<uint64_t>(sub)) << shift;
  return base + ((uint64_t{1} << shift) - 1);
}

LatencyHistogram::~LatencyHistogram() {
  for (auto& block : blocks_) {
    delete block.load(std::memory_order_relaxed);
  }
}

uint64_t LatencyHistogram::load(int bucket) const noexcept {
  const Block* block =
      blocks_[static_cast<size_t>(bucket / kSubBuckets)].load(std::memory_order_acquire);
  return block == nullptr
             ? 0
             : (*block)[static_cast<size_t>(bucket % kSubBuckets)].load(std::memory_order_relaxed);
}

std::atomic<uint64_t>& LatencyHistogram::counter(int bucket) {
  auto& slot = blocks_[static_cast<size_t>(bucket / kSubBuckets)];
  Block* block = slot.load(std::memory_order_acquire);
  if (block == nullptr) {
    auto fresh = std::make_unique<Block>();  // value-initialized: zero counts
    // Another thread may get there first: then its block is used, and ours freed.
    if (slot.compare_exchange_strong(block, fresh.get(), std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
      block = fresh.release();
    }
  }
  return (*block)[static_cast<size_t>(bucket % kSubBuckets)];
}

void LatencyHistogram::add(int bucket, uint64_t n) {
  counter(bucket).fetch_add(n, std::memory_order_relaxed);
}

void LatencyHistogram::record(Micros value) {
  const int64_t us = std::max<int64_t>(0, value.count());
  add(bucket_of(static_cast<uint64_t>(us)), 1);
  count_.fetch_add(1, std::memory_order_relaxed);
  int64_t seen = max_us_.load(std::memory_order_relaxed);
  while (us > seen && !max_us_.compare_exchange_weak(seen, us, std::memory_order_relaxed)) {
  }
}

void LatencyHistogram::record_serialized(Micros value) {
  // The caller's lock orders the writers: plain loads and stores of the
  // atomics suffice, and a concurrent reader still reads whole values.
  const int64_t us = std::max<int64_t>(0, value.count());
  auto& bucket = counter(bucket_of(static_cast<uint64_t>(us)));
  bucket.store(bucket.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if (us > max_us_.load(std::memory_order_relaxed)) {
    max_us_.store(us, std::memory_order_relaxed);
  }
}

void LatencyHistogram::merge_from(const LatencyHistogram& other) {
  for (int i = 0; i < kBuckets; ++i) {
    if (const uint64_t n = other.load(i); n > 0) {
      add(i, n);
    }
  }
  count_.fetch_add(other.count(), std::memory_order_relaxed);
  const int64_t theirs = other.max().count();
  int64_t seen = max_us_.load(std::memory_order_relaxed);
  while (theirs > seen && !max_us_.compare_exchange_weak(seen, theirs, std::memory_order_relaxed)) {
  }
}

LatencyHistogram::Buckets LatencyHistogram::buckets() const {
  Buckets out;
  for (int i = 0; i < kBuckets; ++i) {
    if (const uint64_t n = load(i); n > 0) {
      out.counts.emplace_back(i, n);
    }
  }
  out.max = max();
  return out;
}

void LatencyHistogram::add_buckets(const Buckets& in) {
  for (const auto& [bucket, n] : in.counts) {
    if (bucket < 0 || bucket >= kBuckets) {
      throw std::invalid_argument("histogram bucket " + std::to_string(bucket) +
                                  " does not exist (0 to " + std::to_string(kBuckets - 1) + ")");
    }
  }
  if (in.max.count() < 0) {
    throw std::invalid_argument("histogram max is negative");
  }
  for (const auto& [bucket, n] : in.counts) {
    add(bucket, n);
    count_.fetch_add(n, std::memory_order_relaxed);
  }
  int64_t seen = max_us_.load(std::memory_order_relaxed);
  while (in.max.count() > seen &&
         !max_us_.compare_exchange_weak(seen, in.max.count(), std::memory_order_relaxed)) {
  }
}

uint64_t LatencyHistogram::count() const noexcept {
  return count_.load(std::memory_order_relaxed);
}

Micros LatencyHistogram::max() const noexcept {
  return Micros{max_us_.load(std::memory_order_relaxed)};
}

uint64_t LatencyHistogram::count_at_most(Micros bound) const noexcept {
  uint64_t n = 0;
  for (int i = 0; i < kBuckets; ++i) {
    if (upper_bound_of(i) > static_cast<uint64_t>(std::max<int64_t>(0, bound.count()))) {
      break;
    }
    n += load(i);
  }
  return n;
}

Micros LatencyHistogram::quantile(double q) const noexcept {
  uint64_t total = 0;
  for (int i = 0; i < kBuckets; ++i) {
    total += load(i);
  }
  if (total == 0) {
    return Micros{0};
  }
  q = std::clamp(q, 0.0, 1.0);
  const auto rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(total))));
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += load(i);
    if (seen >= rank) {
      const auto bound = static_cast<int64_t>(upper_bound_of(i));
      return Micros{std::min(bound, max_us_.load(std::memory_order_relaxed))};
    }
  }
  return max();
}

}  // namespace pgleak::util

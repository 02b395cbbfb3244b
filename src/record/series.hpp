#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "record/observations.hpp"

// A run's samples kept in bounded memory, whatever the run's length.
namespace pgleak::record {

// What every sample of a run adds up to, counted as they come: exact however
// many samples the series below had to drop.
struct SeriesStats {
  uint64_t taken = 0;  // samples the sampler took
  int peak_own = 0;
  double peak_own_at_s = 0;  // the first sample at the peak
  int peak_total = 0;
  uint64_t with_waiters = 0;  // samples in which some checkout was waiting
  std::optional<Sample> last;
};

// Real samples, at most `capacity` of them, that keep the shape and every
// peak of the run's `own` connections.
//
// A run of at most `capacity` samples keeps them all. Past that, the run is
// cut into buckets of consecutive samples, twice as wide each time the
// buckets fill up (at most twice `capacity` samples are held), and each
// bucket keeps two of its samples: the one with the fewest connections and
// the one with the most (the first of each, in time order). kept() then
// gives exactly `capacity`, chosen the same way from even groups of what is
// held, so a longer run's report keeps as many samples as a shorter one's.
// The run's highest and lowest points are therefore always kept, and every
// kept sample is one the sampler really took (its states still sum to its
// total), never an average.
//
// Thread-safety: none; the Recorder holds it under its lock.
class BoundedSeries {
 public:
  explicit BoundedSeries(size_t capacity);

  void add(Sample sample);
  // The kept samples, in time order.
  std::vector<Sample> kept() const;
  const SeriesStats& stats() const { return stats_; }

 private:
  struct Bucket {
    std::vector<Sample> samples;  // one or two, in time order
    size_t count = 0;             // samples taken into it
  };
  void merge_into(Bucket& into, Bucket&& from) const;

  size_t capacity_;
  size_t width_ = 2;  // a bucket of two keeps both
  std::vector<Bucket> full_;
  Bucket open_;
  SeriesStats stats_;
};

// Pools and application names past this many in one sample are folded in the
// kept series (the side file keeps them all).
inline constexpr size_t kMaxDetailPerSample = 64;

// Folds a sample with more than kMaxDetailPerSample pools into one pool line
// per process (replica -1, `replicas` the count folded), and drops its
// by_application when it has more than that many names (by_process keeps the
// count per process). Sets `folded`.
void fold_sample(Sample& sample);

}  // namespace pgleak::record

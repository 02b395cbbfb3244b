#include "record/series.hpp"

#include <algorithm>
#include <map>

namespace pgleak::record {

BoundedSeries::BoundedSeries(size_t capacity)
    : capacity_(std::max<size_t>(4, capacity & ~size_t{1})) {}

void BoundedSeries::add(Sample sample) {
  ++stats_.taken;
  if (stats_.taken == 1 || sample.own > stats_.peak_own) {
    stats_.peak_own = sample.own;
    stats_.peak_own_at_s = sample.t_s;
  }
  stats_.peak_total = std::max(stats_.peak_total, sample.total);
  const bool waiting = std::any_of(sample.pools.begin(), sample.pools.end(),
                                   [](const PoolSample& p) { return p.waiting > 0; });
  stats_.with_waiters += waiting ? 1 : 0;
  stats_.last = sample;

  fold_sample(sample);
  Bucket one{{std::move(sample)}, 1};
  if (open_.count == 0) {
    open_ = std::move(one);
  } else {
    merge_into(open_, std::move(one));
  }
  if (open_.count < width_) {
    return;
  }
  full_.push_back(std::move(open_));
  open_ = Bucket{};
  // Full at `capacity` buckets of two: never more than twice `capacity`
  // samples held, and kept() gives `capacity` of them.
  if (full_.size() < capacity_) {
    return;
  }
  // Full: each pair of neighbours becomes one bucket twice as wide.
  std::vector<Bucket> merged;
  merged.reserve(full_.size() / 2 + 1);
  for (size_t i = 0; i < full_.size(); i += 2) {
    Bucket b = std::move(full_[i]);
    if (i + 1 < full_.size()) {
      merge_into(b, std::move(full_[i + 1]));
    }
    merged.push_back(std::move(b));
  }
  full_ = std::move(merged);
  width_ *= 2;
}

// Of the (at most four) samples of both buckets, in time order, keeps the
// first with the fewest connections and the first with the most; when all
// have as many, the first and the last.
void BoundedSeries::merge_into(Bucket& into, Bucket&& from) const {
  std::vector<Sample> all = std::move(into.samples);
  for (auto& s : from.samples) {
    all.push_back(std::move(s));
  }
  into.count += from.count;
  size_t low = 0;
  size_t high = 0;
  for (size_t i = 1; i < all.size(); ++i) {
    low = all[i].own < all[low].own ? i : low;
    high = all[i].own > all[high].own ? i : high;
  }
  if (low == high) {
    high = all.size() - 1;
  }
  into.samples.clear();
  into.samples.push_back(std::move(all[std::min(low, high)]));
  if (low != high) {
    into.samples.push_back(std::move(all[std::max(low, high)]));
  }
}

std::vector<Sample> BoundedSeries::kept() const {
  std::vector<Sample> held;
  held.reserve(full_.size() * 2 + 2);
  for (const auto& b : full_) {
    held.insert(held.end(), b.samples.begin(), b.samples.end());
  }
  held.insert(held.end(), open_.samples.begin(), open_.samples.end());
  if (held.size() <= capacity_) {
    return held;
  }
  // Exactly `capacity`: capacity/2 groups of consecutive held samples, as
  // even as they divide, each keeping its lowest and its highest. A run ten
  // times as long keeps as many, so its report is no larger for them.
  const size_t groups = std::max<size_t>(1, capacity_ / 2);
  std::vector<Sample> out;
  out.reserve(groups * 2);
  for (size_t g = 0; g < groups; ++g) {
    const size_t from = g * held.size() / groups;
    const size_t to = (g + 1) * held.size() / groups;
    Bucket bucket{{held[from]}, 1};
    for (size_t i = from + 1; i < to; ++i) {
      merge_into(bucket, Bucket{{held[i]}, 1});
    }
    out.insert(out.end(), bucket.samples.begin(), bucket.samples.end());
  }
  return out;
}

void fold_sample(Sample& sample) {
  if (sample.by_application.size() > kMaxDetailPerSample) {
    sample.by_application.clear();
    sample.folded = true;
  }
  if (sample.pools.size() <= kMaxDetailPerSample) {
    return;
  }
  std::map<std::string, PoolSample> per_process;
  for (const auto& p : sample.pools) {
    auto [it, fresh] = per_process.try_emplace(p.process);
    PoolSample& f = it->second;
    if (fresh) {
      f.process = p.process;
      f.replica = -1;
      f.replicas = 0;
    }
    f.replicas += p.replicas;
    f.checked_out += p.checked_out;
    f.idle += p.idle;
    f.overflow += p.overflow;
    f.waiting += p.waiting;
    f.open += p.open;
  }
  sample.pools.clear();
  for (auto& [name, p] : per_process) {
    sample.pools.push_back(std::move(p));
  }
  sample.folded = true;
}

}  // namespace pgleak::record

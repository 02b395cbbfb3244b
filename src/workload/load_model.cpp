#include "workload/load_model.hpp"

#include <algorithm>
#include <cmath>

#include "util/stoppable_sleep.hpp"

namespace pgleak::workload {

using Clock = std::chrono::steady_clock;

StageSchedule::StageSchedule(double start, const std::vector<scenario::Stage>& stages)
    : start_(start) {
  Clock::duration end{0};
  for (const auto& s : stages) {
    end += std::chrono::duration_cast<Clock::duration>(s.duration.applied);
    points_.emplace_back(end, s.target);
  }
}

double StageSchedule::value_at(Clock::duration t) const {
  double from = start_;
  Clock::duration from_t{0};
  for (const auto& [end, target] : points_) {
    if (t < end) {
      const double span = std::chrono::duration<double>(end - from_t).count();
      const double into = std::chrono::duration<double>(t - from_t).count();
      return span <= 0 ? target : from + (target - from) * (into / span);
    }
    from = target;
    from_t = end;
  }
  return from;
}

std::optional<Clock::duration> StageSchedule::first_reaching(double v, Clock::duration from) const {
  double a = start_;
  Clock::duration seg_start{0};
  for (const auto& [seg_end, b] : points_) {
    if (seg_end > from) {
      const auto s0 = std::max(from, seg_start);
      const double at_s0 = value_at(s0);
      if (at_s0 >= v) {
        return s0;
      }
      if (b >= v) {
        // Rising through v inside this stage.
        const double share = (v - at_s0) / (b - at_s0);
        const auto rest = std::chrono::duration<double>(seg_end - s0) * share;
        return std::min<Clock::duration>(seg_end, s0 + std::chrono::ceil<Clock::duration>(rest));
      }
    }
    a = b;
    seg_start = seg_end;
  }
  // After the last stage the value holds.
  if (a >= v) {
    return std::max(from, seg_start);
  }
  return std::nullopt;
}

namespace {

double start_value(const scenario::WorkerGroup& g, double time_scale) {
  if (g.arrival_rate) {
    return g.arrival_rate->per_second / time_scale;  // compressed time, denser arrivals
  }
  return g.stages.empty() ? g.count : 0.0;
}

std::vector<scenario::Stage> applied_stages(const scenario::WorkerGroup& g, double time_scale) {
  auto stages = g.stages;
  if (g.arrival_rate) {
    for (auto& s : stages) {
      s.target /= time_scale;
    }
  }
  return stages;
}

}  // namespace

GroupLoad::GroupLoad(const scenario::WorkerGroup& group, double time_scale, Clock::time_point start,
                     Clock::time_point end)
    : open_(group.arrival_rate.has_value()),
      start_(start),
      end_(end),
      schedule_(start_value(group, time_scale), applied_stages(group, time_scale)),
      asked_(static_cast<size_t>(std::max(group.count, 0)), false),
      not_yet_asked_(std::max(group.count, 0)) {}

GroupLoad::~GroupLoad() {
  own_stop_.request_stop();
  if (arrivals_thread_.joinable()) {
    arrivals_thread_.join();
  }
}

void GroupLoad::start(std::stop_token run_stop) {
  if (!open_) {
    return;
  }
  forward_stop_.emplace(run_stop, std::function<void()>{[this] { own_stop_.request_stop(); }});
  arrivals_thread_ = std::thread{[this, stop = own_stop_.get_token()] { arrive_loop(stop); }};
}

void GroupLoad::arrive_loop(std::stop_token stop) {
  auto next = start_;
  while (next < end_ && util::sleep_until(next, stop)) {
    const double rate = schedule_.value_at(next - start_);
    if (rate <= 0) {
      next += std::chrono::milliseconds{10};  // ramping up from zero: look again shortly
      continue;
    }
    {
      std::lock_guard lock{mutex_};
      ++arrivals_;
      if (idle_workers_ + not_yet_asked_ > static_cast<int>(pending_.size())) {
        pending_.push_back(next);
        changed_.notify_one();
      } else {
        ++dropped_;  // every worker busy: counted, not queued
      }
    }
    next += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate));
  }
}

bool GroupLoad::admit(int index, std::stop_token stop) {
  std::unique_lock lock{mutex_};
  if (!open_) {
    // Closed model: work while this worker is within the ramped count. The
    // count moves with time along known lines, so a parked worker sleeps
    // until the moment the ramp reaches it (one wake-up, not a poll), or
    // until the run stops; without stages it never parks.
    const double needed = index + 1 - 1e-9;
    while (!stop.stop_requested()) {
      const auto now = Clock::now();
      if (schedule_.value_at(now - start_) >= needed) {
        return true;
      }
      const auto at = schedule_.first_reaching(needed, now - start_);
      const auto until = at ? std::max(start_ + *at, now + std::chrono::milliseconds{1})
                            : Clock::time_point::max();
      changed_.wait_until(lock, stop, until, [] { return false; });
    }
    return false;
  }
  if (index >= 0 && static_cast<size_t>(index) < asked_.size() && !asked_[index]) {
    asked_[index] = true;
    --not_yet_asked_;
  }
  ++idle_workers_;
  const bool got = changed_.wait(lock, stop, [&] { return !pending_.empty(); });
  --idle_workers_;
  if (!got) {
    return false;
  }
  const auto scheduled = pending_.front();
  pending_.erase(pending_.begin());
  start_delays_.record(std::chrono::duration_cast<util::Micros>(Clock::now() - scheduled));
  return true;
}

bool GroupLoad::wait_to_start(int index, std::stop_token stop) {
  return open_ || admit(index, stop);
}

uint64_t GroupLoad::arrivals() const {
  std::lock_guard lock{mutex_};
  return arrivals_;
}

uint64_t GroupLoad::dropped() const {
  std::lock_guard lock{mutex_};
  return dropped_;
}

}  // namespace pgleak::workload

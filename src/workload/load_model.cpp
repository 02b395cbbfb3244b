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
      schedule_(start_value(group, time_scale), applied_stages(group, time_scale)) {}

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
      if (idle_workers_ > static_cast<int>(pending_.size())) {
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
    // count moves with time, not with events, so a parked worker looks again
    // every few milliseconds; without stages it never parks.
    while (!stop.stop_requested()) {
      const double target = schedule_.value_at(Clock::now() - start_);
      if (index < static_cast<int>(std::floor(target + 1e-9))) {
        return true;
      }
      changed_.wait_for(lock, stop, std::chrono::milliseconds{5}, [] { return false; });
    }
    return false;
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

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <vector>

#include "fiber/sync.hpp"
#include "scenario/scenario.hpp"
#include "util/latency_histogram.hpp"

namespace pgleak::workload {

// A value that ramps linearly through a group's stages (k6's ramping
// executors): from `start` to each stage's target over that stage's applied
// duration, then holds the last target.
class StageSchedule {
 public:
  StageSchedule(double start, const std::vector<scenario::Stage>& stages);
  // `since_start`: time since the group started.
  double value_at(std::chrono::steady_clock::duration since_start) const;
  // The first time at or after `from` at which the value is at least `v`
  // (exact for the linear ramps); nullopt when it never is again.
  std::optional<std::chrono::steady_clock::duration> first_reaching(
      double v, std::chrono::steady_clock::duration from) const;

 private:
  double start_;
  std::vector<std::pair<std::chrono::steady_clock::duration, double>> points_;  // end, target
};

// Paces one worker group of one process replica.
//
// Closed model: each worker runs its loop (work, think, work...); with stages,
// worker i works only while i < the ramped count, and otherwise waits.
//
// Open model: units of work arrive on a schedule (arrival_rate, ramped by
// stages), whatever the workers are doing, like k6's constant-arrival-rate.
// An arrival is handed to an idle worker; if every worker is busy it is
// dropped and counted, never queued, so slow units cannot slow the arrivals
// down (no coordinated omission). Each unit's start delay (schedule to pickup)
// is recorded.
//
// Thread-safety: every member may be called from any thread.
class GroupLoad {
 public:
  // No arrival is scheduled at or after `end` (the scenario's end), so the
  // count of arrivals does not depend on how long shutdown takes.
  GroupLoad(
      const scenario::WorkerGroup& group, double time_scale,
      std::chrono::steady_clock::time_point start,
      std::chrono::steady_clock::time_point end = std::chrono::steady_clock::time_point::max());
  ~GroupLoad();
  GroupLoad(const GroupLoad&) = delete;
  GroupLoad& operator=(const GroupLoad&) = delete;

  bool open_model() const { return open_; }
  // Starts the arrival thread of an open model (no-op for a closed one); it
  // ends when `run_stop` is requested or this object is destroyed.
  void start(std::stop_token run_stop);
  // Blocks until worker `index` may do a unit of work; false when the run stopped.
  bool admit(int index, std::stop_token stop);
  // Blocks until worker `index` may start at all: in a ramped closed model a
  // worker beyond the current count has not started (its objects, and the
  // sessions they open, do not exist yet). Open models start every worker.
  bool wait_to_start(int index, std::stop_token stop);

  uint64_t arrivals() const;
  uint64_t dropped() const;
  const util::LatencyHistogram& start_delays() const { return start_delays_; }

 private:
  void arrive_loop(std::stop_token stop);

  const bool open_;
  const std::chrono::steady_clock::time_point start_;
  const std::chrono::steady_clock::time_point end_;
  StageSchedule schedule_;
  mutable std::mutex mutex_;
  fiber::ConditionVariable changed_;
  int idle_workers_ = 0;
  // Workers that have not yet asked for their first unit: idle, as an
  // application's pool of workers is before its first request, not busy
  // (their threads may start a moment after the first arrival).
  std::vector<bool> asked_;
  int not_yet_asked_ = 0;
  std::vector<std::chrono::steady_clock::time_point> pending_;  // arrival times handed out
  uint64_t arrivals_ = 0;
  uint64_t dropped_ = 0;
  util::LatencyHistogram start_delays_;
  std::stop_source own_stop_;
  std::optional<std::stop_callback<std::function<void()>>> forward_stop_;
  std::thread arrivals_thread_;
};

}  // namespace pgleak::workload

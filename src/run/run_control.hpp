#pragma once

#include <functional>
#include <mutex>
#include <stop_token>
#include <string>

#include "run/runner.hpp"

namespace pgleak::run {

// Why the run ended (the first reason given wins; an interruption is one),
// and when: the run's end and the workers' stop are two moments, so that the
// state at the end (holders, what each pool holds) is read before any worker
// lets go of what it holds. An abort, an interrupt or a lost target ends the
// run (the watch wakes); the workers stop only when the stop phase says so.
class RunControl {
 public:
  explicit RunControl(const std::stop_token& interrupt)
      : on_interrupt_(interrupt, [this] { stop(record::RunStatus::kInterrupted, "interrupted"); }) {
  }

  // Ends the run early, for `why`.
  void stop(record::RunStatus why, const std::string& detail) {
    {
      std::lock_guard lock{mutex_};
      if (status_ == record::RunStatus::kCompleted) {
        status_ = why;
        detail_ = detail;
      }
    }
    end_.request_stop();
  }
  // The stop phase: the workers, the fault schedule and pending connects stop.
  void stop() {
    end_.request_stop();
    workers_.request_stop();
  }
  // What the workers, faults and connects wait on.
  std::stop_token token() const { return workers_.get_token(); }
  // What the watch waits on: the run's end, early or not.
  std::stop_token end_token() const { return end_.get_token(); }
  void describe(record::RunResult& result) const {
    std::lock_guard lock{mutex_};
    result.status = status_;
    result.status_detail = detail_;
  }

 private:
  mutable std::mutex mutex_;
  record::RunStatus status_ = record::RunStatus::kCompleted;
  std::string detail_;
  std::stop_source end_;
  std::stop_source workers_;
  std::stop_callback<std::function<void()>> on_interrupt_;  // after the sources: uses them
};

}  // namespace pgleak::run

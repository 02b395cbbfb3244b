#include "record/recorder.hpp"

#include <algorithm>

namespace pgleak::record {

double Recorder::elapsed_s() const {
  return std::chrono::duration<double>(Clock::now() - start_).count();
}

void Recorder::add_event(Event event) {
  if (event.t_s == 0) {
    event.t_s = elapsed_s();
  }
  std::lock_guard lock{mutex_};
  if (!event.sqlstate.empty()) {
    auto& counts = event.kind == kServerLog ? server_errors_by_sqlstate_ : errors_by_sqlstate_;
    ++counts[event.sqlstate];
  }
  if (event.kind == kPoolTimeout) {
    ++pool_timeouts_;
  }
  if (event.kind == kConnectionLost) {
    ++connections_lost_;
  }
  if (events_.size() >= max_events_) {
    ++dropped_;
    return;
  }
  events_.push_back(std::move(event));
}

void Recorder::add_sample(Sample sample) {
  std::lock_guard lock{mutex_};
  peak_own_ = std::max(peak_own_, sample.own);
  samples_.push_back(std::move(sample));
}

std::vector<Event> Recorder::events() const {
  std::lock_guard lock{mutex_};
  return events_;
}

std::vector<Sample> Recorder::samples() const {
  std::lock_guard lock{mutex_};
  return samples_;
}

std::map<std::string, uint64_t> Recorder::errors_by_sqlstate() const {
  std::lock_guard lock{mutex_};
  return errors_by_sqlstate_;
}

std::map<std::string, uint64_t> Recorder::server_errors_by_sqlstate() const {
  std::lock_guard lock{mutex_};
  return server_errors_by_sqlstate_;
}

std::optional<Sample> Recorder::latest_sample() const {
  std::lock_guard lock{mutex_};
  if (samples_.empty()) {
    return std::nullopt;
  }
  return samples_.back();
}

int Recorder::peak_own() const {
  std::lock_guard lock{mutex_};
  return peak_own_;
}

uint64_t Recorder::connections_lost() const {
  std::lock_guard lock{mutex_};
  return connections_lost_;
}

uint64_t Recorder::pool_timeouts() const {
  std::lock_guard lock{mutex_};
  return pool_timeouts_;
}

uint64_t Recorder::dropped_events() const {
  std::lock_guard lock{mutex_};
  return dropped_;
}

}  // namespace pgleak::record

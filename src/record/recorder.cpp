#include "record/recorder.hpp"

#include <algorithm>

#include "record/record_json.hpp"
#include "record/side_file.hpp"

namespace pgleak::record {

double Recorder::elapsed_s() const {
  return std::chrono::duration<double>(Clock::now() - start_).count();
}

void Recorder::add_event(Event event) {
  if (event.t_s == 0) {
    event.t_s = elapsed_s();
  }
  if (event.kind == kPoolTimeout && event.waited_ms && event.timeout_ms) {
    const double late_ms = std::max(0.0, *event.waited_ms - *event.timeout_ms);
    timeout_lateness_.record(util::Micros{static_cast<int64_t>(late_ms * 1000)});
  }
  if (side_file_ != nullptr) {
    side_file_->append(json_line(event_json(event), "event"));
  }
  std::lock_guard lock{mutex_};
  ++events_by_kind_[event.kind];
  if (!event.sqlstate.empty()) {
    auto& counts = event.kind == kServerLog ? server_errors_by_sqlstate_ : errors_by_sqlstate_;
    ++counts[event.sqlstate];
  }
  if (event.kind == kPoolTimeout) {
    ++pool_timeouts_;
  }
  if (event.kind == kPgBouncerLog && !event.pgbouncer_error.empty()) {
    ++pgbouncer_errors_[event.pgbouncer_error];
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
  if (side_file_ != nullptr) {
    side_file_->append(sample_line(sample));
  }
  std::lock_guard lock{mutex_};
  series_.add(std::move(sample));
}

std::vector<Event> Recorder::events() const {
  std::lock_guard lock{mutex_};
  return events_;
}

std::vector<Sample> Recorder::samples() const {
  std::lock_guard lock{mutex_};
  return series_.kept();
}

SeriesStats Recorder::series_stats() const {
  std::lock_guard lock{mutex_};
  return series_.stats();
}

int Recorder::peak_own() const {
  std::lock_guard lock{mutex_};
  return series_.stats().peak_own;
}

std::map<std::string, uint64_t> Recorder::events_by_kind() const {
  std::lock_guard lock{mutex_};
  return events_by_kind_;
}

std::map<std::string, uint64_t> Recorder::errors_by_sqlstate() const {
  std::lock_guard lock{mutex_};
  return errors_by_sqlstate_;
}

std::map<std::string, uint64_t> Recorder::server_errors_by_sqlstate() const {
  std::lock_guard lock{mutex_};
  return server_errors_by_sqlstate_;
}

std::map<std::string, uint64_t> Recorder::pgbouncer_errors() const {
  std::lock_guard lock{mutex_};
  return pgbouncer_errors_;
}

std::optional<Sample> Recorder::latest_sample() const {
  std::lock_guard lock{mutex_};
  return series_.stats().last;
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

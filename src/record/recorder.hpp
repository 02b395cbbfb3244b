#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "record/observations.hpp"

namespace pgleak::record {

// Collects a run's events and samples, and the counts derived from events.
// The event list is capped (a retry loop against a full server can raise
// thousands per second); the counts never are, and the report says how many
// events were dropped.
//
// Thread-safety: every member may be called from any thread.
class Recorder {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Recorder(Clock::time_point start, size_t max_events = 20000)
      : start_(start),
        system_start_(std::chrono::system_clock::now() - (Clock::now() - start)),
        max_events_(max_events) {}

  // Seconds into the run of a wall-clock instant (a server's log timestamp).
  double seconds_at(std::chrono::system_clock::time_point when) const {
    return std::chrono::duration<double>(when - system_start_).count();
  }

  // Seconds since the run started.
  double elapsed_s() const;
  Clock::time_point start() const { return start_; }

  // Stamps t_s when it is zero.
  void add_event(Event event);
  void add_sample(Sample sample);

  std::vector<Event> events() const;
  std::vector<Sample> samples() const;
  // What the clients saw (every event but server_log ones).
  std::map<std::string, uint64_t> errors_by_sqlstate() const;
  // What the server logged about the run's backends (server_log events).
  std::map<std::string, uint64_t> server_errors_by_sqlstate() const;
  uint64_t pool_timeouts() const;
  // Statements that found their connection gone (connection_lost events).
  uint64_t connections_lost() const;
  // The highest `own` of any sample so far.
  int peak_own() const;
  // The most recent sample, if any (the progress line reads only this).
  std::optional<Sample> latest_sample() const;
  uint64_t dropped_events() const;

 private:
  const Clock::time_point start_;
  const std::chrono::system_clock::time_point system_start_;
  const size_t max_events_;
  mutable std::mutex mutex_;
  std::vector<Event> events_;
  std::vector<Sample> samples_;
  std::map<std::string, uint64_t> errors_by_sqlstate_;
  std::map<std::string, uint64_t> server_errors_by_sqlstate_;
  uint64_t pool_timeouts_ = 0;
  uint64_t connections_lost_ = 0;
  int peak_own_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace pgleak::record

#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "record/observations.hpp"
#include "record/series.hpp"
#include "util/latency_histogram.hpp"

namespace pgleak::record {

class SideFile;

// Collects a run's events and samples, and the counts derived from them, in
// memory that does not grow with the run's length: the event list is capped
// (a retry loop against a full server can raise thousands per second) and
// the samples are a BoundedSeries. The counts, peaks and the pool-timeout
// lateness cover everything, and the report says how many events were
// dropped. With a side file, every sample and event also goes there, in full.
//
// Thread-safety: every member may be called from any thread.
class Recorder {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kKeptSamples = 1500;
  static constexpr size_t kMaxEvents = 20000;

  explicit Recorder(Clock::time_point start, size_t max_events = kMaxEvents,
                    size_t kept_samples = kKeptSamples)
      : start_(start),
        system_start_(std::chrono::system_clock::now() - (Clock::now() - start)),
        max_events_(max_events),
        series_(kept_samples) {}

  // Streams every sample and event from now on to `file` as well (owned by
  // the caller, and outliving every add). Call before any thread adds.
  void stream_to(SideFile* file) { side_file_ = file; }

  // The run's t = 0 is `start` instead: the moment its instruments are ready,
  // which is when the workload's clock starts. Call before anything is added.
  void restart_clock(Clock::time_point start) {
    start_ = start;
    system_start_ = std::chrono::system_clock::now() - (Clock::now() - start);
  }

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
  // The kept samples (BoundedSeries), in time order.
  std::vector<Sample> samples() const;
  SeriesStats series_stats() const;
  // The highest `own` of any sample so far (what the live watch reads four
  // times a second, without copying the latest sample as series_stats() does).
  int peak_own() const;
  // Every event recorded, dropped ones included, by kind.
  std::map<std::string, uint64_t> events_by_kind() const;
  // How far past its pool_timeout each pool timeout was raised.
  const util::LatencyHistogram& timeout_lateness() const { return timeout_lateness_; }
  // What the clients saw (every event but server_log ones).
  std::map<std::string, uint64_t> errors_by_sqlstate() const;
  // What the server logged about the run's backends (server_log events).
  std::map<std::string, uint64_t> server_errors_by_sqlstate() const;
  // The errors PgBouncer logged sending to clients (pgbouncer_log events), by reason.
  std::map<std::string, uint64_t> pgbouncer_errors() const;
  uint64_t pool_timeouts() const;
  // Statements that found their connection gone (connection_lost events).
  uint64_t connections_lost() const;
  // The most recent sample, if any (the progress line reads only this).
  std::optional<Sample> latest_sample() const;
  uint64_t dropped_events() const;

 private:
  Clock::time_point start_;
  std::chrono::system_clock::time_point system_start_;
  const size_t max_events_;
  SideFile* side_file_ = nullptr;
  util::LatencyHistogram timeout_lateness_;
  mutable std::mutex mutex_;
  std::vector<Event> events_;
  BoundedSeries series_;
  std::map<std::string, uint64_t> events_by_kind_;
  std::map<std::string, uint64_t> errors_by_sqlstate_;
  std::map<std::string, uint64_t> server_errors_by_sqlstate_;
  std::map<std::string, uint64_t> pgbouncer_errors_;
  uint64_t pool_timeouts_ = 0;
  uint64_t connections_lost_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace pgleak::record

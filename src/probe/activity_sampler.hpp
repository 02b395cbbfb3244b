#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "db/conninfo.hpp"
#include "db/own_session.hpp"
#include "record/observations.hpp"
#include "record/recorder.hpp"

namespace pgleak::probe {

// Samples pg_stat_activity on its own connection every interval, on a fixed
// schedule (deadline += interval), and hands each Sample to the recorder with
// the pools' stats. It is the instrument: a tick it could not take in time is
// counted as missed, never silently shifted. A sample's t_s is when its tick
// asked (the pools are read at that moment, and the server's snapshot is
// taken as the query starts), not when the server's answer arrived.
//
// Thread-safety: start(), finish() and stop() from the owning thread; the sampling runs on
// a thread of its own; counters are read after stop().
class ActivitySampler {
 public:
  using PoolsSnapshot = std::function<std::vector<record::PoolSample>()>;

  // Backends whose application_name holds `run_marker` (BackendTag::run_marker) are the run's own.
  ActivitySampler(db::ConnInfo target, std::string run_marker, std::chrono::microseconds interval,
                  record::Recorder& recorder, PoolsSnapshot pools);
  ~ActivitySampler();
  ActivitySampler(const ActivitySampler&) = delete;
  ActivitySampler& operator=(const ActivitySampler&) = delete;

  // Connects (throws util::InfrastructureError), waits for the sessions of
  // await_exit_of(), runs `ready` (where the run starts its clock, so no
  // wait here eats into the scenario's time), then starts the thread.
  void start(const std::function<void()>& ready = {});
  // Takes the run's last sample now, outside the schedule, and stops: no
  // tick starts after it, and none is cut short by the stop.
  void finish();
  // Stops at once; a tick under way is interrupted (its sample may lack what
  // it could not read).
  void stop();

  // Also reads PgBouncer's admin console at every tick (SHOW POOLS, SHOW
  // STATS) into Sample::pgbouncer. Call before start().
  void read_pgbouncer(db::ConnInfo console) { console_target_ = std::move(console); }

  // start() returns only once no other backend named one of
  // `application_names` is left (or `bound` has passed): sessions pgleak has
  // just closed leave the server asynchronously, and until they have, they
  // hold slots that a tight connection limit would refuse the workload for.
  // Only for a server whose every such session is this run's (the embedded
  // one). Call before start().
  void await_exit_of(std::vector<std::string> application_names, std::chrono::milliseconds bound) {
    await_names_ = std::move(application_names);
    await_bound_ = bound;
  }

  // Samples its own pools only, never the server: a shard of a sharded run
  // that is not the one that samples pg_stat_activity (its samples' total and
  // own stay 0). Call before start().
  void pools_only() { pools_only_ = true; }

  // Called from the sampler thread when the server stays unreachable for
  // `lost_after`; the run treats that as losing its target.
  void on_target_lost(std::function<void(const std::string&)> callback) {
    on_lost_ = std::move(callback);
  }

  uint64_t missed_intervals() const { return missed_; }
  double max_lag_ms() const { return max_lag_ms_; }

 private:
  void loop(std::stop_token stop);
  bool take(double lag_ms);
  // pg_stat_activity into `sample`; false when the server cannot be read.
  bool read_activity(record::Sample& sample);
  bool reconnect();
  void await_exits();
  // PgBouncer's console at this instant, or nothing (recorded once) when unreadable.
  std::optional<record::PgBouncerSample> pgbouncer_now();

  const db::ConnInfo target_;
  const std::string run_marker_;
  const std::chrono::microseconds interval_;
  record::Recorder& recorder_;
  const PoolsSnapshot pools_;
  std::function<void(const std::string&)> on_lost_;
  std::unique_ptr<db::OwnSession> conn_;
  std::optional<db::ConnInfo> console_target_;
  std::unique_ptr<db::OwnSession> console_;
  bool console_failing_ = false;
  bool pools_only_ = false;
  std::vector<std::string> await_names_;
  std::chrono::milliseconds await_bound_{0};
  std::mutex conn_mutex_;  // finish() samples on the caller's thread
  std::stop_source stop_;
  std::thread thread_;
  uint64_t missed_ = 0;
  double max_lag_ms_ = 0;
};

}  // namespace pgleak::probe

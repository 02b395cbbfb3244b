#pragma once

// The scenario's network faults, run on a thread of their own through the
// run's network namespace: each starts at its `at`, and a blackhole, a
// partition or a half-open client with a `for` ends after it. Each is
// recorded as a fault event when it starts and ends, and the backends it
// orphaned (on the server while their client could not reach it) are
// watched until they are gone: one event per fault says how long the server
// kept them (from its pg_stat_activity, polled every 100 ms), or that they
// were still there at the end of the run. Internal to run/.
//
// Thread-safety: run() on one thread; nothing else is public.

#include <chrono>
#include <stop_token>
#include <string>
#include <vector>

#include "net/namespace.hpp"
#include "probe/run_backends.hpp"
#include "record/recorder.hpp"
#include "run/fleet.hpp"
#include "scenario/scenario.hpp"

namespace pgleak::run {

class NetworkFaults {
 public:
  NetworkFaults(const scenario::Scenario& sc, Fleet& fleet, record::Recorder& recorder,
                probe::RunBackends& backends, net::Namespace& network, int server_port);

  // Runs the schedule from `run_start` until it is done and every orphan is
  // accounted for, or until `stop`; the rules it made are left to the
  // namespace, which goes with the run.
  void run(std::chrono::steady_clock::time_point run_start, const std::stop_token& stop);

 private:
  using Clock = std::chrono::steady_clock;
  // Backends a fault cut off from their clients, watched until they go.
  struct Watch {
    size_t fault = 0;
    Clock::time_point since;
    std::vector<int> pids;
    std::vector<double> lived_s;  // of those gone, how long after `since`
  };

  void begin(size_t index);
  void end(size_t index);
  void apply_drops();
  void poll_watches(bool at_end);
  void record(const scenario::NetworkFault& f, std::string message);

  const scenario::Scenario& sc_;
  Fleet& fleet_;
  record::Recorder& recorder_;
  probe::RunBackends& backends_;
  net::Namespace& network_;
  const int server_port_;
  std::vector<std::pair<size_t, net::Drop>> drops_;  // by fault index, while they last
  std::vector<Watch> watches_;
};

}  // namespace pgleak::run

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
#include "net/relay.hpp"
#include "probe/run_backends.hpp"
#include "record/recorder.hpp"
#include "record/run_result.hpp"
#include "run/fleet.hpp"
#include "scenario/scenario.hpp"

namespace pgleak::run {

class NetworkFaults {
 public:
  // `network`: the run's namespace (for the kernel's faults), `relay` the
  // relay in front of the target (for latency and bandwidth); either may be
  // null when the scenario has none of its faults.
  NetworkFaults(const scenario::Scenario& sc, Fleet& fleet, record::Recorder& recorder,
                probe::RunBackends& backends, net::Namespace* network, net::Relay* relay,
                int server_port, std::chrono::steady_clock::time_point run_start);

  // Begins the faults due at the very start (`at` 0), before any pool or
  // worker connects: a connect through a blackhole must meet the blackhole.
  void begin_due_at_start();

  // Runs the rest of the schedule until it is done and every orphan is
  // accounted for, or until `stop`; the rules it made are left to the
  // namespace, which goes with the run.
  void run(const std::stop_token& stop);

  // Once run() returned, as the run stops: every rule and every shaping is
  // lifted (the pools' closes reach the server), and the backends the faults
  // left on the server, whose clients are gone for good, are terminated
  // (unless `ask_server` is false: a forced stop). Recorded as an event.
  void lift(bool ask_server);

  // What each fault did, in the scenario's order. Call once run() returned.
  const std::vector<record::NetworkFaultOutcome>& outcomes() const { return outcomes_; }

 private:
  using Clock = std::chrono::steady_clock;
  // A fault's start or end, in the order they come.
  struct Moment {
    Clock::time_point at;
    size_t fault;
    bool begins;
  };
  // Backends a fault cut off from their clients, watched until they go (or
  // the fault heals, or the run ends).
  struct Watch {
    size_t fault = 0;
    Clock::time_point since;
    std::vector<int> pids;
  };

  void begin(size_t index);
  // Makes fault `index` happen; returns what it did, for its event.
  std::string apply(size_t index, const std::string& process, const std::vector<int>& client_ports);
  void end(size_t index);
  void apply_drops();
  // The relay's shaping from the relay faults in force, later ones first.
  void apply_shaping();
  std::string begin_relay_fault(size_t index);
  // Drops the pids of every watch that are gone from the server; a watch
  // whose pids are all gone, or every watch when `at_end`, is closed.
  void poll_watches(bool at_end);
  void close_watch(const Watch& w, bool checked, const char* when);
  void record(const scenario::NetworkFault& f, std::string message);

  const scenario::Scenario& sc_;
  Fleet& fleet_;
  record::Recorder& recorder_;
  probe::RunBackends& backends_;
  net::Namespace* network_;
  net::Relay* relay_;
  const int server_port_;
  std::vector<Moment> moments_;
  size_t next_ = 0;  // the first moment not yet come
  std::vector<std::pair<size_t, net::Drop>> drops_;
  std::vector<size_t>
      shaping_;  // relay faults in force, by fault index  // by fault index, while they last
  std::vector<Watch> watches_;
  std::vector<record::NetworkFaultOutcome> outcomes_;
  std::vector<int> orphans_;  // left on the server at the end of the run
};

}  // namespace pgleak::run

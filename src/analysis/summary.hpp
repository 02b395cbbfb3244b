#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analysis/budget.hpp"
#include "analysis/growth.hpp"
#include "record/run_result.hpp"
#include "scenario/metrics.hpp"

namespace pgleak::analysis {

struct WaitPercentiles {
  uint64_t count = 0;
  double p50 = 0;
  double p95 = 0;
  double p99 = 0;
  double max = 0;
};

// What the network faults did to the backends they cut off, all faults
// together (record::NetworkFaultOutcome).
struct NetworkTotals {
  int cut_off = 0;
  int ended = 0;  // ended on the server while pgleak watched
  int left = 0;   // still there (or not checked) when the watch ended
  double lived_s_max = 0;
};

// The numbers a run is judged by. peak/final count the run's own client
// backends (never the sampler, nor other clients of an external server).
struct Summary {
  int peak_connections = 0;
  double peak_at_s = 0;
  int final_connections = 0;
  int peak_total_connections = 0;  // every client backend but the sampler
  int connection_limit = 0;        // max_connections - superuser_reserved_connections
  uint64_t pool_timeouts = 0;
  uint64_t connections_lost = 0;  // statements that found their connection gone (no SQLSTATE)
  // How far past pool_timeout the failures fired (the model's precision).
  WaitPercentiles pool_timeout_late_ms;
  std::map<std::string, uint64_t> errors_by_sqlstate;         // as the clients saw them
  std::map<std::string, uint64_t> server_errors_by_sqlstate;  // as the server logged them
  std::map<std::string, uint64_t> pgbouncer_errors;           // as PgBouncer logged them, by reason
  WaitPercentiles checkout_wait_ms;
  uint64_t checkouts = 0;
  uint64_t connect_attempts = 0;  // every connection a worker tried to open, pooled or not
  uint64_t connects = 0;
  uint64_t connect_failures = 0;  // opens a pool tried that failed (53300, a timeout, ...)
  uint64_t recycled = 0;
  uint64_t invalidated = 0;
  uint64_t pre_pings = 0;
  uint64_t pre_ping_failures = 0;
  uint64_t overflow_closed = 0;
  int held_at_end = 0;            // checkouts still out when the scenario ended
  int holders = 0;                // of those, held longer than leak_threshold
  uint64_t arrivals = 0;          // open-model groups
  uint64_t dropped_arrivals = 0;  // arrivals that found every worker of their group busy
  int samples_with_waiters = 0;   // samples in which some checkout was waiting
  uint64_t process_exits = 0;     // simulated processes that ended (lifecycle)
  uint64_t process_crashes = 0;
  uint64_t process_restarts = 0;
  NetworkTotals network;
  Growth growth;
  // The static worst case against this target's limit (pgleak's sampler
  // counted as one other client), and its total: -1 when a pool is unbounded.
  Budget budget;
  int pool_capacity = 0;
};

Summary summarize(const record::RunResult& result, const scenario::Scenario& scenario);

// One metric's value: `metric` is a row of scenario::metrics() (throws
// std::invalid_argument for anything else).
nlohmann::json metric_json(const Summary& summary, const scenario::MetricInfo& metric);
// The summary as the report writes it: every metric of the table (a dotted
// name nested), and the SQLSTATE counts; thresholds address the same names.
nlohmann::json summary_json(const Summary& summary);

}  // namespace pgleak::analysis

#include "analysis/summary.hpp"

namespace pgleak::analysis {
namespace {

WaitPercentiles percentiles(const util::LatencyHistogram& h) {
  return {h.count(), util::to_millis(h.quantile(0.50)), util::to_millis(h.quantile(0.95)),
          util::to_millis(h.quantile(0.99)), util::to_millis(h.max())};
}

}  // namespace

Summary summarize(const record::RunResult& r, const scenario::Scenario& sc) {
  Summary s;
  s.peak_connections = r.series.peak_own;
  s.peak_at_s = r.series.peak_own_at_s;
  s.peak_total_connections = r.series.peak_total;
  s.samples_with_waiters = static_cast<int>(r.series.with_waiters);
  if (r.series.last) {
    s.final_connections = r.series.last->own;
  }
  const auto limits = limits_for(r.target.server, r.target.connections_before);
  s.connection_limit = workers_limit(limits);
  s.pool_timeouts = r.pool_timeouts;
  s.connections_lost = r.connections_lost;
  if (r.timeout_lateness) {
    s.pool_timeout_late_ms = percentiles(*r.timeout_lateness);
  }
  s.errors_by_sqlstate = r.errors_by_sqlstate;
  s.server_errors_by_sqlstate = r.server_errors_by_sqlstate;
  s.pgbouncer_errors = r.pgbouncer_errors;
  if (r.checkout_waits) {
    s.checkout_wait_ms = percentiles(*r.checkout_waits);
  }
  const auto count = [&r](const char* kind) {
    const auto it = r.events_by_kind.find(kind);
    return it == r.events_by_kind.end() ? uint64_t{0} : it->second;
  };
  s.process_exits = count(record::kProcessExit);
  s.process_crashes = count(record::kProcessCrash);
  s.process_restarts = count(record::kProcessStart);
  for (const auto& l : r.loads) {
    s.arrivals += l.arrivals;
    s.dropped_arrivals += l.dropped;
  }
  for (const auto& p : r.pools) {
    s.checkouts += p.stats.checkouts;
    s.connects += p.stats.connects;
    s.recycled += p.stats.recycled;
    s.invalidated += p.stats.invalidated;
    s.pre_pings += p.stats.pre_pings;
    s.pre_ping_failures += p.stats.pre_ping_failures;
    s.overflow_closed += p.stats.overflow_closed;
    s.held_at_end += p.outstanding;
  }
  s.connect_attempts = r.connect_attempts;
  s.holders = static_cast<int>(r.holders.size());
  s.budget = compute_budget(sc, limits);
  s.pool_capacity = s.budget.unbounded ? -1 : s.budget.worst_case;
  // The first fifth of a run is warm-up: pools filling up is not a leak.
  s.growth = fit_growth(r.samples, sc.time_scale, 0.2, s.pool_capacity);
  return s;
}

nlohmann::json metric_json(const Summary& s, scenario::Metric metric) {
  using M = scenario::Metric;
  switch (metric) {
    case M::kPeakConnections:
      return s.peak_connections;
    case M::kPeakAtS:
      return s.peak_at_s;
    case M::kFinalConnections:
      return s.final_connections;
    case M::kPeakTotalConnections:
      return s.peak_total_connections;
    case M::kConnectionLimit:
      return s.connection_limit;
    case M::kPoolTimeouts:
      return s.pool_timeouts;
    case M::kCheckouts:
      return s.checkouts;
    case M::kConnects:
      return s.connects;
    case M::kConnectAttempts:
      return s.connect_attempts;
    case M::kConnectionsLost:
      return s.connections_lost;
    case M::kRecycled:
      return s.recycled;
    case M::kInvalidated:
      return s.invalidated;
    case M::kPrePings:
      return s.pre_pings;
    case M::kPrePingFailures:
      return s.pre_ping_failures;
    case M::kOverflowClosed:
      return s.overflow_closed;
    case M::kHeldAtEnd:
      return s.held_at_end;
    case M::kHolders:
      return s.holders;
    case M::kArrivals:
      return s.arrivals;
    case M::kDroppedArrivals:
      return s.dropped_arrivals;
    case M::kSamplesWithWaiters:
      return s.samples_with_waiters;
    case M::kPoolCapacity:
      return s.pool_capacity;
    case M::kCheckoutWaitCount:
      return s.checkout_wait_ms.count;
    case M::kCheckoutWaitP50:
      return s.checkout_wait_ms.p50;
    case M::kCheckoutWaitP95:
      return s.checkout_wait_ms.p95;
    case M::kCheckoutWaitP99:
      return s.checkout_wait_ms.p99;
    case M::kCheckoutWaitMax:
      return s.checkout_wait_ms.max;
    case M::kTimeoutLateCount:
      return s.pool_timeout_late_ms.count;
    case M::kTimeoutLateP50:
      return s.pool_timeout_late_ms.p50;
    case M::kTimeoutLateP95:
      return s.pool_timeout_late_ms.p95;
    case M::kTimeoutLateP99:
      return s.pool_timeout_late_ms.p99;
    case M::kTimeoutLateMax:
      return s.pool_timeout_late_ms.max;
    case M::kGrowthComputed:
      return s.growth.computed;
    case M::kGrowthSlopePerMin:
      return s.growth.slope_per_min;
    case M::kGrowthR2:
      return s.growth.r2;
    case M::kGrowthFromS:
      return s.growth.from_s;
    case M::kGrowthToS:
      return s.growth.to_s;
    case M::kGrowthSamples:
      return s.growth.samples;
    case M::kGrowthRise:
      return s.growth.rise;
    case M::kGrowthTailSlopePerMin:
      return s.growth.tail_slope_per_min;
    case M::kGrowthPlateaued:
      return s.growth.plateaued;
    case M::kProcessExits:
      return s.process_exits;
    case M::kProcessCrashes:
      return s.process_crashes;
    case M::kProcessRestarts:
      return s.process_restarts;
  }
  return nullptr;
}

nlohmann::json summary_json(const Summary& s) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& m : scenario::metrics()) {
    std::string pointer{"/"};
    for (const char c : m.name) {
      pointer.push_back(c == '.' ? '/' : c);
    }
    out[nlohmann::json::json_pointer{pointer}] = metric_json(s, m.id);
  }
  out["errors_by_sqlstate"] = s.errors_by_sqlstate;
  out["server_errors_by_sqlstate"] = s.server_errors_by_sqlstate;
  out["pgbouncer_errors"] = s.pgbouncer_errors;
  return out;
}

}  // namespace pgleak::analysis

#include "analysis/summary.hpp"

namespace pgleak::analysis {
namespace {

WaitPercentiles percentiles(const util::LatencyHistogram& h) {
  return {h.count(), util::to_millis(h.quantile(0.50)), util::to_millis(h.quantile(0.95)),
          util::to_millis(h.quantile(0.99)), util::to_millis(h.max())};
}

nlohmann::json percentiles_json(const WaitPercentiles& w) {
  return {{"count", w.count}, {"p50", w.p50}, {"p95", w.p95}, {"p99", w.p99}, {"max", w.max}};
}

}  // namespace

Summary summarize(const run::RunResult& r, const scenario::Scenario& sc) {
  Summary s;
  for (const auto& sample : r.samples) {
    if (sample.own > s.peak_connections) {
      s.peak_connections = sample.own;
      s.peak_at_s = sample.t_s;
    }
    s.peak_total_connections = std::max(s.peak_total_connections, sample.total);
    const bool waiting = std::any_of(sample.pools.begin(), sample.pools.end(),
                                     [](const run::PoolSample& p) { return p.waiting > 0; });
    s.samples_with_waiters += waiting ? 1 : 0;
  }
  if (!r.samples.empty()) {
    s.final_connections = r.samples.back().own;
  }
  const auto limits = limits_for(r.target.server, r.target.connections_before);
  s.connection_limit = workers_limit(limits);
  s.pool_timeouts = r.pool_timeouts;
  s.connections_lost = r.connections_lost;
  util::LatencyHistogram late;
  for (const auto& e : r.events) {
    if (e.kind == run::kPoolTimeout && e.waited_ms && e.timeout_ms) {
      late.record(util::Micros{static_cast<int64_t>((*e.waited_ms - *e.timeout_ms) * 1000)});
    }
  }
  s.pool_timeout_late_ms = percentiles(late);
  s.errors_by_sqlstate = r.errors_by_sqlstate;
  s.server_errors_by_sqlstate = r.server_errors_by_sqlstate;
  if (r.checkout_waits) {
    s.checkout_wait_ms = percentiles(*r.checkout_waits);
  }
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

nlohmann::json summary_json(const Summary& s) {
  return {{"peak_connections", s.peak_connections},
          {"peak_at_s", s.peak_at_s},
          {"final_connections", s.final_connections},
          {"peak_total_connections", s.peak_total_connections},
          {"connection_limit", s.connection_limit},
          {"pool_timeouts", s.pool_timeouts},
          {"pool_timeout_late_ms", percentiles_json(s.pool_timeout_late_ms)},
          {"errors_by_sqlstate", s.errors_by_sqlstate},
          {"server_errors_by_sqlstate", s.server_errors_by_sqlstate},
          {"checkout_wait_ms", percentiles_json(s.checkout_wait_ms)},
          {"checkouts", s.checkouts},
          {"connects", s.connects},
          {"connect_attempts", s.connect_attempts},
          {"connections_lost", s.connections_lost},
          {"recycled", s.recycled},
          {"invalidated", s.invalidated},
          {"pre_pings", s.pre_pings},
          {"pre_ping_failures", s.pre_ping_failures},
          {"overflow_closed", s.overflow_closed},
          {"held_at_end", s.held_at_end},
          {"holders", s.holders},
          {"arrivals", s.arrivals},
          {"dropped_arrivals", s.dropped_arrivals},
          {"samples_with_waiters", s.samples_with_waiters},
          {"pool_capacity", s.pool_capacity},
          {"growth",
           {{"computed", s.growth.computed},
            {"slope_per_min", s.growth.slope_per_min},
            {"r2", s.growth.r2},
            {"from_s", s.growth.from_s},
            {"to_s", s.growth.to_s},
            {"samples", s.growth.samples},
            {"rise", s.growth.rise},
            {"tail_slope_per_min", s.growth.tail_slope_per_min},
            {"plateaued", s.growth.plateaued}}}};
}

}  // namespace pgleak::analysis

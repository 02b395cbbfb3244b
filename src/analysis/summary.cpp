#include "analysis/summary.hpp"

#include <fmt/format.h>

namespace pgleak::analysis {

Summary summarize(const run::RunResult& r) {
  Summary s;
  for (const auto& sample : r.samples) {
    if (sample.own > s.peak_connections) {
      s.peak_connections = sample.own;
      s.peak_at_s = sample.t_s;
    }
    s.peak_total_connections = std::max(s.peak_total_connections, sample.total);
  }
  if (!r.samples.empty()) {
    s.final_connections = r.samples.back().own;
  }
  s.connection_limit =
      r.target.server.max_connections - r.target.server.superuser_reserved_connections;
  s.pool_timeouts = r.pool_timeouts;
  util::LatencyHistogram late;
  for (const auto& e : r.events) {
    if (e.kind == run::kPoolTimeout && e.waited_ms && e.timeout_ms) {
      late.record(util::Micros{static_cast<int64_t>((*e.waited_ms - *e.timeout_ms) * 1000)});
    }
  }
  s.pool_timeout_late_ms = {late.count(), util::to_millis(late.quantile(0.50)),
                            util::to_millis(late.quantile(0.95)),
                            util::to_millis(late.quantile(0.99)), util::to_millis(late.max())};
  s.errors_by_sqlstate = r.errors_by_sqlstate;
  s.server_errors_by_sqlstate = r.server_errors_by_sqlstate;
  if (r.checkout_waits) {
    const auto& h = *r.checkout_waits;
    s.checkout_wait_ms = {h.count(), util::to_millis(h.quantile(0.50)),
                          util::to_millis(h.quantile(0.95)), util::to_millis(h.quantile(0.99)),
                          util::to_millis(h.max())};
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
    s.pre_ping_failures += p.stats.pre_ping_failures;
    s.overflow_closed += p.stats.overflow_closed;
    s.held_at_end += p.outstanding;
  }
  return s;
}

Verdict judge(const Summary& s, const run::RunResult& r) {
  Verdict v;
  const auto refused =
      s.errors_by_sqlstate.contains("53300") ? s.errors_by_sqlstate.at("53300") : 0;
  if (refused > 0) {
    v.pass = false;
    v.reasons.push_back(fmt::format(
        "the server refused {} connection attempts with 53300 (limit {} for ordinary roles: "
        "max_connections {} - superuser_reserved_connections {}); peak {} connections at {:.1f}s",
        refused, s.connection_limit, r.target.server.max_connections,
        r.target.server.superuser_reserved_connections, s.peak_connections, s.peak_at_s));
  }
  if (s.pool_timeouts > 0) {
    v.pass = false;
    v.reasons.push_back(
        fmt::format("{} checkouts timed out waiting for a pool connection", s.pool_timeouts));
  }
  if (r.status != run::RunStatus::kCompleted) {
    // What was seen may be fine, but a run that did not finish cannot vouch for the scenario.
    v.pass = false;
    v.reasons.push_back(fmt::format("the run did not complete ({}{}{})", run::to_string(r.status),
                                    r.status_detail.empty() ? "" : ": ", r.status_detail));
  }
  if (v.pass) {
    v.reasons.push_back(
        fmt::format("no connection refused and no pool timeout; peak {} of {} "
                    "connections",
                    s.peak_connections, s.connection_limit));
  }
  return v;
}

}  // namespace pgleak::analysis

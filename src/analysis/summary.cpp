#include "analysis/summary.hpp"

#include <algorithm>
#include <iterator>
#include <stdexcept>

namespace pgleak::analysis {
namespace {

WaitPercentiles percentiles(const util::LatencyHistogram& h) {
  return {h.count(), util::to_millis(h.quantile(0.50)), util::to_millis(h.quantile(0.95)),
          util::to_millis(h.quantile(0.99)), util::to_millis(h.max())};
}

// The summary's totals that are the pools' counters added up.
struct PoolTotal {
  uint64_t Summary::*total;
  uint64_t record::PoolStats::*counter;
};
constexpr PoolTotal kPoolTotals[] = {
    {&Summary::checkouts, &record::PoolStats::checkouts},
    {&Summary::connects, &record::PoolStats::connects},
    {&Summary::connect_failures, &record::PoolStats::connect_failures},
    {&Summary::recycled, &record::PoolStats::recycled},
    {&Summary::invalidated, &record::PoolStats::invalidated},
    {&Summary::pre_pings, &record::PoolStats::pre_pings},
    {&Summary::pre_ping_failures, &record::PoolStats::pre_ping_failures},
    {&Summary::overflow_closed, &record::PoolStats::overflow_closed},
};

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
  const auto limits = probe::limits_for(r.target.server, r.target.connections_before);
  s.connection_limit = probe::workers_limit(limits);
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
    for (const auto& t : kPoolTotals) {
      s.*t.total += p.stats.*t.counter;
    }
    s.held_at_end += p.outstanding;
  }
  for (const auto& f : r.network_faults) {
    s.network.cut_off += f.cut_off;
    s.network.ended += static_cast<int>(f.lived_s.size());
    s.network.left += f.left;
    for (const double lived : f.lived_s) {
      s.network.lived_s_max = std::max(s.network.lived_s_max, lived);
    }
  }
  s.connect_attempts = r.connect_attempts;
  s.holders = static_cast<int>(r.holders.size());
  s.budget = compute_budget(sc, limits);
  s.pool_capacity = s.budget.unbounded ? -1 : s.budget.worst_case;
  // The first fifth of a run is warm-up: pools filling up is not a leak.
  s.growth = fit_growth(r.samples, sc.time_scale, 0.2, s.pool_capacity);
  return s;
}

namespace {

// Each metric's value, in scenario/metrics.def's order (its last column).
using Projection = nlohmann::json (*)(const Summary&);
constexpr Projection kValues[] = {
#define PGLEAK_METRIC(name, help, live, compare_noise, value) \
  [](const Summary& s) -> nlohmann::json { return value; },
#include "scenario/metrics.def"
#undef PGLEAK_METRIC
};

}  // namespace

nlohmann::json metric_json(const Summary& s, const scenario::MetricInfo& metric) {
  const auto all = scenario::metrics();
  const auto index = static_cast<size_t>(&metric - all.data());
  if (index >= all.size() || index >= std::size(kValues)) {
    throw std::invalid_argument("metric_json: not a row of scenario::metrics()");
  }
  return kValues[index](s);
}

nlohmann::json summary_json(const Summary& s) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& m : scenario::metrics()) {
    std::string pointer{"/"};
    for (const char c : m.name) {
      pointer.push_back(c == '.' ? '/' : c);
    }
    out[nlohmann::json::json_pointer{pointer}] = metric_json(s, m);
  }
  out["errors_by_sqlstate"] = s.errors_by_sqlstate;
  out["server_errors_by_sqlstate"] = s.server_errors_by_sqlstate;
  out["pgbouncer_errors"] = s.pgbouncer_errors;
  return out;
}

}  // namespace pgleak::analysis

#include "scenario/metrics.hpp"

#include <algorithm>
#include <array>

#include "util/text.hpp"

namespace pgleak::scenario {
namespace {

using M = Metric;

constexpr std::array<MetricInfo, 43> kMetrics{{
    {M::kPeakConnections, "peak_connections", "most of the run's backends in any sample", true,
     2.0},
    {M::kPeakAtS, "peak_at_s", "when the peak was first seen, seconds into the run", false,
     std::nullopt},
    {M::kFinalConnections, "final_connections", "the run's backends in the last sample", false,
     std::nullopt},
    {M::kPeakTotalConnections, "peak_total_connections",
     "most client backends of anyone in any sample (not the sampler)", false, std::nullopt},
    {M::kConnectionLimit, "connection_limit",
     "how many connections the workers' role may open on this server", false, std::nullopt},
    {M::kPoolTimeouts, "pool_timeouts", "checkouts that waited pool_timeout and failed", true, 0.0},
    {M::kCheckouts, "checkouts", "successful pool checkouts", false, std::nullopt},
    {M::kConnects, "connects", "connections the pools opened", false, std::nullopt},
    {M::kConnectAttempts, "connect_attempts",
     "connections the workers tried to open, pooled or not, refused ones included", false,
     std::nullopt},
    {M::kConnectionsLost, "connections_lost",
     "statements that found their connection gone (no SQLSTATE, as libpq reports it)", false,
     std::nullopt},
    {M::kRecycled, "recycled", "connections replaced at checkout for pool_recycle", false,
     std::nullopt},
    {M::kInvalidated, "invalidated", "connections replaced after a pool invalidation", false,
     std::nullopt},
    {M::kPrePings, "pre_pings", "pings made at checkout", false, std::nullopt},
    {M::kPrePingFailures, "pre_ping_failures", "pings that found the connection dead", false,
     std::nullopt},
    {M::kOverflowClosed, "overflow_closed", "overflow connections closed on check-in", false,
     std::nullopt},
    {M::kHeldAtEnd, "held_at_end", "checkouts still out when the scenario ended", false,
     std::nullopt},
    {M::kHolders, "holders", "of those, held longer than leak_threshold", true, 0.0},
    {M::kArrivals, "arrivals", "open-model arrivals", false, std::nullopt},
    {M::kDroppedArrivals, "dropped_arrivals", "arrivals that found every worker busy", false, 0.0},
    {M::kSamplesWithWaiters, "samples_with_waiters", "samples in which a checkout was waiting",
     false, std::nullopt},
    {M::kPoolCapacity, "pool_capacity", "the pools' worst case together; -1 when unbounded", false,
     std::nullopt},
    {M::kCheckoutWaitCount, "checkout_wait_ms.count", "checkouts timed", false, std::nullopt},
    {M::kCheckoutWaitP50, "checkout_wait_ms.p50", "median request-to-handover time", false,
     std::nullopt},
    {M::kCheckoutWaitP95, "checkout_wait_ms.p95", "95th percentile checkout wait", false, 1.0},
    {M::kCheckoutWaitP99, "checkout_wait_ms.p99", "99th percentile checkout wait", false, 1.0},
    {M::kCheckoutWaitMax, "checkout_wait_ms.max", "longest checkout wait", false, std::nullopt},
    {M::kTimeoutLateCount, "pool_timeout_late_ms.count", "pool timeouts timed", false,
     std::nullopt},
    {M::kTimeoutLateP50, "pool_timeout_late_ms.p50", "median lateness past pool_timeout", false,
     std::nullopt},
    {M::kTimeoutLateP95, "pool_timeout_late_ms.p95", "95th percentile lateness", false,
     std::nullopt},
    {M::kTimeoutLateP99, "pool_timeout_late_ms.p99", "99th percentile lateness", false,
     std::nullopt},
    {M::kTimeoutLateMax, "pool_timeout_late_ms.max", "most lateness", false, std::nullopt},
    {M::kGrowthComputed, "growth.computed", "1 when enough samples followed the warm-up", false,
     std::nullopt},
    {M::kGrowthSlopePerMin, "growth.slope_per_min",
     "connections per nominal minute after warm-up (least squares)", false, 0.5},
    {M::kGrowthR2, "growth.r2", "how well a line fits that growth", false, std::nullopt},
    {M::kGrowthFromS, "growth.from_s", "where the fit starts", false, std::nullopt},
    {M::kGrowthToS, "growth.to_s", "where it ends", false, std::nullopt},
    {M::kGrowthSamples, "growth.samples", "samples in the fit", false, std::nullopt},
    {M::kGrowthRise, "growth.rise", "connections gained over the fit", false, std::nullopt},
    {M::kGrowthTailSlopePerMin, "growth.tail_slope_per_min", "the slope of the last part", false,
     std::nullopt},
    {M::kGrowthPlateaued, "growth.plateaued", "1 when the growth levelled off", false,
     std::nullopt},
    {M::kProcessExits, "process_exits", "simulated processes that exited cleanly", false,
     std::nullopt},
    {M::kProcessCrashes, "process_crashes", "simulated processes that crashed", false,
     std::nullopt},
    {M::kProcessRestarts, "process_restarts", "simulated processes started again", false,
     std::nullopt},
}};

}  // namespace

std::span<const MetricInfo> metrics() {
  return kMetrics;
}

const MetricInfo* find_metric(std::string_view name) {
  const auto it = std::find_if(kMetrics.begin(), kMetrics.end(),
                               [&](const MetricInfo& m) { return m.name == name; });
  return it == kMetrics.end() ? nullptr : &*it;
}

std::span<const CountFamily> count_families() {
  using Id = CountFamily::Id;
  static constexpr CountFamily kFamilies[] = {
      {Id::kClientSqlstate, "errors.", "errors_by_sqlstate", "a SQLSTATE the clients saw"},
      {Id::kServerSqlstate, "server_errors.", "server_errors_by_sqlstate",
       "a SQLSTATE the server logged"},
      {Id::kPgBouncer, "pgbouncer_errors.", "pgbouncer_errors",
       "a reason PgBouncer gave a client (max_client_conn, query_wait_timeout, ...)"},
  };
  return kFamilies;
}

const CountFamily* count_family_of(std::string_view name) {
  for (const auto& family : count_families()) {
    if (name.substr(0, family.prefix.size()) != family.prefix) {
      continue;
    }
    const auto key = name.substr(family.prefix.size());
    const bool ok =
        family.id == CountFamily::Id::kPgBouncer
            ? !key.empty() && key.size() <= 40 &&
                  std::all_of(key.begin(), key.end(),
                              [](char c) {
                                return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                              })
            : util::is_sqlstate(key);
    return ok ? &family : nullptr;
  }
  return nullptr;
}

}  // namespace pgleak::scenario

#include "report/compare.hpp"

#include <gtest/gtest.h>

#include "util/errors.hpp"

namespace pgleak::report {
namespace {

using nlohmann::json;

json report(int peak, double p95, int timeouts, json errors, const std::string& diagnosis,
            bool pass) {
  return {{"schema", "pgleak.report/1"},
          {"scenario", {{"name", "s"}}},
          {"summary",
           {{"peak_connections", peak},
            {"final_connections", peak},
            {"checkout_wait_ms", {{"p95", p95}, {"p99", p95}}},
            {"pool_timeouts", timeouts},
            {"holders", 0},
            {"held_at_end", 0},
            {"dropped_arrivals", 0},
            {"growth", {{"slope_per_min", 0.0}}},
            {"errors_by_sqlstate", errors}}},
          {"verdict", {{"diagnosis", diagnosis}, {"pass", pass}}}};
}

const MetricChange& find(const Comparison& c, const std::string& metric) {
  for (const auto& m : c.changes) {
    if (m.metric == metric) {
      return m;
    }
  }
  throw std::runtime_error("no metric " + metric);
}

TEST(Compare, IdenticalReportsAreNoRegression) {
  const auto r = report(15, 0.3, 0, json::object(), "healthy", true);
  EXPECT_FALSE(compare_reports(r, r, 0.1).regression);
}

TEST(Compare, RisesBeyondToleranceAndFloorAreRegressions) {
  const auto base = report(15, 2.0, 0, json::object(), "healthy", true);
  const auto worse = report(40, 2.1, 3, {{"53300", 7}}, "server_limit", false);
  const auto c = compare_reports(base, worse, 0.1);
  EXPECT_TRUE(c.regression);
  EXPECT_TRUE(find(c, "peak_connections").regression);
  EXPECT_FALSE(find(c, "checkout_wait_ms.p95").regression);  // +5 %, +0.1 ms: noise
  EXPECT_TRUE(find(c, "pool_timeouts").regression);          // from zero, any rise
  EXPECT_TRUE(find(c, "errors.53300").regression);
  EXPECT_TRUE(find(c, "verdict").regression);
}

TEST(Compare, ImprovementsAndSmallRisesAreNot) {
  const auto base = report(40, 30, 5, {{"53300", 7}}, "server_limit", false);
  const auto better = report(41, 31, 0, json::object(), "healthy", true);
  const auto c = compare_reports(base, better, 0.1);
  EXPECT_FALSE(c.regression);
  EXPECT_FALSE(find(c, "peak_connections").regression);  // +1 of 40: within 10 %
}

TEST(Compare, ToleranceIsConfigurable) {
  const auto base = report(100, 10, 0, json::object(), "healthy", true);
  const auto now = report(115, 10, 0, json::object(), "healthy", true);
  EXPECT_TRUE(compare_reports(base, now, 0.10).regression);
  EXPECT_FALSE(compare_reports(base, now, 0.20).regression);
}

// A baseline written before a metric existed has no value for it: the
// metric is not compared (and says why), never read as 0.
TEST(Compare, AMetricTheBaselineLacksIsNotComparedAsZero) {
  const auto base = report(15, 0.3, 0, json::object(), "healthy", true);
  auto now = base;
  now["summary"]["network"] = {{"left", 2}, {"lived_s_max", 0.0}};
  const auto c = compare_reports(base, now, 0.1);
  EXPECT_FALSE(c.regression);
  const auto& left = find(c, "network.left");
  EXPECT_FALSE(left.regression);
  EXPECT_EQ(left.base, "-");
  EXPECT_EQ(left.current, 2);
  EXPECT_EQ(left.note, "not in BASE");
  auto worse = now;
  worse["summary"]["network"]["left"] = 5;
  EXPECT_TRUE(find(compare_reports(now, worse, 0.1), "network.left").regression);
}

TEST(Compare, RejectsWhatIsNotAReport) {
  EXPECT_THROW(compare_reports(json{{"schema", "other"}}, json::object(), 0.1), util::UsageError);
}

}  // namespace
}  // namespace pgleak::report

#include "scenario/expectation.hpp"

#include <charconv>
#include <cmath>
#include <regex>

namespace pgleak::scenario {
namespace {

// Every numeric summary metric, by the name analysis::summary_json gives it
// (tests/unit/verdict_test.cpp checks the two stay in step).
constexpr std::string_view kMetrics[] = {"peak_connections",
                                         "peak_at_s",
                                         "final_connections",
                                         "peak_total_connections",
                                         "connection_limit",
                                         "pool_timeouts",
                                         "checkouts",
                                         "connects",
                                         "recycled",
                                         "invalidated",
                                         "pre_ping_failures",
                                         "overflow_closed",
                                         "held_at_end",
                                         "holders",
                                         "arrivals",
                                         "dropped_arrivals",
                                         "samples_with_waiters",
                                         "pool_capacity",
                                         "checkout_wait_ms.count",
                                         "checkout_wait_ms.p50",
                                         "checkout_wait_ms.p95",
                                         "checkout_wait_ms.p99",
                                         "checkout_wait_ms.max",
                                         "pool_timeout_late_ms.count",
                                         "pool_timeout_late_ms.p50",
                                         "pool_timeout_late_ms.p95",
                                         "pool_timeout_late_ms.p99",
                                         "pool_timeout_late_ms.max",
                                         "growth.computed",
                                         "growth.slope_per_min",
                                         "growth.r2",
                                         "growth.from_s",
                                         "growth.to_s",
                                         "growth.samples",
                                         "growth.rise",
                                         "growth.tail_slope_per_min",
                                         "growth.plateaued"};

const std::regex kSqlstateMetric{"(errors|server_errors)\\.[0-9A-Z]{5}"};

}  // namespace

bool Expectation::holds(double v) const {
  if (op == "<")
    return v < bound;
  if (op == "<=")
    return v <= bound;
  if (op == "==")
    return v == bound;
  if (op == "!=")
    return v != bound;
  if (op == ">=")
    return v >= bound;
  if (op == ">")
    return v > bound;
  return false;
}

bool Expectation::lost_for_good(double v) const {
  // For a quantity that never decreases, only upper bounds can be lost early.
  return (op == "<" || op == "<=" || op == "==") && !holds(v) && v > bound;
}

bool can_abort_early(const std::string& metric) {
  return metric == "peak_connections" || metric == "pool_timeouts" || metric == "holders" ||
         metric.rfind("errors.", 0) == 0 || metric.rfind("server_errors.", 0) == 0;
}

std::optional<std::string> check_metric(const std::string& metric) {
  if (metric == "verdict" || std::regex_match(metric, kSqlstateMetric)) {
    return std::nullopt;
  }
  for (const auto m : kMetrics) {
    if (m == metric) {
      return std::nullopt;
    }
  }
  return "unknown metric (use a summary metric such as peak_connections, pool_timeouts, "
         "checkout_wait_ms.p95, errors.53300, growth.slope_per_min, holders, or verdict)";
}

std::optional<Expectation> parse_expectation(const std::string& metric, const std::string& text,
                                             std::string* why) {
  Expectation e;
  e.metric = metric;
  e.text = text;
  if (metric == "verdict") {
    if (text != "healthy" && text != "leak" && text != "undersized" && text != "server_limit") {
      *why = "verdict must be healthy, leak, undersized or server_limit";
      return std::nullopt;
    }
    e.op = "==";
    e.verdict = text;
    return e;
  }
  static const std::regex kExpr{R"(\s*(<=|>=|==|!=|<|>)\s*(-?[0-9]+(?:\.[0-9]+)?)\s*)"};
  std::smatch m;
  if (!std::regex_match(text, m, kExpr)) {
    *why = "must be a comparison like \"<= 20\", \"== 0\" or \"< 50.5\"";
    return std::nullopt;
  }
  e.op = m[1];
  e.bound = std::stod(m[2]);
  return e;
}

}  // namespace pgleak::scenario

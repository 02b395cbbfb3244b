#include "scenario/expectation.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

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
                                         "connect_attempts",
                                         "connections_lost",
                                         "recycled",
                                         "invalidated",
                                         "pre_pings",
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

// "errors.53300" or "server_errors.25P03": a prefix and five [0-9A-Z].
bool is_sqlstate_metric(std::string_view metric) {
  for (const std::string_view prefix : {"errors.", "server_errors."}) {
    if (metric.size() == prefix.size() + 5 && metric.substr(0, prefix.size()) == prefix) {
      const auto code = metric.substr(prefix.size());
      return std::all_of(code.begin(), code.end(),
                         [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); });
    }
  }
  return false;
}

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

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
  if (metric == "verdict" || is_sqlstate_metric(metric)) {
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
  // "<op> <number>", read by hand: an operator, then a plain decimal number
  // (no exponent, no inf or nan), each with optional blanks around it.
  const auto bad = [&] {
    *why = "must be a comparison like \"<= 20\", \"== 0\" or \"< 50.5\"";
    return std::nullopt;
  };
  std::string_view rest{text};
  while (!rest.empty() && is_space(rest.front())) {
    rest.remove_prefix(1);
  }
  while (!rest.empty() && is_space(rest.back())) {
    rest.remove_suffix(1);
  }
  for (const std::string_view op : {"<=", ">=", "==", "!=", "<", ">"}) {
    if (rest.substr(0, op.size()) == op) {
      e.op = std::string{op};
      rest.remove_prefix(op.size());
      break;
    }
  }
  while (!rest.empty() && is_space(rest.front())) {
    rest.remove_prefix(1);
  }
  const auto digits = [](std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  const auto number = rest.substr(!rest.empty() && rest.front() == '-' ? 1 : 0);
  const auto dot = number.find('.');
  if (e.op.empty() || !digits(number.substr(0, dot)) ||
      (dot != std::string_view::npos && !digits(number.substr(dot + 1)))) {
    return bad();
  }
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), e.bound);
  if (ec != std::errc{} || end != rest.data() + rest.size() || !std::isfinite(e.bound) ||
      std::fabs(e.bound) > 1e15) {
    *why = "the number must be between -1e15 and 1e15";
    return std::nullopt;
  }
  return e;
}

}  // namespace pgleak::scenario

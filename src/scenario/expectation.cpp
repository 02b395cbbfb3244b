#include "scenario/expectation.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "scenario/metrics.hpp"

namespace pgleak::scenario {
namespace {

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
  const auto* m = find_metric(metric);
  return (m != nullptr && m->live) || (count_family_of(metric) != nullptr);
}

std::optional<std::string> check_metric(const std::string& metric) {
  if (metric == "verdict" || (count_family_of(metric) != nullptr)) {
    return std::nullopt;
  }
  if (find_metric(metric) != nullptr) {
    return std::nullopt;
  }
  return "unknown metric (use a summary metric such as peak_connections, pool_timeouts, "
         "checkout_wait_ms.p95, errors.53300, growth.slope_per_min, holders, or verdict; "
         "pgleak list shows them all)";
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

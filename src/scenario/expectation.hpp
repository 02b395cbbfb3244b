#pragma once

#include <optional>
#include <string>

namespace pgleak::scenario {

// One k6-style threshold from a scenario's "expect": a summary metric, a
// comparison and a bound, e.g. "checkout_wait_ms.p95": "< 50", or the
// verdict: "verdict": "healthy".
struct Expectation {
  std::string metric;  // dotted path into the report's summary; "errors.X" = errors_by_sqlstate.X
  std::string op;      // <, <=, ==, !=, >=, >
  double bound = 0;
  std::string verdict;  // for metric "verdict": healthy, leak, undersized or server_limit
  bool abort_on_fail = false;
  std::string text;  // as written, for reports

  // Whether `value` satisfies it (numeric metrics).
  bool holds(double value) const;
  // Whether a value that can only grow (a peak, a counter) already rules out passing.
  bool lost_for_good(double value_so_far) const;
};

// Whether `metric` may carry abort_on_fail: a value that only grows during a
// run and is watched while it runs (run::LiveWatch reads exactly these).
bool can_abort_early(const std::string& metric);

// Why `metric` is not addressable, or nullopt when it is.
std::optional<std::string> check_metric(const std::string& metric);
// Parses "<= 20" into op and bound; nullopt and `why` on failure.
std::optional<Expectation> parse_expectation(const std::string& metric, const std::string& text,
                                             std::string* why);

}  // namespace pgleak::scenario

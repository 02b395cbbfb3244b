#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace pgleak::report {

// One metric of two reports side by side.
struct MetricChange {
  std::string metric;
  nlohmann::json base;
  nlohmann::json current;
  bool regression = false;
  std::string note;  // why it counts as a regression, or what changed
};

struct Comparison {
  std::string base_scenario;
  std::string current_scenario;
  std::vector<MetricChange> changes;
  bool regression = false;
};

// Compares two pgleak.report/1 documents. For every metric where more is
// worse (peak, waits, timeouts, errors, holders, growth, dropped arrivals), a
// regression is a rise beyond `relative_tolerance` (0.10 = 10 %) and beyond
// the metric's absolute noise floor; from zero, any rise of a count. The
// verdict regresses when its diagnosis gets more severe or a pass turns into
// a fail. Throws util::UsageError when a document is not a pgleak report.
Comparison compare_reports(const nlohmann::json& base, const nlohmann::json& current,
                           double relative_tolerance);

std::string format_comparison(const Comparison& comparison);
nlohmann::json comparison_json(const Comparison& comparison);

}  // namespace pgleak::report

#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "analysis/summary.hpp"
#include "scenario/scenario.hpp"

namespace pgleak::analysis {

// What is wrong, if anything. Users ask exactly this: is it leaking, is the
// pool merely too small, or does the whole thing not fit the server?
enum class Diagnosis {
  kHealthy,
  kLeak,         // held connections keep growing, or holders exceed leak_threshold
  kUndersized,   // waits or timeouts while every holder returns its connection
  kServerLimit,  // the server refused connections (53300)
};

std::string_view to_string(Diagnosis d);

struct Finding {
  Diagnosis diagnosis;
  std::string evidence;
};

struct ThresholdResult {
  scenario::Expectation expectation;
  bool implicit = false;  // the default "verdict == healthy"
  nlohmann::json actual;
  bool pass = false;
};

struct Verdict {
  Diagnosis diagnosis = Diagnosis::kHealthy;  // the most severe finding
  std::vector<Finding> findings;              // every finding, most severe first
  std::vector<ThresholdResult> thresholds;
  bool pass = true;
  std::vector<std::string> reasons;  // why it passed or failed, for people
};

// Diagnoses the run, then checks the scenario's thresholds (plus an implicit
// verdict == healthy when the scenario names no verdict). A run that did not
// complete never passes.
Verdict judge(const Summary& summary, const record::RunResult& result,
              const scenario::Scenario& scenario);

// A metric's value from a summary_json(): "checkout_wait_ms.p95",
// "errors.53300" (0 when absent). nullopt for unknown names.
std::optional<double> metric_value(const nlohmann::json& summary, const std::string& metric);

nlohmann::json verdict_json(const Verdict& verdict);

}  // namespace pgleak::analysis

#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "analysis/summary.hpp"
#include "analysis/verdict.hpp"
#include "run/runner.hpp"
#include "scenario/scenario.hpp"

namespace pgleak::report {

inline constexpr const char* kReportSchema = "pgleak.report/1";

// The resolved scenario: every duration with its nominal and applied value.
nlohmann::json scenario_json(const scenario::Scenario& scenario);

// The whole report (schema pgleak.report/1). Keys are snake_case with units
// in their names; no DSN in it carries a password.
nlohmann::json build_report(const scenario::Scenario& scenario, const run::RunResult& result,
                            const analysis::Summary& summary, const analysis::Verdict& verdict);

// Write atomically (temp file + rename), creating parent directories.
// Throw util::InfrastructureError.
void write_json(const std::string& path, const nlohmann::json& document);
void write_text(const std::string& path, const std::string& text);

}  // namespace pgleak::report

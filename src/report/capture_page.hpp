#pragma once

// A capture's diagnosis in the shape of a JSON report (pgleak.report/1), so
// that the HTML report draws it with the charts of a run: the server's
// connections by state over time, a line per application, the server log's
// errors on the timeline, and the findings as the verdict's reasons.

#include <nlohmann/json.hpp>
#include <string>

#include "analysis/diagnosis.hpp"

namespace pgleak::report {

nlohmann::json capture_report(const analysis::CaptureDiagnosis& diagnosis, const std::string& name);

}  // namespace pgleak::report

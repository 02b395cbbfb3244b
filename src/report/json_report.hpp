#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "analysis/summary.hpp"
#include "analysis/verdict.hpp"
#include "record/run_result.hpp"
#include "scenario/scenario.hpp"

namespace pgleak::report {

inline constexpr const char* kReportSchema = "pgleak.report/1";
// The largest report pgleak reads back (report, compare, merge). What it
// writes is far smaller: at most record::Recorder::kKeptSamples samples and
// kMaxEvents events. A report is parsed whole, at about 27 times its size.
inline constexpr size_t kMaxReportBytes = size_t{64} << 20;
// The largest timeline (gzip) merge reads, and what it may decompress to. It
// is read a line at a time into a bounded recorder, never kept whole.
inline constexpr size_t kMaxTimelineBytes = size_t{256} << 20;
inline constexpr size_t kMaxTimelineDecompressed = size_t{4} << 30;

// The resolved scenario: every duration with its nominal and applied value.
nlohmann::json scenario_json(const scenario::Scenario& scenario);

// The whole report (schema pgleak.report/1). Keys are snake_case with units
// in their names; no DSN in it carries a password.
nlohmann::json build_report(const scenario::Scenario& scenario, const record::RunResult& result,
                            const analysis::Summary& summary, const analysis::Verdict& verdict);

// The report as written to disk: indented, and valid UTF-8 whatever the
// server sent (bytes that are not UTF-8 become U+FFFD instead of an error).
std::string report_text(const nlohmann::json& document);

}  // namespace pgleak::report

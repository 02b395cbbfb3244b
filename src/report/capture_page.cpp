#include "report/capture_page.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "record/record_json.hpp"
#include "report/json_report.hpp"

namespace pgleak::report {

using nlohmann::json;

json capture_report(const analysis::CaptureDiagnosis& d, const std::string& name) {
  json samples = json::array();
  for (const auto& s : d.samples) {
    samples.push_back(record::sample_json(s));
  }
  json events = json::array();
  for (const auto& l : d.log_lines) {
    events.push_back({{"t_s", l.t_s},
                      {"kind", "server_log"},
                      {"sqlstate", l.sqlstate},
                      {"message", l.severity + ":  " + l.message},
                      {"process", l.application.empty() ? json(nullptr) : json(l.application)}});
  }
  json reasons = json::array();
  bool healthy = true;
  for (const auto& a : d.apps) {
    healthy = healthy && a.healthy();
    for (const auto& f : a.findings) {
      reasons.push_back(
          fmt::format("{}: {}: {}", a.application, analysis::to_string(f.kind), f.evidence));
    }
  }
  json server_errors = json::object();
  for (const auto& a : d.apps) {
    for (const auto& [code, n] : a.server_errors) {
      server_errors[code] = server_errors.value(code, uint64_t{0}) + n;
    }
  }
  if (d.refusals > 0) {
    server_errors["53300"] = d.refusals;
  }
  return {
      {"schema", kReportSchema},
      {"run",
       {{"id", "capture"}, {"status", d.cut ? "interrupted" : "completed"}, {"wall_s", d.span_s}}},
      {"scenario",
       {{"name", name},
        {"description",
         fmt::format("A capture of {:.0f}s ({} snapshots) of PostgreSQL {}: the server's "
                     "connections by state, and a line per application.",
                     d.span_s, d.snapshots, d.server.server_version)},
        {"time_scale", 1.0},
        {"duration", {{"nominal_s", d.span_s}, {"applied_s", d.span_s}}},
        {"processes", json::array()}}},
      {"target",
       {{"kind", "external"},
        {"server_version", d.server.server_version},
        {"max_connections", d.server.max_connections},
        {"superuser_reserved_connections", d.server.superuser_reserved_connections}}},
      {"summary",
       {{"peak_connections", d.peak_total},
        {"peak_at_s", d.peak_total_at_s},
        {"peak_total_connections", d.peak_total},
        {"connection_limit", d.limit},
        {"errors_by_sqlstate", json::object()},
        {"server_errors_by_sqlstate", server_errors},
        {"checkout_wait_ms", {{"count", 0}, {"p95", 0}, {"max", 0}}}}},
      {"budget", {{"unbounded", true}}},
      {"samples", samples},
      {"events", events},
      {"holders", json::array()},
      {"verdict",
       {{"pass", healthy},
        {"diagnosis", healthy ? "healthy" : "leak"},
        {"reasons", reasons},
        {"thresholds", json::array()}}}};
}

}  // namespace pgleak::report

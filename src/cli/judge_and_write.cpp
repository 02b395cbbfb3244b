// What a run (or a merge) ends with: its judgement, its reports, and the
// summary on the terminal (run_command.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <iostream>

#include "analysis/summary.hpp"
#include "analysis/verdict.hpp"
#include "cli/exit_code.hpp"
#include "cli/run_command.hpp"
#include "report/html_report.hpp"
#include "report/json_report.hpp"
#include "report/junit_report.hpp"
#include "report/sparkline.hpp"
#include "util/errors.hpp"
#include "util/files.hpp"
#include "util/text.hpp"

namespace pgleak::cli {
namespace {

// The run's connections as the server showed them, as pgleak counted its
// own sessions, and over time.
void print_connections(std::ostream& out, const record::RunResult& r, const analysis::Summary& s) {
  out << fmt::format(
      "  connections: peak {} at {:.1f}s, final {}, limit {} ({}; pgleak's sampler holds 1 "
      "slot), server {}\n",
      s.peak_connections, s.peak_at_s, s.final_connections, s.connection_limit,
      probe::explain_limit(probe::limits_for(r.target.server, r.target.connections_before)),
      util::printable(r.target.server.server_version));
  if (r.sessions_peak && r.sessions_peak->open > 0) {
    // Counted as they open and close: a peak between two samples shows here.
    out << fmt::format("  sessions: at most {} open at once on pgleak's side, first at {:.2f}s\n",
                       r.sessions_peak->open, r.sessions_peak->at_s);
  }
  std::vector<double> own;
  own.reserve(r.samples.size());
  for (const auto& sample : r.samples) {
    own.push_back(sample.own);
  }
  if (!own.empty()) {
    out << fmt::format("  over time:   {}| limit {}\n",
                       report::sparkline(own, std::max(1, s.connection_limit)), s.connection_limit);
  }
}

void print_summary(std::ostream& out, const scenario::Scenario& sc, const record::RunResult& r,
                   const analysis::Summary& s, const analysis::Verdict& v) {
  out << fmt::format("{}: {} ({}; {}, {:.1f}s wall; {} nominal at time_scale {})\n", sc.name,
                     v.pass ? "PASS" : "FAIL", analysis::to_string(v.diagnosis),
                     record::to_string(r.status), r.wall_s,
                     util::format_duration(sc.duration.nominal), sc.time_scale);
  print_connections(out, r, s);
  const auto& w = s.checkout_wait_ms;
  out << fmt::format(
      "  pool: {} checkouts, {} timeouts, wait p50 {:.3f}ms p95 {:.3f}ms p99 "
      "{:.3f}ms max {:.3f}ms; {} held at end\n",
      s.checkouts, s.pool_timeouts, w.p50, w.p95, w.p99, w.max, s.held_at_end);
  if (s.growth.computed) {
    out << fmt::format("  growth after warm-up: {:+.2f} connections/min nominal (R² {:.2f}){}\n",
                       s.growth.slope_per_min, s.growth.r2,
                       s.growth.plateaued ? ", levelled off" : "");
  }
  if (s.arrivals > 0) {
    out << fmt::format("  open model: {} arrivals, {} dropped (every worker busy)\n", s.arrivals,
                       s.dropped_arrivals);
  }
  auto counts = [](const std::map<std::string, uint64_t>& by_state) {
    std::string text;
    for (const auto& [state, n] : by_state) {
      text += fmt::format("{}{} x{}", text.empty() ? "" : ", ", state, n);
    }
    return text.empty() ? std::string{"none"} : text;
  };
  out << "  errors by SQLSTATE (clients): " << counts(s.errors_by_sqlstate) << "\n";
  if (r.server_log_available) {
    out << "  errors by SQLSTATE (server log): " << counts(s.server_errors_by_sqlstate) << "\n";
  }
  if (r.target.pgbouncer) {
    out << "  PgBouncer's errors to clients (its log): " << counts(s.pgbouncer_errors) << "\n";
  }
  const auto& budget = s.budget;
  out << fmt::format("  budget: worst case {} of {} available: {}\n",
                     analysis::worst_case_text(budget), budget.available,
                     budget.fits        ? "fits"
                     : budget.unbounded ? "cannot be bounded"
                                        : "does not fit");
  if (!r.holders.empty()) {
    out << fmt::format("  holders past leak_threshold {}: {}\n",
                       util::format_duration(sc.leak_threshold->nominal), r.holders.size());
    const size_t shown = std::min<size_t>(r.holders.size(), 5);
    for (size_t i = 0; i < shown; ++i) {
      const auto& h = r.holders[i];
      out << fmt::format("    {}.{} {} ({}): backend {} since {:.1f}s, {:.0f}s nominal\n",
                         util::printable(h.process), h.replica, util::printable(h.worker),
                         util::printable(h.pattern), h.backend_pid, h.since_s, h.age_nominal_s);
    }
    if (r.holders.size() > shown) {
      out << fmt::format("    ... and {} more in the report\n", r.holders.size() - shown);
    }
  }
  for (const auto& t : v.thresholds) {
    out << fmt::format("  {} {} {} (actual {}){}\n", t.pass ? "ok  " : "FAIL", t.expectation.metric,
                       t.expectation.text, t.actual.dump(), t.implicit ? " [default]" : "");
  }
  for (const auto& reason : v.reasons) {
    out << "  - " << util::printable(reason) << "\n";
  }
}

}  // namespace

// Judges the run, writes the JSON report first (with `merge` as its "merge"
// block when given), then JUnit and HTML, and prints the summary. Returns
// kInfrastructure when an output other than the report failed, else the
// verdict's exit code.
int judge_and_write(const scenario::Scenario& sc, const record::RunResult& result,
                    const nlohmann::json* merge, const Outputs& o, std::ostream& out,
                    std::ostream& err) {
  const auto summary = analysis::summarize(result, sc);
  const auto verdict = analysis::judge(summary, result, sc);
  auto report_json = report::build_report(sc, result, summary, verdict);
  if (merge != nullptr) {
    report_json["merge"] = *merge;
  }
  util::write_output_file(o.report, report::report_text(report_json));
  // The JSON report is written first: a JUnit or HTML file that fails cannot lose it.
  std::optional<std::string> side_failure;
  if (!o.junit.empty()) {
    try {
      util::write_output_file(o.junit, report::junit_xml(sc, result, verdict));
    } catch (const util::InfrastructureError& e) {
      side_failure = e.what();
    }
  }
  if (!o.html.empty()) {
    try {
      util::write_output_file(
          o.html, report::render_html(
                      {{std::filesystem::path{o.report}.filename().string(), report_json}}));
    } catch (const util::InfrastructureError& e) {
      side_failure = e.what();
    }
  }
  print_summary(out, sc, result, summary, verdict);
  out << "report: " << util::printable(o.report) << "\n";
  if (!o.html.empty() && !side_failure) {
    out << "html: " << util::printable(o.html) << "\n";
  }
  if (!result.side_file.path.empty()) {
    if (result.side_file.error.empty()) {
      out << "timeline: " << util::printable(result.side_file.path) << "\n";
    } else if (!side_failure) {
      side_failure = result.side_file.error;
    }
  }
  out << std::flush;
  if (side_failure) {
    err << "pgleak: " << util::printable(*side_failure) << " (the JSON report was written)\n";
    return kInfrastructure;
  }

  return verdict.pass ? kPassed : kFailed;
}

}  // namespace pgleak::cli

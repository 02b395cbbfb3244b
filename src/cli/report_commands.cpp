// pgleak compare and pgleak report: what they do with reports written by pgleak run or merge.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <optional>

#include "cli/commands.hpp"
#include "cli/exit_code.hpp"
#include "report/compare.hpp"
#include "report/html_report.hpp"
#include "report/json_report.hpp"
#include "util/errors.hpp"
#include "util/files.hpp"
#include "util/text.hpp"

namespace pgleak::cli {
namespace {

// A JSON report written by `pgleak run`: a usage error (exit 2) names the
// file when it cannot be read or is not JSON.
nlohmann::json read_report(const std::string& path) {
  std::string text;
  try {
    text = util::read_regular_file(path, report::kMaxReportBytes);
  } catch (const util::UsageError& e) {
    throw util::UsageError(path + ": " + e.what());
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw util::UsageError(path + " is not JSON: " + e.what());
  }
}

}  // namespace

int do_compare(const std::string& base_path, const std::string& new_path, double tolerance_pct,
               bool as_json, std::ostream& out) {
  try {
    const auto cmp = report::compare_reports(read_report(base_path), read_report(new_path),
                                             tolerance_pct / 100.0);
    out << (as_json ? report::comparison_json(cmp).dump(2) + "\n" : report::format_comparison(cmp));
    return cmp.regression ? kFailed : kPassed;
  } catch (const nlohmann::json::exception& e) {
    throw util::UsageError(std::string{"a report lacks an expected field: "} + e.what());
  }
}

// `pgleak report A.json [B.json ...] --html OUT.html`: the reports side by side.
int do_report(const std::vector<std::string>& paths, const std::string& html_path,
              std::ostream& out) {
  util::check_outputs({{"--html", html_path}}, paths);
  std::vector<report::HtmlInput> inputs;
  for (const auto& p : paths) {
    inputs.push_back({std::filesystem::path{p}.filename().string(), read_report(p)});
  }
  std::string html;
  try {
    html = report::render_html(inputs);
  } catch (const std::invalid_argument& e) {
    throw util::UsageError(e.what());
  } catch (const nlohmann::json::exception& e) {
    throw util::UsageError(std::string{"a report has a field of the wrong shape: "} + e.what());
  }
  util::write_output_file(html_path, html);
  out << "html: " << util::printable(html_path) << "\n";
  return kPassed;
}

Command add_compare(CLI::App& app, const CommandIo& io) {
  struct State {
    std::string compare_base;
    std::string compare_new;
    double tolerance_pct = 10;
    bool compare_json = false;
  };
  auto st = std::make_shared<State>();
  auto* compare = app.add_subcommand(
      "compare",
      "Compare two reports metric by metric (peak, waits, timeouts, errors, holders, growth,\n"
      "verdict); exit 1 when NEW is worse than BASE beyond the tolerance. Example:\n"
      "  pgleak compare results/baselines/incident-after.json results/incident-after-*.json");
  compare->add_option("base", st->compare_base, "Baseline report (JSON)")->required();
  compare->add_option("new", st->compare_new, "New report (JSON)")->required();
  compare
      ->add_option("--tolerance", st->tolerance_pct,
                   "Relative rise tolerated before it counts, in percent")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 10000.0));
  compare->add_flag("--json", st->compare_json, "JSON instead of a table");
  return {compare, [=, &io]() -> int {
            auto& compare_base = st->compare_base;
            auto& compare_new = st->compare_new;
            auto& tolerance_pct = st->tolerance_pct;
            auto& compare_json = st->compare_json;
            auto& out = io.out;
            return do_compare(compare_base, compare_new, tolerance_pct, compare_json, out);
          }};
}

Command add_report(CLI::App& app, const CommandIo& io) {
  struct State {
    std::vector<std::string> report_inputs;
    std::string report_html;
  };
  auto st = std::make_shared<State>();
  auto* report_cmd = app.add_subcommand(
      "report",
      "Render reports already written as one self-contained HTML page (charts and tables,\n"
      "several reports side by side on shared axes; the page fetches nothing). Example:\n"
      "  pgleak report before.json after.json --html incident.html");
  report_cmd->add_option("reports", st->report_inputs, "JSON reports written by pgleak run")
      ->required();
  report_cmd->add_option("--html", st->report_html, "Where to write the HTML page")->required();
  return {report_cmd, [=, &io]() -> int {
            auto& report_inputs = st->report_inputs;
            auto& report_html = st->report_html;
            auto& out = io.out;
            return do_report(report_inputs, report_html, out);
          }};
}

}  // namespace pgleak::cli

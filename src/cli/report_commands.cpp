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

}  // namespace pgleak::cli

// pgleak diagnose: a capture of a live server (monitor --record) read into
// what each application does with its connections, and a scenario that
// reproduces it.
#include <fmt/format.h>

#include <algorithm>
#include <ostream>

#include "analysis/diagnosis.hpp"
#include "analysis/starter_scenario.hpp"
#include "cli/commands.hpp"
#include "cli/exit_code.hpp"
#include "report/capture_page.hpp"
#include "report/html_report.hpp"
#include "util/errors.hpp"
#include "util/files.hpp"
#include "util/text.hpp"

namespace pgleak::cli {
namespace {

using nlohmann::json;

json diagnosis_json(const analysis::CaptureDiagnosis& d,
                    const std::map<std::string, std::string>& process_of) {
  json apps = json::array();
  for (const auto& a : d.apps) {
    json findings = json::array();
    for (const auto& f : a.findings) {
      findings.push_back(
          {{"kind", analysis::to_string(f.kind)}, {"evidence", f.evidence}, {"advice", f.advice}});
    }
    const auto process = process_of.find(a.application);
    apps.push_back(
        {{"application", a.application},
         {"process", process == process_of.end() ? json(nullptr) : json(process->second)},
         {"healthy", a.healthy()},
         {"peak", a.peak},
         {"peak_at_s", a.peak_at_s},
         {"at_peak_by_state", a.at_peak_by_state},
         {"final", a.final_count},
         {"held_without_commit", a.held.size()},
         {"start_groups", a.start_groups},
         {"group_size", a.group_size},
         {"idle_share", a.idle_share},
         {"growth_slope_per_min", a.growth.slope_per_min},
         {"longest_active_s", a.longest_active_s},
         {"held_when_full", a.held_when_full},
         {"findings", findings}});
  }
  return {
      {"schema", "pgleak.diagnosis/1"},
      {"server",
       {{"server_version", d.server.server_version},
        {"max_connections", d.server.max_connections},
        {"superuser_reserved_connections", d.server.superuser_reserved_connections},
        {"limit", d.limit}}},
      {"span_s", d.span_s},
      {"snapshots", d.snapshots},
      {"capture_cut", d.cut},
      {"peak_total", d.peak_total},
      {"peak_total_at_s", d.peak_total_at_s},
      {"snapshots_full", d.snapshots_full},
      {"first_full_at_s", d.first_full_at_s < 0 ? json(nullptr) : json(d.first_full_at_s)},
      {"server_log", d.server_log},
      {"refusals", d.refusals},
      {"first_refusal_at_s", d.first_refusal_at_s < 0 ? json(nullptr) : json(d.first_refusal_at_s)},
      {"held_at_first_refusal", d.held_at_first_refusal},
      {"applications", apps}};
}

void print_diagnosis(std::ostream& out, const analysis::CaptureDiagnosis& d,
                     const std::map<std::string, std::string>& process_of) {
  out << fmt::format(
      "{:.0f}s captured ({} snapshots{}); PostgreSQL {}: peak {} of {} "
      "connections for ordinary roles at {:.0f}s",
      d.span_s, d.snapshots, d.cut ? ", cut short" : "", util::printable(d.server.server_version),
      d.peak_total, d.limit, d.peak_total_at_s);
  if (d.snapshots_full > 0) {
    out << fmt::format("; full in {} snapshots, first at {:.0f}s, when it held:", d.snapshots_full,
                       d.first_full_at_s);
    for (const auto& a : d.apps) {
      if (a.held_when_full > 0) {
        out << fmt::format(" {} {}", util::printable(a.application), a.held_when_full);
      }
    }
  }
  out << "\n";
  if (d.refusals > 0) {
    out << fmt::format(
        "the server refused {} connection(s) (53300), the first at {:.0f}s, when "
        "these held the slots:",
        d.refusals, d.first_refusal_at_s);
    for (const auto& [app, n] : d.held_at_first_refusal) {
      out << fmt::format(" {} {}", util::printable(app), n);
    }
    out << "\n";
  }
  for (const auto& a : d.apps) {
    const auto process = process_of.find(a.application);
    out << fmt::format("\n{} ({}peak {} at {:.0f}s, {} at the end): {}\n",
                       util::printable(a.application),
                       process == process_of.end() ? "" : "process " + process->second + "; ",
                       a.peak, a.peak_at_s, a.final_count, a.healthy() ? "healthy" : "LEAKS");
    for (const auto& f : a.findings) {
      out << fmt::format("  - {}: {}\n", analysis::to_string(f.kind), util::printable(f.evidence));
      if (f.kind != analysis::AppFindingKind::kHealthy) {
        out << fmt::format("    fix: {}\n", f.advice);
      }
    }
  }
}

}  // namespace

int do_diagnose(const DiagnoseArgs& args, std::ostream& out) {
  util::check_outputs({{"--scenario", args.scenario_out}, {"--html", args.html}}, {args.capture});
  const auto d = analysis::diagnose_capture(args.capture);
  if (!args.html.empty()) {
    util::write_output_file(
        args.html, report::render_html({{args.capture, report::capture_report(d, args.name)}}));
  }
  std::map<std::string, std::string> process_of;
  if (!args.scenario_out.empty()) {
    const auto starter = analysis::starter_scenario(d, args.name);
    if (starter.process_of.empty()) {
      throw util::UsageError(args.capture +
                             ": no application held a connection: nothing to reproduce");
    }
    util::write_output_file(args.scenario_out, starter.scenario.dump(2) + "\n");
    process_of = starter.process_of;
  }
  if (args.json) {
    out << diagnosis_json(d, process_of).dump(2, ' ', true, json::error_handler_t::replace) << "\n";
  } else {
    print_diagnosis(out, d, process_of);
    if (!args.scenario_out.empty()) {
      out << fmt::format("\nwrote {}: pgleak run {} reproduces it\n",
                         util::printable(args.scenario_out), util::printable(args.scenario_out));
    }
  }
  const bool all_healthy =
      std::all_of(d.apps.begin(), d.apps.end(), [](const auto& a) { return a.healthy(); });
  return all_healthy ? kPassed : kFailed;
}

Command add_diagnose(CLI::App& app, const CommandIo& io) {
  auto args = std::make_shared<DiagnoseArgs>();
  auto* cmd = app.add_subcommand(
      "diagnose",
      "Read a capture (pgleak monitor --record) into what each application does with its\n"
      "connections: sessions held idle in transaction, duplicate processes each with a\n"
      "pool, growth that never levels off, long statements, and who held the slots when\n"
      "the server was full; healthy applications are named healthy. Exit 1 when any\n"
      "application leaks. With --scenario, writes a scenario that reproduces the capture:\n"
      "  pgleak monitor --dsn postgresql://monitor@db/app --record cap.jsonl.gz --for 10m\n"
      "  pgleak diagnose cap.jsonl.gz --scenario diagnosed.json\n"
      "  pgleak run diagnosed.json");
  cmd->add_option("capture", args->capture, "The capture (gzip JSON Lines)")->required();
  cmd->add_option("--scenario", args->scenario_out,
                  "Write a starter scenario reproducing the capture here (what it inferred\n"
                  "and what it assumed are in its description)")
      ->type_name("OUT.json");
  cmd->add_option("--name", args->name, "The starter scenario's name")->capture_default_str();
  cmd->add_flag("--json", args->json, "The diagnosis as JSON (pgleak.diagnosis/1)");
  cmd->add_option("--html", args->html,
                  "Also draw the capture as the HTML report draws a run: the server's\n"
                  "connections by state over time, a line per application, the server log's\n"
                  "errors, the findings")
      ->type_name("OUT.html");
  return {cmd, [args, &io]() { return do_diagnose(*args, io.out); }};
}

}  // namespace pgleak::cli

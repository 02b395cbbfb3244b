// pgleak list: the patterns (and their steps twins), the pool kinds and their settings, the
// steps, the metrics and the shipped scenarios.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <optional>

#include "cli/commands.hpp"
#include "cli/exit_code.hpp"
#include "scenario/loader.hpp"
#include "scenario/metrics.hpp"
#include "scenario/pool_kinds.hpp"
#include "scenario/steps.hpp"
#include "util/text.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::cli {
namespace {

// The first sentence of a description, for one-line listings.
std::string first_sentence(const std::string& text) {
  const auto end = text.find(". ");
  return end == std::string::npos ? text : text.substr(0, end + 1);
}

}  // namespace

void do_list(std::ostream& out, const std::string& scenarios_dir) {
  const auto& registry = workload::PatternRegistry::builtin();
  out << "Session patterns (use as \"pattern\" in a scenario's worker group):\n";
  for (const auto& p : registry.all()) {
    out << fmt::format("  {:<20} {}\n  {:<20} reproduces: {}\n", p.name, p.summary, "",
                       p.reproduces);
    for (const auto& o : p.options) {
      out << fmt::format("  {:<20}   option {} (default {}): {}\n", "", o.name,
                         o.default_value.dump(), o.help);
    }
    out << fmt::format("  {:<20}   as steps{}: {}\n", "",
                       p.twin_null_pool ? " (with \"poolclass\": \"NullPool\")" : "", p.twin);
  }
  out << "\nPool kinds (a scenario's or a process's \"pool\": {\"kind\": K, ...}, with K's own\n"
         "settings; durations are scaled by time_scale):\n";
  for (const auto& k : scenario::pool_kinds()) {
    out << fmt::format("  {:<20} {}: {}\n", k.name, k.library, k.about);
    for (const auto& s : k.settings) {
      out << fmt::format("  {:<20}   {} (default {}): {}\n", "", s.name, s.default_value, s.help);
    }
  }
  out << "\nSteps (instead of \"pattern\", a group's own session flow: \"steps\": [...]; each\n"
         "step is an object naming one action; \"probability\": P makes any step but loop\n"
         "happen that often):\n";
  for (const auto& k : scenario::step_kinds()) {
    out << fmt::format("  {{\"{}\": {}}}\n      {}: {}\n", k.key, k.value, k.python, k.help);
  }
  out << "  extra keys: open \"shared\": true; execute \"sql\"; close and drop \"after\": a "
         "duration;\n  try \"except\" and \"finally\": arrays of steps\n";
  out << "\nMetrics (thresholds in a scenario's \"expect\", e.g. \"pool_timeouts\": \"== 0\"; "
         "also verdict; * = may abort_on_fail):\n";
  for (const auto& m : scenario::metrics()) {
    out << fmt::format("  {:<28}{} {}\n", m.name, m.live ? "*" : " ", m.help);
  }
  for (const auto& f : scenario::count_families()) {
    out << fmt::format("  {:<28}* count of {}\n", std::string{f.prefix} + "X", f.key_help);
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(scenarios_dir, ec)) {
    return;
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator{scenarios_dir, ec}) {
    if (e.path().extension() == ".json") {
      files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  out << "\nScenarios under " << scenarios_dir << "/ (pgleak run FILE):\n";
  for (const auto& f : files) {
    try {
      const auto sc = scenario::load(f.string(), registry.catalog());
      out << fmt::format("  {}\n      {}\n", util::printable(f.string()),
                         util::printable(first_sentence(sc.description)));
    } catch (const scenario::ScenarioError& e) {
      out << fmt::format("  {}\n      (invalid: run pgleak validate)\n",
                         util::printable(f.string()));
    }
  }
}

Command add_list(CLI::App& app, const CommandIo& io) {
  struct State {
    std::string scenarios_dir = "scenarios";
  };
  auto st = std::make_shared<State>();
  auto* list =
      app.add_subcommand("list",
                         "List the session patterns (with their steps), the pool kinds (with\n"
                         "their settings), the steps a group can write itself, the metrics\n"
                         "thresholds can name, and the scenarios");
  list->add_option("--scenarios", st->scenarios_dir, "Directory of scenario files to list")
      ->capture_default_str();
  return {list, [=, &io]() -> int {
            auto& scenarios_dir = st->scenarios_dir;
            auto& out = io.out;
            do_list(out, scenarios_dir);
            return kPassed;
          }};
}

}  // namespace pgleak::cli

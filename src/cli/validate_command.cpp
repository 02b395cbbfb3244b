// pgleak validate: every problem of every scenario file, with its JSON pointer; nothing is started.
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <optional>

#include "cli/commands.hpp"
#include "cli/exit_code.hpp"
#include "scenario/loader.hpp"
#include "util/duration.hpp"
#include "util/text.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::cli {

int do_validate(const std::vector<std::string>& files, std::ostream& out, std::ostream& err) {
  const auto& registry = workload::PatternRegistry::builtin();
  int invalid = 0;
  for (const auto& file : files) {
    try {
      const auto sc = scenario::load(file, registry.catalog());
      // The budget's worst case (pool-less workers, NullPool, dispose and
      // PgBouncer included), against the scenario's own server.
      const auto budget = analysis::compute_budget(sc, analysis::scenario_limits(sc));
      out << fmt::format(
          "{}: ok ({}: {} processes, {} workers, worst case {}, "
          "{} at time_scale {})\n",
          file, sc.name, sc.processes.size(), sc.total_workers(),
          util::printable(analysis::worst_case_text(budget)),
          util::format_duration(sc.duration.applied), sc.time_scale);
    } catch (const scenario::ScenarioError& e) {
      ++invalid;
      err << util::printable_lines(e.what()) << "\n";
    }
  }
  return invalid == 0 ? kPassed : kUsage;
}

Command add_validate(CLI::App& app, const CommandIo& io) {
  struct State {
    std::vector<std::string> validate_files;
  };
  auto st = std::make_shared<State>();
  auto* validate = app.add_subcommand(
      "validate",
      "Check scenario files without running them (every problem, with its JSON pointer)");
  validate->add_option("scenarios", st->validate_files, "Scenario files")->required();
  return {validate, [=, &io]() -> int {
            auto& validate_files = st->validate_files;
            auto& out = io.out;
            auto& err = io.err;
            return do_validate(validate_files, out, err);
          }};
}

}  // namespace pgleak::cli

// pgleak budget: the worst case of a scenario's pools against a server's slots, before anything
// runs.
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <optional>

#include "cli/commands.hpp"
#include "cli/exit_code.hpp"
#include "scenario/loader.hpp"
#include "scenario/pool_kinds.hpp"
#include "scenario/shard.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::cli {

int do_budget(const BudgetArgs& args, std::ostream& out) {
  scenario::LoadOptions load_options;
  load_options.shards = std::max(1, args.shards);
  auto sc =
      scenario::load(args.scenario, workload::PatternRegistry::builtin().catalog(), load_options);
  scenario::check_shard_count(sc, args.shards, "--shards", std::to_string(args.shards));
  // What-if: the same processes with other pool settings.
  if (args.pool_size || args.max_overflow) {
    scenario::require_sqlalchemy_pools(sc, args.pool_size ? "--pool-size" : "--max-overflow");
  }
  for (auto& p : sc.processes) {
    p.pool.pool_size = args.pool_size.value_or(p.pool.pool_size);
    p.pool.max_overflow = args.max_overflow.value_or(p.pool.max_overflow);
  }
  auto limits = analysis::scenario_limits(
      sc, args.max_connections.value_or(sc.server.max_connections),
      args.superuser_reserved.value_or(sc.server.superuser_reserved_connections));
  limits.reserved_connections = args.reserved;
  const auto budget = analysis::compute_budget(sc, limits);
  const auto shards = args.shards > 0 ? analysis::shard_budgets(sc, budget, args.shards)
                                      : std::vector<analysis::ShardBudget>{};
  if (args.json) {
    auto doc = analysis::budget_json(budget);
    if (!shards.empty()) {
      doc["shards"] = analysis::shard_budgets_json(shards);
    }
    out << doc.dump(2) << "\n";
  } else {
    out << analysis::format_budget(sc, budget);
    if (!shards.empty()) {
      out << analysis::format_shard_budgets(shards);
    }
  }
  return budget.fits ? kPassed : kFailed;
}

Command add_budget(CLI::App& app, const CommandIo& io) {
  struct State {
    BudgetArgs budget_args;
  };
  auto st = std::make_shared<State>();
  auto* budget = app.add_subcommand(
      "budget",
      "Worst-case connections of a scenario against the server's limit, before anything runs:\n"
      "sum of replicas x (pool_size + max_overflow) plus pool-less connections, against\n"
      "max_connections - superuser_reserved_connections - reserved_connections. Exit 1 when it\n"
      "cannot fit. What-if:\n"
      "  pgleak budget scenarios/incident-before.json --pool-size 3 --max-overflow 5");
  budget->add_option("scenario", st->budget_args.scenario, "Scenario file (JSON)")->required();
  budget
      ->add_option("--max-connections", st->budget_args.max_connections,
                   "Server max_connections (default: the scenario's)")
      ->check(CLI::Range(1, 1000000));
  budget
      ->add_option("--superuser-reserved", st->budget_args.superuser_reserved,
                   "superuser_reserved_connections (default: the scenario's)")
      ->check(CLI::Range(0, 1000000));
  budget
      ->add_option("--reserved", st->budget_args.reserved,
                   "reserved_connections (PostgreSQL 16+; default 0)")
      ->check(CLI::Range(0, 1000000));
  budget
      ->add_option("--pool-size", st->budget_args.pool_size, "What-if pool_size for every process")
      ->check(CLI::Range(0, 100000));
  budget
      ->add_option("--max-overflow", st->budget_args.max_overflow,
                   "What-if max_overflow for every process (-1: unlimited)")
      ->check(CLI::Range(-1, 100000));
  budget
      ->add_option("--shards", st->budget_args.shards,
                   "Also show how `pgleak run --shard I/N` splits the replicas over N shards")
      ->check(CLI::Range(1, scenario::kMaxShards));
  budget->add_flag("--json", st->budget_args.json, "JSON instead of a table");
  return {budget, [=, &io]() -> int {
            auto& budget_args = st->budget_args;
            auto& out = io.out;
            return do_budget(budget_args, out);
          }};
}

}  // namespace pgleak::cli

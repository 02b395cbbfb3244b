#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "analysis/budget.hpp"
#include "cli/signal_watcher.hpp"
#include "scenario/scenario.hpp"

// The commands other than run and merge (cli/run_command.hpp), one file each:
// what each takes (filled by run_cli's options) and its entry point, which
// returns the exit code (cli/exit_code.hpp). Errors are thrown:
// scenario::ScenarioError and util::UsageError (exit 2),
// util::InfrastructureError (exit 3); run_cli maps them.
namespace pgleak::cli {

// pgleak budget (budget_command.cpp)
struct BudgetArgs {
  std::string scenario;
  std::optional<int> max_connections;
  std::optional<int> superuser_reserved;
  int reserved = 0;
  std::optional<int> pool_size;
  std::optional<int> max_overflow;
  int shards = 0;  // 0: not sharded
  bool json = false;
};
int do_budget(const BudgetArgs& args, std::ostream& out);
// The scenario's server as budget and validate see it, with its role's
// CONNECTION LIMITs and no other clients.
analysis::ServerLimits scenario_limits(const scenario::Scenario& sc, int max_connections,
                                       int superuser_reserved);

// pgleak validate (validate_command.cpp): every problem of every file; the
// budget's worst case of each valid one.
int do_validate(const std::vector<std::string>& files, std::ostream& out, std::ostream& err);

// pgleak compare and pgleak report (report_commands.cpp), which read reports.
int do_compare(const std::string& base_path, const std::string& new_path, double tolerance_pct,
               bool as_json, std::ostream& out);
int do_report(const std::vector<std::string>& paths, const std::string& html_path,
              std::ostream& out);

// pgleak monitor (monitor_command.cpp)
struct MonitorArgs {
  std::string dsn;    // resolved from DsnFlags
  std::string watch;  // a duration; empty = one shot
  int count = 0;      // refreshes with --watch; 0 = until Ctrl-C
  double warn_at = 80;
  bool json = false;
};
int do_monitor(const MonitorArgs& args, std::ostream& out, const SignalWatcher& signals);

// pgleak list (list_command.cpp)
void do_list(std::ostream& out, const std::string& scenarios_dir);

}  // namespace pgleak::cli

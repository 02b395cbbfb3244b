#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "analysis/budget.hpp"
#include "cli/dsn.hpp"
#include "cli/signal_watcher.hpp"
#include "scenario/scenario.hpp"

// The commands other than run and merge (cli/run_command.hpp), one file each:
// what each takes (filled by run_cli's options) and its entry point, which
// returns the exit code (cli/exit_code.hpp). Errors are thrown:
// util::UsageError (exit 2; scenario::ScenarioError is one),
// util::InfrastructureError (exit 3); run_cli maps them.
namespace pgleak::cli {

// What a command's run needs besides its own options.
struct CommandIo {
  std::ostream& out;
  std::ostream& err;
  const SignalWatcher& signals;
  int argc;
  char** argv;  // a DSN given on it is overwritten once read (scrub_dsn_from_argv)
};

// A command as run_cli holds it: the subcommand its options were parsed into,
// and what runs it once they were (its exit code; errors are thrown).
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

// Each command registers its options on `app`, in its own file, and says
// how it runs. run_cli adds them in this order, which --help shows.
Command add_run(CLI::App& app, const CommandIo& io);       // run_command.cpp
Command add_budget(CLI::App& app, const CommandIo& io);    // budget_command.cpp
Command add_compare(CLI::App& app, const CommandIo& io);   // report_commands.cpp
Command add_merge(CLI::App& app, const CommandIo& io);     // run_command.cpp
Command add_k8s(CLI::App& app, const CommandIo& io);       // k8s_command.cpp
Command add_report(CLI::App& app, const CommandIo& io);    // report_commands.cpp
Command add_monitor(CLI::App& app, const CommandIo& io);   // monitor_command.cpp
Command add_validate(CLI::App& app, const CommandIo& io);  // validate_command.cpp
Command add_list(CLI::App& app, const CommandIo& io);      // list_command.cpp
Command add_diagnose(CLI::App& app, const CommandIo& io);  // diagnose_command.cpp
Command add_tune(CLI::App& app, const CommandIo& io);      // tune_command.cpp
Command add_relay(CLI::App& app, const CommandIo& io);     // relay_command.cpp

// --dsn and --dsn-file, as run, monitor and tune take them.
void add_dsn_options(CLI::App* cmd, DsnFlags& flags, const std::string& what);
// Once `cmd` is parsed: the DSN those options (or $PGLEAK_DSN) give
// (resolve_dsn), overwritten in argv once read (scrub_dsn_from_argv).
std::string take_dsn(const CLI::App& cmd, DsnFlags& flags, const CommandIo& io);

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
  // --record: a capture of every backend for `pgleak diagnose`.
  std::string record;
  std::string interval = "1s";
  std::string for_duration;  // empty: until a signal
  bool with_query_text = false;
  std::string server_log;  // --server-log, with --record
};
int do_monitor(const MonitorArgs& args, std::ostream& out, std::ostream& err,
               const SignalWatcher& signals);

// pgleak diagnose (diagnose_command.cpp)
struct DiagnoseArgs {
  std::string capture;
  std::string scenario_out;  // --scenario; empty for none
  std::string html;          // --html; empty for none
  std::string name = "diagnosed";
  bool json = false;
};
int do_diagnose(const DiagnoseArgs& args, std::ostream& out);

// pgleak tune (tune_command.cpp)
struct TuneArgs {
  std::string scenario;
  int max_capacity = 20;
  bool per_process = false;
  double time_scale = 0;  // 0: the scenario's
  std::string write;      // --write; empty for none
  bool json = false;
  std::string dsn;  // resolved from DsnFlags
  bool allow_exhaust = false;
};
int do_tune(const TuneArgs& args, std::ostream& out, std::ostream& err,
            const SignalWatcher& signals);

// pgleak list (list_command.cpp)
void do_list(std::ostream& out, const std::string& scenarios_dir);

}  // namespace pgleak::cli

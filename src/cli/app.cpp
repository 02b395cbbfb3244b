#include "cli/app.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <optional>

#include "cli/commands.hpp"
#include "cli/dsn.hpp"
#include "cli/exit_code.hpp"
#include "cli/run_command.hpp"
#include "db/conninfo.hpp"
#include "k8s/manifests.hpp"
#include "scenario/loader.hpp"
#include "scenario/shard.hpp"
#include "util/errors.hpp"
#include "util/files.hpp"
#include "util/text.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::cli {

void add_dsn_options(CLI::App* cmd, DsnFlags& flags, const std::string& what) {
  cmd->add_option("--dsn", flags.dsn,
                  what +
                      " (libpq URL or keywords). The password is never printed; prefer\n"
                      "PGPASSWORD, ~/.pgpass or --dsn-file to putting it on a command line.");
  cmd->add_option("--dsn-file", flags.dsn_file,
                  "Read the DSN from this file instead of --dsn (also: $PGLEAK_DSN)");
}

std::string take_dsn(const CLI::App& cmd, DsnFlags& flags, const CommandIo& io) {
  flags.dsn_given = cmd.count("--dsn") > 0;
  auto dsn = resolve_dsn(flags);
  scrub_dsn_from_argv(io.argc, io.argv, dsn);
  return dsn;
}

int run_cli(int argc, char** argv, std::ostream& out, std::ostream& err,
            const SignalWatcher& signals) {
  // An output on a FIFO whose reader stalls must not outlive a signal.
  util::interrupt_writes_on(signals.token());
  CLI::App app{
      "pgleak: reproduce PostgreSQL connection leaks and validate pool settings.\n"
      "Scenario files describe simulated processes, each with its own connection pool\n"
      "(SQLAlchemy's QueuePool, HikariCP, psycopg_pool, pgx or node-postgres: pgleak list),\n"
      "whose workers use leaky or scoped session patterns against a real PostgreSQL.\n"
      "Starting from a live server instead: pgleak monitor --record, then pgleak diagnose.\n"
      "pgleak samples pg_stat_activity, records pool behaviour and server errors by SQLSTATE,\n"
      "and writes a JSON report with a verdict.\n\n"
      "Exit codes: 0 passed, 1 verdict failed, 2 bad usage or invalid scenario,\n"
      "3 target unreachable or infrastructure failure, 128+N interrupted by signal N.",
      "pgleak"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string{"pgleak 0.1.0"});

  const CommandIo io{out, err, signals, argc, argv};
  const std::vector<Command> commands{
      add_run(app, io),  add_budget(app, io), add_compare(app, io),  add_merge(app, io),
      add_k8s(app, io),  add_report(app, io), add_monitor(app, io),  add_diagnose(app, io),
      add_tune(app, io), add_relay(app, io),  add_validate(app, io), add_list(app, io)};

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    out << app.help();
    return kPassed;
  } catch (const CLI::CallForAllHelp& e) {
    out << app.help("", CLI::AppFormatMode::All);
    return kPassed;
  } catch (const CLI::CallForVersion& e) {
    out << e.what() << "\n";
    return kPassed;
  } catch (const CLI::ParseError& e) {
    // Subcommand help requests arrive here too, as "success" codes.
    if (e.get_exit_code() == 0) {
      return app.exit(e, out, err);
    }
    // CLI11 echoes what it did not expect: a DSN given without --dsn, say.
    err << "pgleak: " << util::printable_lines(without_secrets(e.what(), argc, argv))
        << "\nRun 'pgleak --help' for usage.\n";
    return kUsage;
  }

  // The one place an outcome becomes the exit code: a signal, whenever it
  // came, is why the command ended (128 + its number); else the command's
  // outcome, or what it threw.
  const auto exit_code = [&signals](int outcome) {
    return signals.signal() != 0 ? 128 + signals.signal() : outcome;
  };
  try {
    for (const auto& command : commands) {
      if (*command.app) {
        return exit_code(command.run());
      }
    }
  } catch (const scenario::ScenarioError& e) {
    // A usage error that names its file and every problem itself.
    err << util::printable_lines(e.what()) << "\n";
    return exit_code(kUsage);
  } catch (const util::InfrastructureError& e) {
    err << "pgleak: " << util::printable_lines(e.what()) << "\n";
    return exit_code(kInfrastructure);  // a wait cut short by a signal: the signal is why
  } catch (const util::UsageError& e) {
    err << "pgleak: " << util::printable_lines(e.what()) << "\n";
    return exit_code(kUsage);
  } catch (const std::exception& e) {
    err << "pgleak: internal error: " << util::printable_lines(e.what()) << "\n";
    return exit_code(kInfrastructure);
  }
  return kUsage;
}

}  // namespace pgleak::cli

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

int run_cli(int argc, char** argv, std::ostream& out, std::ostream& err,
            const SignalWatcher& signals) {
  // An output on a FIFO whose reader stalls must not outlive a signal.
  util::interrupt_writes_on(signals.token());
  CLI::App app{
      "pgleak: reproduce PostgreSQL connection leaks and validate pool settings.\n"
      "Scenario files describe simulated processes, each with a SQLAlchemy-style QueuePool,\n"
      "whose workers use leaky or scoped session patterns against a real PostgreSQL.\n"
      "pgleak samples pg_stat_activity, records pool behaviour and server errors by SQLSTATE,\n"
      "and writes a JSON report with a verdict.\n\n"
      "Exit codes: 0 passed, 1 verdict failed, 2 bad usage or invalid scenario,\n"
      "3 target unreachable or infrastructure failure, 128+N interrupted by signal N.",
      "pgleak"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string{"pgleak 0.1.0"});

  RunArgs run_args;
  auto* run = app.add_subcommand(
      "run",
      "Run one scenario and write its report.\n"
      "By default pgleak starts a throwaway PostgreSQL (initdb in a temp dir, 127.0.0.1, the\n"
      "scenario's max_connections) and deletes it afterwards. Example:\n"
      "  pgleak run scenarios/incident-before.json\n"
      "  pgleak run scenarios/incident-after.json --time-scale 0.02 --report out.json");
  run->add_option("scenario", run_args.scenario, "Scenario file (JSON)")->required();
  auto* report_opt = run->add_option(
      "--report", run_args.report,
      "Write the JSON report to exactly this path (a regular file, replaced atomically;\n"
      "a character device or FIFO such as /dev/stdout is written in place)");
  run->add_option("--out", run_args.out_dir,
                  "Directory for <scenario>-<UTC timestamp>.json when --report is not given")
      ->capture_default_str()
      ->excludes(report_opt);
  DsnFlags run_dsn;
  auto add_dsn_options = [](CLI::App* cmd, DsnFlags& flags, const std::string& what) {
    cmd->add_option("--dsn", flags.dsn,
                    what +
                        " (libpq URL or keywords). The password is never printed; prefer\n"
                        "PGPASSWORD, ~/.pgpass or --dsn-file to putting it on a command line.");
    cmd->add_option("--dsn-file", flags.dsn_file,
                    "Read the DSN from this file instead of --dsn (also: $PGLEAK_DSN)");
  };
  add_dsn_options(run, run_dsn,
                  "Target an existing server instead of the embedded one; its settings are\n"
                  "read, never changed");
  run->add_flag("--allow-exhaust", run_args.allow_exhaust,
                "With a DSN: run even when the scenario's worst case would take every slot the\n"
                "server has left for other clients (refused otherwise, exit 2)");
  run->add_option("--time-scale", run_args.time_scale,
                  "Override the scenario's time_scale: every duration is multiplied by it")
      ->check(CLI::Range(0.000001, 1000.0));
  run->add_option("--junit", run_args.junit,
                  "Also write JUnit XML: one test case per threshold (and the verdict)");
  std::string run_html;
  auto* run_html_opt =
      run->add_option("--html", run_html,
                      "Also write the HTML report (charts, tables; self-contained): to PATH, or\n"
                      "without one next to the JSON report with the same base name")
          ->expected(0, 1)
          ->type_name("[PATH]");
  run->add_option("--pgbouncer-admin", run_args.pgbouncer_admin,
                  "With --dsn pointing at your PgBouncer: its admin console (libpq URL or\n"
                  "keywords, database \"pgbouncer\"), read at every sample (SHOW POOLS, SHOW\n"
                  "STATS), never changed. Its password is never printed")
      ->type_name("URL");
  run->add_option("--server-log", run_args.server_log,
                  "With --dsn: the server's jsonlog (log_destination = 'jsonlog'), e.g. a volume\n"
                  "in docker/compose.yaml, read during the run to tie server-side errors to\n"
                  "the run's backends, as on the embedded server")
      ->type_name("PATH");
  run->add_option("--timeline", run_args.timeline,
                  "Stream every sample and event, in full, to this gzip JSON Lines file while\n"
                  "the run goes (kept up to a kill; the JSON report keeps at most 1,500\n"
                  "samples, peaks included). Default: beside the JSON report as\n"
                  "<name>.timeline.jsonl.gz; 'none' for none")
      ->type_name("PATH|none");
  run->add_flag("-q,--quiet", run_args.quiet, "No status lines or progress on stderr");
  run->add_option("--shard", run_args.shard,
                  "Run shard I of N (counting from 0) of a run too large for one machine: this\n"
                  "process runs every replica g (counted in file order) with g mod N == I\n"
                  "(pgleak budget --shards N shows the split). Needs --dsn. The shards wait for\n"
                  "each other at a barrier of advisory locks in the target database, so they\n"
                  "start together; shard 0 samples pg_stat_activity. A shard exits 0 once its\n"
                  "report is written, whatever its slice's verdict: combine the reports with\n"
                  "pgleak merge, whose exit code is the run's. See docs/SHARDING.md")
      ->type_name("I/N");
  run->add_option("--run-id", run_args.run_name,
                  "With --shard: the name every shard of one run shares (e.g. a Kubernetes\n"
                  "Job's uid). Default: derived from the scenario, so two sharded runs of one\n"
                  "scenario against one database at once need names of their own")
      ->type_name("NAME");
  run->add_option("--barrier-dsn", run_args.barrier_dsn,
                  "With --shard: where the shards meet, each on a session of its own (default:\n"
                  "the --dsn). Give the server itself when --dsn goes through a\n"
                  "transaction-pooling PgBouncer. Also: $PGLEAK_BARRIER_DSN")
      ->type_name("URL");
  run->add_option("--barrier-timeout", run_args.barrier_timeout,
                  "With --shard: how long to wait for every shard to arrive before giving up\n"
                  "(exit 3)")
      ->capture_default_str()
      ->type_name("DURATION");

  BudgetArgs budget_args;
  auto* budget = app.add_subcommand(
      "budget",
      "Worst-case connections of a scenario against the server's limit, before anything runs:\n"
      "sum of replicas x (pool_size + max_overflow) plus pool-less connections, against\n"
      "max_connections - superuser_reserved_connections - reserved_connections. Exit 1 when it\n"
      "cannot fit. What-if:\n"
      "  pgleak budget scenarios/incident-before.json --pool-size 3 --max-overflow 5");
  budget->add_option("scenario", budget_args.scenario, "Scenario file (JSON)")->required();
  budget
      ->add_option("--max-connections", budget_args.max_connections,
                   "Server max_connections (default: the scenario's)")
      ->check(CLI::Range(1, 1000000));
  budget
      ->add_option("--superuser-reserved", budget_args.superuser_reserved,
                   "superuser_reserved_connections (default: the scenario's)")
      ->check(CLI::Range(0, 1000000));
  budget
      ->add_option("--reserved", budget_args.reserved,
                   "reserved_connections (PostgreSQL 16+; default 0)")
      ->check(CLI::Range(0, 1000000));
  budget->add_option("--pool-size", budget_args.pool_size, "What-if pool_size for every process")
      ->check(CLI::Range(0, 100000));
  budget
      ->add_option("--max-overflow", budget_args.max_overflow,
                   "What-if max_overflow for every process (-1: unlimited)")
      ->check(CLI::Range(-1, 100000));
  budget
      ->add_option("--shards", budget_args.shards,
                   "Also show how `pgleak run --shard I/N` splits the replicas over N shards")
      ->check(CLI::Range(1, scenario::kMaxShards));
  budget->add_flag("--json", budget_args.json, "JSON instead of a table");

  std::string compare_base;
  std::string compare_new;
  double tolerance_pct = 10;
  bool compare_json = false;
  auto* compare = app.add_subcommand(
      "compare",
      "Compare two reports metric by metric (peak, waits, timeouts, errors, holders, growth,\n"
      "verdict); exit 1 when NEW is worse than BASE beyond the tolerance. Example:\n"
      "  pgleak compare results/baselines/incident-after.json results/incident-after-*.json");
  compare->add_option("base", compare_base, "Baseline report (JSON)")->required();
  compare->add_option("new", compare_new, "New report (JSON)")->required();
  compare
      ->add_option("--tolerance", tolerance_pct,
                   "Relative rise tolerated before it counts, in percent")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 10000.0));
  compare->add_flag("--json", compare_json, "JSON instead of a table");

  MergeArgs merge_args;
  std::string merge_html;
  auto* merge = app.add_subcommand(
      "merge",
      "Combine the reports of every shard of one sharded run (pgleak run --shard I/N) into\n"
      "one report, judged as one run: pools, events, holders and client errors of all\n"
      "shards, the server's view from shard 0, the summary, budget, thresholds and verdict\n"
      "recomputed for the whole fleet. Exit code as pgleak run. A shard killed before it\n"
      "wrote its report may be given by its timeline; the report says it ended early.\n"
      "  pgleak merge shard-0.json shard-1.json shard-2.json --report fleet.json --html");
  merge
      ->add_option("shards", merge_args.inputs,
                   "Every shard's JSON report (or, for a killed shard, its .timeline.jsonl.gz)")
      ->required();
  merge->add_option("--report", merge_args.report, "Where to write the merged JSON report")
      ->required();
  merge->add_option("--junit", merge_args.junit, "Also write JUnit XML");
  auto* merge_html_opt =
      merge
          ->add_option("--html", merge_html,
                       "Also write the HTML report: to PATH, or beside the merged report")
          ->expected(0, 1)
          ->type_name("[PATH]");

  k8s::ManifestOptions k8s_options;
  std::string k8s_scenario;
  bool k8s_merge = false;
  auto* k8s_cmd = app.add_subcommand(
      "k8s",
      "Print Kubernetes manifests that run a scenario as N shards: the scenario in a\n"
      "ConfigMap, the DSN from a Secret (never on a command line), the reports on a\n"
      "ReadWriteMany volume, an Indexed Job whose pods run pgleak run --shard\n"
      "$(JOB_COMPLETION_INDEX)/N, and (with --merge) the Job that merges their reports\n"
      "once it has finished. deploy/k8s/ has an example and run.sh. Example:\n"
      "  pgleak k8s scenarios/incident-after.json --shards 4 --image ghcr.io/me/pgleak:1 "
      "> shards.yaml");
  k8s_cmd->add_option("scenario", k8s_scenario, "Scenario file (JSON)")->required();
  k8s_cmd->add_option("--shards", k8s_options.shards, "How many shards (pods)")
      ->required()
      ->check(CLI::Range(1, scenario::kMaxShards));
  k8s_cmd->add_option("--image", k8s_options.image, "pgleak's image (docker/Dockerfile)")
      ->required();
  k8s_cmd->add_option("--name", k8s_options.name, "Prefix of every object's name")
      ->capture_default_str();
  k8s_cmd->add_option("--namespace", k8s_options.namespace_name, "Namespace (default: kubectl's)");
  k8s_cmd->add_option("--secret", k8s_options.secret,
                      "Secret whose key \"dsn\" holds the DSN (default: <name>-dsn)");
  k8s_cmd->add_option("--storage", k8s_options.storage, "Size of the reports volume")
      ->capture_default_str();
  k8s_cmd->add_option("--storage-class", k8s_options.storage_class,
                      "StorageClass of the reports volume; it must offer ReadWriteMany");
  k8s_cmd
      ->add_option("--barrier-timeout", k8s_options.barrier_timeout,
                   "How long a shard waits for the others to be scheduled")
      ->capture_default_str();
  k8s_cmd->add_flag("--merge", k8s_merge,
                    "Print the merge Job instead, to apply once the shards' Job has finished");

  std::vector<std::string> report_inputs;
  std::string report_html;
  auto* report_cmd = app.add_subcommand(
      "report",
      "Render reports already written as one self-contained HTML page (charts and tables,\n"
      "several reports side by side on shared axes; the page fetches nothing). Example:\n"
      "  pgleak report before.json after.json --html incident.html");
  report_cmd->add_option("reports", report_inputs, "JSON reports written by pgleak run")
      ->required();
  report_cmd->add_option("--html", report_html, "Where to write the HTML page")->required();

  MonitorArgs monitor_args;
  DsnFlags monitor_dsn;
  auto* monitor = app.add_subcommand(
      "monitor",
      "Connections of an existing server: total against max_connections (and the reserved\n"
      "slots), by application and state, the longest idle-in-transaction sessions and the\n"
      "oldest transactions. Exit 1 at or past --warn-at percent of the limit, for cron and CI.\n"
      "  pgleak monitor --dsn postgresql://monitor@db/app --watch 2s");
  add_dsn_options(monitor, monitor_dsn, "Server to watch");
  monitor->add_option("--watch", monitor_args.watch,
                      "Refresh every DURATION (e.g. 2s) until Ctrl-C; one shot without it");
  monitor->add_option("--count", monitor_args.count, "With --watch: stop after N refreshes")
      ->check(CLI::Range(0, 1000000));
  monitor
      ->add_option("--warn-at", monitor_args.warn_at,
                   "Percent of max_connections - superuser_reserved that makes exit 1")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1000.0));
  monitor->add_flag("--json", monitor_args.json,
                    "One JSON document per refresh (pgleak.monitor/1)");

  std::vector<std::string> validate_files;
  auto* validate = app.add_subcommand(
      "validate",
      "Check scenario files without running them (every problem, with its JSON pointer)");
  validate->add_option("scenarios", validate_files, "Scenario files")->required();

  std::string scenarios_dir = "scenarios";
  auto* list =
      app.add_subcommand("list",
                         "List the session patterns (with their steps), the steps a group can\n"
                         "write itself, the metrics thresholds can name, and the scenarios");
  list->add_option("--scenarios", scenarios_dir, "Directory of scenario files to list")
      ->capture_default_str();

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

  try {
    if (*run) {
      run_dsn.dsn_given = run->count("--dsn") > 0;
      run_args.shard_given = run->count("--shard") > 0;
      run_args.dsn = resolve_dsn(run_dsn);
      scrub_dsn_from_argv(argc, argv, run_args.dsn);
      if (!run_args.pgbouncer_admin.empty()) {
        scrub_dsn_from_argv(argc, argv, run_args.pgbouncer_admin);
      }
      if (!run_args.barrier_dsn.empty()) {
        scrub_dsn_from_argv(argc, argv, run_args.barrier_dsn);
      } else if (const char* env = std::getenv("PGLEAK_BARRIER_DSN"); env != nullptr) {
        run_args.barrier_dsn = env;
      }
      if (run_html_opt->count() > 0) {
        run_args.html = run_html;  // empty: next to the JSON report
      }
      return do_run(run_args, out, err, signals);
    }
    if (*monitor) {
      monitor_dsn.dsn_given = monitor->count("--dsn") > 0;
      monitor_args.dsn = resolve_dsn(monitor_dsn);
      scrub_dsn_from_argv(argc, argv, monitor_args.dsn);
      if (monitor_args.dsn.empty()) {
        throw util::UsageError("monitor needs a server: --dsn, --dsn-file or $PGLEAK_DSN");
      }
      return do_monitor(monitor_args, out, signals);
    }
    if (*merge) {
      if (merge_html_opt->count() > 0) {
        merge_args.html = merge_html;
      }
      return do_merge(merge_args, out, err);
    }
    if (*k8s_cmd) {
      scenario::LoadOptions load_options;
      load_options.shards = k8s_options.shards;
      const auto sc = scenario::load(k8s_scenario, workload::PatternRegistry::builtin().catalog(),
                                     load_options);
      k8s::check_options(sc, k8s_options);
      out << k8s::manifests_yaml(sc, k8s_options,
                                 k8s_merge ? k8s::Part::kMerge : k8s::Part::kShards);
      return kPassed;
    }
    if (*compare) {
      return do_compare(compare_base, compare_new, tolerance_pct, compare_json, out);
    }
    if (*report_cmd) {
      return do_report(report_inputs, report_html, out);
    }
    if (*budget) {
      return do_budget(budget_args, out);
    }
    if (*validate) {
      return do_validate(validate_files, out, err);
    }
    if (*list) {
      do_list(out, scenarios_dir);
      return kPassed;
    }
  } catch (const scenario::ScenarioError& e) {
    err << util::printable_lines(e.what()) << "\n";
    return kUsage;
  } catch (const util::InfrastructureError& e) {
    err << "pgleak: " << util::printable_lines(e.what()) << "\n";
    // A wait cut short by a signal fails too: the signal is the reason.
    return signals.signal() != 0 ? 128 + signals.signal() : kInfrastructure;
  } catch (const util::UsageError& e) {
    err << "pgleak: " << util::printable_lines(e.what()) << "\n";
    return kUsage;
  } catch (const std::exception& e) {
    err << "pgleak: internal error: " << util::printable_lines(e.what()) << "\n";
    return kInfrastructure;
  }
  return kUsage;
}

}  // namespace pgleak::cli

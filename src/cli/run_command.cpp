#include "cli/run_command.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>

#include "analysis/budget.hpp"
#include "analysis/summary.hpp"
#include "analysis/verdict.hpp"
#include "cli/commands.hpp"
#include "cli/dsn.hpp"
#include "cli/exit_code.hpp"
#include "db/conninfo.hpp"
#include "probe/server_info.hpp"
#include "report/html_report.hpp"
#include "report/json_report.hpp"
#include "report/junit_report.hpp"
#include "report/merge.hpp"
#include "report/sparkline.hpp"
#include "run/runner.hpp"
#include "scenario/backend_tag.hpp"
#include "scenario/loader.hpp"
#include "scenario/shard.hpp"
#include "util/errors.hpp"
#include "util/files.hpp"
#include "util/stoppable_sleep.hpp"
#include "util/text.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::cli {

void refuse_if_exhausting(const scenario::Scenario& sc, const record::ServerInfo& info) {
  const auto limits = probe::limits_for(info, info.connections_in_use);
  const auto budget = analysis::compute_budget(sc, limits);
  if (budget.fits) {
    return;
  }
  throw util::UsageError(fmt::format(
      "refusing to run: the target already has {} client connections, and this scenario's worst "
      "case is {} more (plus pgleak's sampler) against the {} its role may use, which would "
      "leave other clients {} (see pgleak budget). Add --allow-exhaust to run anyway.",
      info.connections_in_use, analysis::worst_case_text(budget), probe::workers_limit(limits),
      budget.unbounded || budget.headroom < 0 ? std::string{"nothing"}
                                              : fmt::format("{} slots", budget.headroom)));
}

// Where --html writes: its value, or beside the report when it has none;
// empty without --html. A report written to a device or FIFO has no beside.
std::string html_output(const std::optional<std::string>& html, const std::string& report,
                        util::OutputKind report_kind) {
  if (!html) {
    return {};
  }
  if (!html->empty()) {
    return *html;
  }
  if (report_kind != util::OutputKind::kFile) {
    throw util::UsageError("--html without a path goes beside the report, and the report " +
                           util::printable(report) +
                           " is a device or FIFO, not a file: give --html a path");
  }
  return std::filesystem::path{report}.replace_extension(".html").string();
}

// The shard a `run --shard I/N` runs, after checking what it needs.
run::ShardRun plan_shard(const RunArgs& args, const scenario::Scenario& sc,
                         const scenario::ShardRef& shard) {
  if (args.dsn.empty()) {
    throw util::UsageError(
        "--shard: every shard must run against one server: give --dsn (or "
        "--dsn-file, $PGLEAK_DSN)");
  }
  scenario::check_shard_count(sc, shard.count, "--shard", shard.str());
  const auto timeout = scenario::parse_barrier_timeout(args.barrier_timeout);
  const bool name_ok = args.run_name.size() <= 128 &&
                       std::all_of(args.run_name.begin(), args.run_name.end(), [](char c) {
                         return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' ||
                                c == '_' || c == '.' || c == ':';
                       });
  if (!name_ok) {
    throw util::UsageError("--run-id: at most 128 characters of A-Z a-z 0-9 - _ . :");
  }
  run::ShardRun out;
  out.shard = shard;
  // Without a name, shards of one scenario agree on one by themselves; N is
  // left out so that shards started with different N meet, and are told so.
  out.run_name = !args.run_name.empty() ? args.run_name
                                        : fmt::format("{}-{}", sc.name, sc.digest.substr(0, 8));
  out.run_id = run::run_id_from_name(out.run_name);
  out.barrier_timeout = timeout;
  if (!args.barrier_dsn.empty()) {
    db::ConnInfo::parse(args.barrier_dsn);  // a usage error, before anything starts
    out.barrier_dsn = args.barrier_dsn;
  }
  return out;
}

namespace {

// The flags that name a target of the user's own, each checked before
// anything starts: a malformed DSN, or a flag without the --dsn it needs, is
// a usage error.
void check_target_flags(const RunArgs& args) {
  if (!args.dsn.empty()) {
    db::ConnInfo::parse(args.dsn);
  }
  for (const auto& [flag, value] : {std::pair{"--pgbouncer-admin", &args.pgbouncer_admin},
                                    std::pair{"--server-log", &args.server_log}}) {
    if (!value->empty() && args.dsn.empty()) {
      throw util::UsageError(std::string{flag} +
                             " is for a target of your own: give --dsn too (the embedded target "
                             "has its own)");
    }
  }
  if (!args.pgbouncer_admin.empty()) {
    db::ConnInfo::parse(args.pgbouncer_admin);
  }
  if (!args.server_log.empty()) {
    try {
      util::check_readable_file(args.server_log);
    } catch (const util::UsageError& e) {
      throw util::UsageError("--server-log " + args.server_log + ": " + e.what());
    }
  }
}

// Every output the run will write, checked before the run, so no run's
// results are lost to a path that could never be written.
struct PlannedOutputs {
  Outputs outputs;
  std::string timeline;  // empty: none
};
PlannedOutputs plan_outputs(const RunArgs& args, const scenario::Scenario& sc) {
  const std::string path =
      !args.report.empty() ? args.report
                           : (std::filesystem::path{args.out_dir} /
                              fmt::format("{}-{}.json", sc.name, util::utc_now("%Y%m%dT%H%M%SZ")))
                                 .string();
  const auto report_kind = util::check_output_path(path);
  const auto html_path = html_output(args.html, path, report_kind);
  std::string timeline_path;
  if (args.timeline.empty() && report_kind == util::OutputKind::kFile) {
    timeline_path = std::filesystem::path{path}.replace_extension(".timeline.jsonl.gz").string();
  } else if (args.timeline != "none") {
    timeline_path = args.timeline;
  }
  util::check_outputs({{"the report", path},
                       {"--junit", args.junit},
                       {"--html", html_path},
                       {"--timeline", timeline_path}},
                      {args.scenario, args.server_log});
  return {{path, args.junit, html_path}, timeline_path};
}

run::RunOptions run_options(const RunArgs& args, const scenario::Scenario& sc,
                            const SignalWatcher& signals, std::ostream& err) {
  run::RunOptions options;
  if (!args.dsn.empty()) {
    options.dsn = args.dsn;
    options.preflight = [&sc, allow = args.allow_exhaust](const record::ServerInfo& info) {
      if (!allow) {
        refuse_if_exhausting(sc, info);
      }
    };
  }
  options.interrupt = signals.token();
  options.force = signals.force_token();
  options.log = args.quiet ? nullptr : &err;
  options.progress_in_place = &err == &std::cerr && ::isatty(STDERR_FILENO) != 0;
  if (!args.pgbouncer_admin.empty()) {
    options.pgbouncer_admin = args.pgbouncer_admin;
  }
  options.server_log = args.server_log;
  options.engine.kind = run::WorkerEngine::parse(args.engine).value_or(options.engine.kind);
  options.engine.threads = args.engine_threads;
  return options;
}

// The outcome of a run whose outputs were written with `written`: a lost
// target's over the verdict's, and a shard's failed verdict is not the
// run's. What ended it is said on stderr. (A signal's 128 + N is run_cli's
// to give, over any outcome.)
int run_outcome(const record::RunResult& result, int written,
                const std::optional<scenario::ShardRef>& shard, const SignalWatcher& signals,
                std::ostream& out, std::ostream& err) {
  if (written == kInfrastructure) {
    return written;  // an output that could not be written (or a FIFO a signal cut short)
  }
  if (shard && written == kFailed) {
    // A shard sees a slice of the fleet: its verdict is not the run's, and a
    // scheduler must not retry it for failing one. pgleak merge judges the run.
    out << "shard " << shard->str()
        << ": this verdict covers this shard's slice only; pgleak merge judges the run\n";
    written = kPassed;
  }
  if (signals.signal() != 0) {
    // Interrupted, possibly after the scenario itself had finished: the
    // report says which (run.status).
    err << (result.status == record::RunStatus::kInterrupted
                ? "pgleak: interrupted; cleaned up and wrote the partial report\n"
                : "pgleak: interrupted after the run completed; the report is complete\n");
    return written;
  }
  switch (result.status) {
    case record::RunStatus::kInterrupted:  // only a signal interrupts: not reached
      err << "pgleak: interrupted; cleaned up and wrote the partial report\n";
      return kFailed;
    case record::RunStatus::kTargetLost:
      err << "pgleak: " << util::printable(result.status_detail) << "\n";
      return kInfrastructure;
    case record::RunStatus::kAborted:
      err << "pgleak: aborted early: " << util::printable(result.status_detail) << "\n";
      break;
    case record::RunStatus::kCompleted:
      break;
  }
  return written;
}

}  // namespace

int do_run(const RunArgs& args, std::ostream& out, std::ostream& err,
           const SignalWatcher& signals) {
  const auto& registry = workload::PatternRegistry::builtin();
  scenario::LoadOptions load_options;
  if (args.time_scale != 0) {
    load_options.time_scale = args.time_scale;
  }
  std::optional<scenario::ShardRef> shard;
  if (args.shard_given) {  // --shard "" too: it is not "unsharded"
    std::string why;
    shard = scenario::parse_shard(args.shard, &why);
    if (!shard) {
      throw util::UsageError("--shard " + args.shard + ": " + why);
    }
    load_options.shards = shard->count;
  }
  const auto sc = scenario::load(args.scenario, registry.catalog(), load_options);
  if (!shard && (!args.run_name.empty() || !args.barrier_dsn.empty())) {
    throw util::UsageError(
        "--run-id and --barrier-dsn are for a sharded run: give --shard I/N too");
  }
  const auto shard_run = shard ? std::optional{plan_shard(args, sc, *shard)} : std::nullopt;
  check_target_flags(args);
  const auto planned = plan_outputs(args, sc);
  auto options = run_options(args, sc, signals, err);
  options.side_file = planned.timeline;
  options.shard = shard_run;
  const auto result = run::run_scenario(sc, options);
  const int written = judge_and_write(sc, result, nullptr, planned.outputs, out, err);
  return run_outcome(result, written, shard, signals, out, err);
}

namespace {

// --shard and what goes with it: a shard of a run too large for one machine.
void add_shard_options(CLI::App* run, RunArgs& args) {
  run->add_option("--shard", args.shard,
                  "Run shard I of N (counting from 0) of a run too large for one machine: this\n"
                  "process runs every replica g (counted in file order) with g mod N == I\n"
                  "(pgleak budget --shards N shows the split). Needs --dsn. The shards wait for\n"
                  "each other at a barrier of advisory locks in the target database, so they\n"
                  "start together; shard 0 samples pg_stat_activity. A shard exits 0 once its\n"
                  "report is written, whatever its slice's verdict: combine the reports with\n"
                  "pgleak merge, whose exit code is the run's. See docs/SHARDING.md")
      ->type_name("I/N");
  run->add_option("--run-id", args.run_name,
                  "With --shard: the name every shard of one run shares (e.g. a Kubernetes\n"
                  "Job's uid). Default: derived from the scenario, so two sharded runs of one\n"
                  "scenario against one database at once need names of their own")
      ->type_name("NAME");
  run->add_option("--barrier-dsn", args.barrier_dsn,
                  "With --shard: where the shards meet, each on a session of its own (default:\n"
                  "the --dsn). Give the server itself when --dsn goes through a\n"
                  "transaction-pooling PgBouncer. Also: $PGLEAK_BARRIER_DSN")
      ->type_name("URL");
  run->add_option("--barrier-timeout", args.barrier_timeout,
                  "With --shard: how long to wait for every shard to arrive before giving up\n"
                  "(exit 3)")
      ->capture_default_str()
      ->type_name("DURATION");
}

}  // namespace

namespace {

// What `pgleak run` parses into.
struct RunState {
  RunArgs run_args;
  DsnFlags run_dsn;
  std::string run_html;
};

// The options that name a target of the user's own.
void add_target_options(CLI::App* run, RunState& st) {
  add_dsn_options(run, st.run_dsn,
                  "Target an existing server instead of the embedded one; its settings are\n"
                  "read, never changed");
  run->add_flag("--allow-exhaust", st.run_args.allow_exhaust,
                "With a DSN: run even when the scenario's worst case would take every slot the\n"
                "server has left for other clients (refused otherwise, exit 2)");
  run->add_option("--pgbouncer-admin", st.run_args.pgbouncer_admin,
                  "With --dsn pointing at your PgBouncer: its admin console (libpq URL or\n"
                  "keywords, database \"pgbouncer\"), read at every sample (SHOW POOLS, SHOW\n"
                  "STATS), never changed. Its password is never printed")
      ->type_name("URL");
  run->add_option("--server-log", st.run_args.server_log,
                  "With --dsn: the server's jsonlog (log_destination = 'jsonlog'), e.g. a volume\n"
                  "in docker/compose.yaml, read during the run to tie server-side errors to\n"
                  "the run's backends, as on the embedded server")
      ->type_name("PATH");
}

}  // namespace

Command add_run(CLI::App& app, const CommandIo& io) {
  auto st = std::make_shared<RunState>();
  auto* run = app.add_subcommand(
      "run",
      "Run one scenario and write its report.\n"
      "By default pgleak starts a throwaway PostgreSQL (initdb in a temp dir, 127.0.0.1, the\n"
      "scenario's max_connections) and deletes it afterwards. Example:\n"
      "  pgleak run scenarios/incident-before.json\n"
      "  pgleak run scenarios/incident-after.json --time-scale 0.02 --report out.json");
  run->add_option("scenario", st->run_args.scenario, "Scenario file (JSON)")->required();
  auto* report_opt = run->add_option(
      "--report", st->run_args.report,
      "Write the JSON report to exactly this path (a regular file, replaced atomically;\n"
      "a character device or FIFO such as /dev/stdout is written in place)");
  run->add_option("--out", st->run_args.out_dir,
                  "Directory for <scenario>-<UTC timestamp>.json when --report is not given")
      ->capture_default_str()
      ->excludes(report_opt);
  add_target_options(run, *st);
  run->add_option("--time-scale", st->run_args.time_scale,
                  "Override the scenario's time_scale: every duration is multiplied by it")
      ->check(CLI::Range(0.000001, 1000.0));
  run->add_option("--junit", st->run_args.junit,
                  "Also write JUnit XML: one test case per threshold (and the verdict)");
  auto* run_html_opt =
      run->add_option("--html", st->run_html,
                      "Also write the HTML report (charts, tables; self-contained): to PATH, or\n"
                      "without one next to the JSON report with the same base name")
          ->expected(0, 1)
          ->type_name("[PATH]");
  run->add_option("--timeline", st->run_args.timeline,
                  "Stream every sample and event, in full, to this gzip JSON Lines file while\n"
                  "the run goes (kept up to a kill; the JSON report keeps at most 1,500\n"
                  "samples, peaks included). Default: beside the JSON report as\n"
                  "<name>.timeline.jsonl.gz; 'none' for none")
      ->type_name("PATH|none");
  run->add_flag("-q,--quiet", st->run_args.quiet, "No status lines or progress on stderr");
  run->add_option("--engine", st->run_args.engine,
                  "How simulated workers run: \"fibers\" (the default: thousands of workers on\n"
                  "a few event-loop threads) or \"threads\" (a thread per worker). A scenario\n"
                  "gives the same numbers on both (docs/ENGINE.md)")
      ->check(CLI::IsMember({"fibers", "threads"}))
      ->envname("PGLEAK_ENGINE")
      ->type_name("KIND");
  run->add_option("--engine-threads", st->run_args.engine_threads,
                  "With --engine fibers: its event-loop threads (default: one per core)")
      ->check(CLI::Range(1, 256))
      ->type_name("N");
  add_shard_options(run, st->run_args);
  return {run, [=, &io]() -> int {
            auto& run_args = st->run_args;
            auto& run_dsn = st->run_dsn;
            auto& run_html = st->run_html;
            auto& out = io.out;
            auto& err = io.err;
            const auto& signals = io.signals;
            const int argc = io.argc;
            char** argv = io.argv;
            run_args.shard_given = run->count("--shard") > 0;
            run_args.dsn = take_dsn(*run, run_dsn, io);
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
          }};
}

}  // namespace pgleak::cli

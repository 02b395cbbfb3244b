#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cli/signal_watcher.hpp"
#include "run/runner.hpp"
#include "scenario/scenario.hpp"
#include "util/files.hpp"

namespace pgleak::cli {

// The options of `pgleak run`. The DSN is resolved before do_run (see
// cli/dsn.hpp): empty means the embedded server.
struct RunArgs {
  std::string scenario;
  std::string report;
  std::string out_dir = "results";
  std::string dsn;
  std::string junit;
  std::optional<std::string> html;  // set: write HTML too; empty: beside the JSON report
  // The full record streamed as the run goes: empty beside the JSON report,
  // "none" for none.
  std::string timeline;
  // With --dsn pointing at a PgBouncer: its admin console (empty: none).
  std::string pgbouncer_admin;
  // With --dsn: the server's jsonlog, read for server-side attribution.
  std::string server_log;
  double time_scale = 0;
  bool quiet = false;
  bool allow_exhaust = false;
  // A sharded run: "I/N" (empty: not sharded), the run's name shared by every
  // shard (empty: derived from the scenario), how long to wait for the others.
  std::string shard;
  bool shard_given = false;  // --shard appeared, even as --shard ""
  std::string run_name;
  std::string barrier_timeout = "10m";
  std::string barrier_dsn;  // empty: the DSN
  // How the workers run: "fibers" or "threads", and the fibers' threads (0: one per core).
  std::string engine = "fibers";
  int engine_threads = 0;
};

// The options of `pgleak merge`.
struct MergeArgs {
  std::vector<std::string> inputs;  // shards' reports, and timelines of killed shards
  std::string report;
  std::string junit;
  std::optional<std::string> html;
};

// `pgleak run`: loads the scenario and checks every input and output path
// (usage errors, exit 2, before anything starts), runs it, writes the report
// (and JUnit), prints the human summary, and returns its outcome
// (cli/exit_code.hpp), which run_cli makes 128 + N when a signal N came.
int do_run(const RunArgs& args, std::ostream& out, std::ostream& err, const SignalWatcher& signals);

// `pgleak merge`: reads every input (usage errors, exit 2, for a file that
// is not a shard's, shards of different runs or scenarios, one given twice or
// one missing; report::merge_shards), judges the fleet as one run, writes
// the report (with its "merge" block), JUnit and HTML, prints the summary,
// and returns the verdict's exit code as `run` does.
int do_merge(const MergeArgs& args, std::ostream& out, std::ostream& err);

// What run and merge share (run_command.cpp): where --html writes (its value,
// or beside the report; empty without --html; a report on a device has no
// beside), where a run's outputs go, and judging a run and writing them.
// `report_kind`: the report's util::check_output_path, which the caller made.
// A target that is not ours: refuse (util::UsageError) when the scenario's
// worst case, with the connections already there and pgleak's sampler,
// would leave the server's other clients nothing. Run's preflight, and tune's.
void refuse_if_exhausting(const scenario::Scenario& sc, const record::ServerInfo& info);

std::string html_output(const std::optional<std::string>& html, const std::string& report,
                        util::OutputKind report_kind);
struct Outputs {
  std::string report;
  std::string junit;
  std::string html;
};
// Judges the run, writes the JSON report first (with `merge` as its "merge"
// block when given), then JUnit and HTML, and prints the summary. Returns
// kInfrastructure when an output other than the report failed, else the
// verdict's exit code.
int judge_and_write(const scenario::Scenario& sc, const record::RunResult& result,
                    const nlohmann::json* merge, const Outputs& o, std::ostream& out,
                    std::ostream& err);

}  // namespace pgleak::cli

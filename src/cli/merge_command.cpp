// pgleak merge: the shards of one sharded run, judged as one run
// (report::merge_shards), written as pgleak run writes a run.
#include <fmt/format.h>

#include <iostream>

#include "cli/commands.hpp"
#include "cli/exit_code.hpp"
#include "cli/run_command.hpp"
#include "report/json_report.hpp"
#include "report/merge.hpp"
#include "util/errors.hpp"
#include "util/files.hpp"
#include "util/text.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::cli {

int do_merge(const MergeArgs& args, std::ostream& out, std::ostream& err) {
  const auto html_path = html_output(args.html, args.report, util::check_output_path(args.report));
  util::check_outputs({{"--report", args.report}, {"--junit", args.junit}, {"--html", html_path}},
                      args.inputs);
  std::vector<report::ShardFile> files;
  for (const auto& path : args.inputs) {
    try {
      // A report is held to its own bound when read (report::kMaxReportBytes).
      files.push_back({path, util::read_regular_file(path, report::kMaxTimelineBytes)});
    } catch (const util::UsageError& e) {
      throw util::UsageError(path + ": " + e.what());
    }
  }
  const auto merged = report::merge_shards(files, workload::PatternRegistry::builtin().catalog());
  const auto& shards = merged.merge.at("shards");
  out << fmt::format("merged {} shards of run {} ({}){}\n", shards.size(), merged.result.run_id,
                     util::printable(merged.merge.at("run_name").get<std::string>()),
                     merged.merge.at("start_skew_ms").is_null()
                         ? std::string{}
                         : fmt::format(", started within {} ms of each other",
                                       merged.merge.at("start_skew_ms").get<int64_t>()));
  for (const auto& line : merged.merge.at("ended_early")) {
    out << "  ended early: " << util::printable(line.get<std::string>()) << "\n";
  }
  return judge_and_write(merged.scenario, merged.result, &merged.merge,
                         {args.report, args.junit, html_path}, out, err);
}

Command add_merge(CLI::App& app, const CommandIo& io) {
  struct State {
    MergeArgs merge_args;
    std::string merge_html;
  };
  auto st = std::make_shared<State>();
  auto* merge = app.add_subcommand(
      "merge",
      "Combine the reports of every shard of one sharded run (pgleak run --shard I/N) into\n"
      "one report, judged as one run: pools, events, holders and client errors of all\n"
      "shards, the server's view from shard 0, the summary, budget, thresholds and verdict\n"
      "recomputed for the whole fleet. Exit code as pgleak run. A shard killed before it\n"
      "wrote its report may be given by its timeline; the report says it ended early.\n"
      "  pgleak merge shard-0.json shard-1.json shard-2.json --report fleet.json --html");
  merge
      ->add_option("shards", st->merge_args.inputs,
                   "Every shard's JSON report (or, for a killed shard, its .timeline.jsonl.gz)")
      ->required();
  merge->add_option("--report", st->merge_args.report, "Where to write the merged JSON report")
      ->required();
  merge->add_option("--junit", st->merge_args.junit, "Also write JUnit XML");
  auto* merge_html_opt =
      merge
          ->add_option("--html", st->merge_html,
                       "Also write the HTML report: to PATH, or beside the merged report")
          ->expected(0, 1)
          ->type_name("[PATH]");
  return {merge, [=, &io]() -> int {
            auto& merge_args = st->merge_args;
            auto& merge_html = st->merge_html;
            auto& out = io.out;
            auto& err = io.err;
            if (merge_html_opt->count() > 0) {
              merge_args.html = merge_html;
            }
            return do_merge(merge_args, out, err);
          }};
}

}  // namespace pgleak::cli

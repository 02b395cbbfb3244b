#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "record/run_result.hpp"
#include "scenario/loader.hpp"
#include "scenario/scenario.hpp"

// `pgleak merge`: the shards of one sharded run (pgleak run --shard I/N) made
// into one run's record, which the summary, thresholds and verdict then
// judge as they judge any run.
namespace pgleak::report {

// One file given to merge, as read: a shard's JSON report, or the timeline
// (gzip JSON Lines) of a shard killed before it could write its report.
struct ShardFile {
  std::string path;
  std::string bytes;
};

struct MergedRun {
  scenario::Scenario scenario;  // from the shards' reports, checked against their digest
  record::RunResult result;
  // The report's "merge" block: every shard, where it came from and how it ended.
  nlohmann::json merge;
};

// How the shards' records combine:
//  - pools, loads, holders, events and every count are the shards' together
//    (histograms bucket by bucket, exactly); events in time order;
//  - the server's view (samples of pg_stat_activity, the peak, the server
//    log) is shard 0's, the one shard that samples it; each of its samples
//    gets every other shard's pools from that shard's sample nearest in time;
//  - the target is as shard 0 saw it before any shard started;
//  - the run completed only if every shard did; otherwise its status is that
//    of the first shard that ended early, and the merge block says which
//    shards ended early and how. A shard killed before writing its report
//    is given by its timeline: its events and samples are taken from it.
// Throws util::UsageError (exit 2) naming the file and the reason for a file
// that is not a shard's report or timeline, shards of different runs or
// scenarios, a shard given twice, and a shard missing.
MergedRun merge_shards(const std::vector<ShardFile>& files,
                       const scenario::PatternCatalog& catalog);

}  // namespace pgleak::report

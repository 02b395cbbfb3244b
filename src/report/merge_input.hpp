#pragma once

// merge's input, read and checked (merge.cpp's own header, for its two
// files): every file given becomes a Shard, or a util::UsageError naming the
// file and the reason. Pure functions of the bytes given.

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "record/recorder.hpp"
#include "report/merge.hpp"

namespace pgleak::report::merge_input {

// One shard as given: its report, or (killed before it wrote one) its timeline.
struct Shard {
  std::string path;
  int index = 0;
  int count = 0;
  std::string run_id;
  std::string run_name;
  std::string digest;
  std::optional<nlohmann::json> report;
  // From a timeline only: its samples and events as a run's recorder keeps
  // them (bounded: the peaks of at most kKeptSamples samples, kMaxEvents
  // events, counts of everything).
  std::shared_ptr<record::Recorder> timeline;
  bool timeline_cut = false;  // no "end" line: the writer was killed
  double last_t_s = 0;
};

[[noreturn]] void refuse(const std::string& path, const std::string& why);

// A shard's JSON report, or its gzip timeline (read a line at a time into a
// bounded recorder), by the file's first bytes.
Shard read_shard(const ShardFile& file);

// One shard per index, from 0 to N-1, all of one run and one scenario: two
// reports of one index are refused, a report wins over a timeline of the
// same shard.
std::vector<Shard> pick_shards(std::vector<Shard> given);

// The scenario from the first report's scenario_text, checked against its digest.
scenario::Scenario recover_scenario(const std::vector<Shard>& shards,
                                    const scenario::PatternCatalog& catalog);

}  // namespace pgleak::report::merge_input

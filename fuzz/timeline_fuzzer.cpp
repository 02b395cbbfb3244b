// libFuzzer target: the timeline reader of `pgleak merge` (a shard killed
// before it wrote its report leaves only its gzip timeline). Any bytes, as
// the decompressed text of shard 1's timeline, compressed here and merged
// beside shard 0's well-formed report, must merge and be judged, or be
// refused with util::UsageError; never crash, hang, throw anything else, or
// hold more than the recorder's bounds (libFuzzer's -rss_limit_mb).
// Seeds (fuzz/run.sh): a timeline as pgleak writes it, written by this
// binary when PGLEAK_FUZZ_SEED names a file.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "gzip_text.hpp"
#include "record/record_json.hpp"
#include "report/merge.hpp"
#include "shard_seed.hpp"
#include "util/errors.hpp"

using namespace pgleak;

namespace {

// Shard 1's timeline, cut short as a killed shard's is: no end line.
std::string seed_timeline() {
  const auto& sc = fuzz::fleet();
  std::string text =
      record::json_line({{"run_id", "fuzz01"},
                         {"scenario", sc.name},
                         {"scenario_digest", sc.digest},
                         {"shard", {{"index", 1}, {"count", 2}, {"run_name", "fuzz"}}}},
                        "header");
  for (int i = 0; i < 5; ++i) {
    record::Sample s;
    s.t_s = i * 0.5;
    s.own = s.total = i + 1;
    s.by_state["idle in transaction"] = i + 1;
    s.pools.push_back({"api", 1, 1, 0, 0, 0, 1});
    text += record::json_line(record::sample_json(s), "sample");
  }
  record::Event e;
  e.t_s = 1.5;
  e.kind = record::kQueryError;
  e.sqlstate = "25P03";
  e.message = "terminating connection due to idle-in-transaction timeout";
  text += record::json_line(record::event_json(e), "event");
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* seed = std::getenv("PGLEAK_FUZZ_SEED"); seed != nullptr) {
    std::ofstream{seed} << seed_timeline();
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto catalog = workload::PatternRegistry::builtin().catalog();
  static const auto zero = fuzz::shard_report(0);
  try {
    const auto merged = report::merge_shards(
        {{"shard-0.json", zero},
         {"shard-1.timeline.jsonl.gz",
          fuzz::gzip_text(std::string(reinterpret_cast<const char*>(data), size))}},
        catalog);
    const auto summary = analysis::summarize(merged.result, merged.scenario);
    const auto verdict = analysis::judge(summary, merged.result, merged.scenario);
    report::report_text(report::build_report(merged.scenario, merged.result, summary, verdict));
  } catch (const util::UsageError&) {
    // Refused, with the file and the reason.
  }
  return 0;
}

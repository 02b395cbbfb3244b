// libFuzzer target: `pgleak merge` reads shard reports anyone may have
// written. With shard 0's report well-formed, any bytes given as shard 1's
// (a report, or a gzip timeline) must merge and be judged, or be refused
// with util::UsageError; never crash, hang or throw anything else.
// Seeds (fuzz/run.sh): shard 1's report as pgleak writes it, which this
// binary writes when PGLEAK_FUZZ_SEED names a file.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "report/merge.hpp"
#include "shard_seed.hpp"
#include "util/errors.hpp"

using namespace pgleak;
using fuzz::shard_report;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* seed = std::getenv("PGLEAK_FUZZ_SEED"); seed != nullptr) {
    std::ofstream{seed} << shard_report(1);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto catalog = workload::PatternRegistry::builtin().catalog();
  static const auto zero = shard_report(0);
  try {
    const auto merged = report::merge_shards(
        {{"shard-0.json", zero},
         {"shard-1.json", std::string(reinterpret_cast<const char*>(data), size)}},
        catalog);
    const auto summary = analysis::summarize(merged.result, merged.scenario);
    const auto verdict = analysis::judge(summary, merged.result, merged.scenario);
    auto doc = report::build_report(merged.scenario, merged.result, summary, verdict);
    doc["merge"] = merged.merge;
    report::report_text(doc);
  } catch (const util::UsageError&) {
    // Refused, with the file and the reason: what merge must do with bad input.
  }
  return 0;
}

// libFuzzer target: the report reader of `pgleak report` and `pgleak
// compare` (a JSON report anyone may have written). Any bytes must give an
// HTML page and a comparison, or be refused as the commands refuse them
// (not JSON, a field of the wrong shape: exit 2); never crash or hang.
// Seeds (fuzz/run.sh): a report as pgleak writes it, written by this binary
// when PGLEAK_FUZZ_SEED names a file.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

#include "report/compare.hpp"
#include "report/html_report.hpp"
#include "shard_seed.hpp"
#include "util/errors.hpp"

using namespace pgleak;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* seed = std::getenv("PGLEAK_FUZZ_SEED"); seed != nullptr) {
    std::ofstream{seed} << fuzz::shard_report(0);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto base = nlohmann::json::parse(fuzz::shard_report(0));
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(reinterpret_cast<const char*>(data),
                                reinterpret_cast<const char*>(data) + size);
  } catch (const nlohmann::json::exception&) {
    return 0;  // "is not JSON": refused by read_report
  }
  // What do_report and do_compare turn into a usage error: anything else escapes.
  try {
    report::render_html({{"fuzzed.json", doc}});
  } catch (const std::invalid_argument&) {
  } catch (const nlohmann::json::exception&) {
  } catch (const util::UsageError&) {
  }
  try {
    report::format_comparison(report::compare_reports(base, doc, 0.1));
  } catch (const nlohmann::json::exception&) {
  } catch (const util::UsageError&) {
  }
  return 0;
}

// libFuzzer target: `pgleak diagnose` on a capture anyone may have written.
// Any bytes, as the decompressed text of a capture, compressed here, must be
// diagnosed (and its starter scenario be one the loader accepts) or be
// refused with util::UsageError; never crash, hang, throw anything else, or
// hold more than the reader's and builder's bounds (-rss_limit_mb).
// Seeds (fuzz/run.sh): a capture as pgleak writes it, written by this binary
// when PGLEAK_FUZZ_SEED names a file.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "analysis/diagnosis.hpp"
#include "analysis/starter_scenario.hpp"
#include "capture/capture_file.hpp"
#include "gzip_text.hpp"
#include "record/record_json.hpp"
#include "scenario/loader.hpp"
#include "util/errors.hpp"
#include "workload/pattern_registry.hpp"

using namespace pgleak;

namespace {

std::string seed_capture() {
  using nlohmann::json;
  std::string text = record::json_line({{"schema", capture::kCaptureSchema},
                                        {"started_at_unix", 1.8e9},
                                        {"interval_s", 1},
                                        {"with_query_text", false},
                                        {"server",
                                         {{"server_version", "15.5"},
                                          {"max_connections", 100},
                                          {"superuser_reserved_connections", 3},
                                          {"role_connection_limits", json::object()},
                                          {"database_connection_limits", json::object()}}}},
                                       "header");
  for (int pid = 1; pid <= 3; ++pid) {
    text += record::json_line({{"pid", pid},
                               {"application", "billing"},
                               {"user", "app"},
                               {"client", ""},
                               {"backend_start", -1000}},
                              "backend");
  }
  for (int i = 0; i < 8; ++i) {
    json rows = json::array();
    for (int pid = 1; pid <= 3; ++pid) {
      rows.push_back({pid, "idle in transaction", 500, 600, "", "00000000000000ab"});
    }
    text += record::json_line({{"t_s", i},
                               {"at_unix", 1.8e9 + i},
                               {"full", i == 0},
                               {"rows", i == 0 ? rows : json::array()},
                               {"gone", json::array()}},
                              "snapshot");
  }
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* seed = std::getenv("PGLEAK_FUZZ_SEED"); seed != nullptr) {
    std::ofstream{seed} << seed_capture();
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto catalog = workload::PatternRegistry::builtin().catalog();
  try {
    analysis::DiagnosisBuilder builder;
    const auto read = capture::read_capture(
        "capture.gz", fuzz::gzip_text(std::string(reinterpret_cast<const char*>(data), size)),
        [&](const capture::CaptureHeader& h, const capture::Snapshot& s) { builder.add(h, s); });
    const auto diagnosis = builder.finish(read);
    const auto starter = analysis::starter_scenario(diagnosis, "fuzzed");
    if (!starter.process_of.empty()) {
      try {
        scenario::parse(starter.scenario.dump(), "starter.json", catalog);
      } catch (const scenario::ScenarioError& e) {
        // A capture's numbers may make a scenario pgleak would not run (a
        // server of 0 connections): refused by the loader, never a crash.
      }
    }
  } catch (const util::UsageError&) {
    // Refused, with the file and the reason.
  }
  return 0;
}

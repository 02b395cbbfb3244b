// libFuzzer target: the scenario loader must turn any input into either a
// Scenario or a ScenarioError, quickly, and never crash, hang or throw
// anything else. Seeds: scenarios/ (fuzz/run.sh).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "scenario/loader.hpp"
#include "util/text.hpp"
#include "workload/pattern_registry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto catalog = pgleak::workload::PatternRegistry::builtin().catalog();
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto scenario = pgleak::scenario::parse(text, "fuzz.json", catalog);
    if (scenario.total_workers() <= 0 || scenario.total_workers() > 5000) {
      std::abort();  // validation let an impossible worker count through
    }
  } catch (const pgleak::scenario::ScenarioError& e) {
    // What the CLI prints must be safe for a terminal.
    for (const unsigned char c : pgleak::util::printable(e.what())) {
      if (c < 0x20 && c != '\n') {
        std::abort();
      }
    }
  }
  return 0;
}

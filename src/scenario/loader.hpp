#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "scenario/scenario.hpp"
#include "util/errors.hpp"

namespace pgleak::scenario {

// One thing wrong with a scenario, located by its JSON pointer.
struct Problem {
  std::string pointer;  // e.g. "/processes/0/pool/max_overflow"
  std::string message;  // e.g. "must be >= -1"
};

// A scenario file that cannot be run. what() lists every problem as
// "FILE: POINTER: MESSAGE", one per line.
// A usage error (exit 2) by type: a scenario the user gave is not valid.
class ScenarioError : public util::UsageError {
 public:
  ScenarioError(std::string file, std::vector<Problem> problems);
  const std::string& file() const noexcept { return file_; }
  const std::vector<Problem>& problems() const noexcept { return problems_; }

 private:
  std::string file_;
  std::vector<Problem> problems_;
};

// What the loader needs to know about patterns without depending on them:
// whether a name exists, and the pattern's own check of its "options".
struct PatternCatalog {
  std::function<bool(const std::string& name)> exists;
  std::function<std::string()> names;  // for "unknown pattern" messages
  // Appends problems found in `options` (pointer = the options object's pointer).
  // Duration options are checked against `time_scale` like every other duration.
  std::function<void(const std::string& pattern, const nlohmann::json& options,
                     const std::string& pointer, double time_scale, std::vector<Problem>& problems)>
      check_options;
};

// The largest scenario file pgleak reads; real ones are a few KiB.
inline constexpr size_t kMaxScenarioBytes = 4 * 1024 * 1024;

struct LoadOptions {
  std::optional<double> time_scale;  // --time-scale overrides the file's
  // Run as this many shards (scenario/shard.hpp): the worker limit is per
  // shard, and the backend tags must fit with the shard in them.
  int shards = 1;
};

// Parses and validates; throws ScenarioError with every problem found.
Scenario parse(const std::string& text, const std::string& source, const PatternCatalog& catalog,
               const LoadOptions& options = {});
// Reads the file, then parse(); an unreadable file is a ScenarioError too, and
// so is anything but a regular file (a directory, a FIFO, a device, a symlink)
// or a file larger than kMaxScenarioBytes.
Scenario load(const std::string& path, const PatternCatalog& catalog,
              const LoadOptions& options = {});

}  // namespace pgleak::scenario

#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace pgleak::workload {

class WorkerContext;

// What one worker does with its sessions for its whole life: a named strategy
// (sysbench's event(), pgbench's built-in scripts). run() returns when the
// worker is done or the run stops; a pattern that leaks keeps its connection
// until the simulated process ends (WorkerContext::hold_until_process_ends).
class SessionPattern {
 public:
  virtual ~SessionPattern() = default;
  virtual void run(WorkerContext& ctx) = 0;
};

// A pattern option, declared by the pattern and checked by the scenario loader.
struct OptionSpec {
  enum class Type { kBool, kNumber };
  std::string name;
  Type type = Type::kBool;
  nlohmann::json default_value;
  std::string help;
  double min = 0;  // kNumber only
  double max = 0;
};

// A pattern's entry in the registry: name, one-line summary for `pgleak list`,
// its options, and how to make one for a worker.
struct PatternInfo {
  std::string name;
  std::string summary;
  std::string reproduces;  // the code smell it stands for
  std::vector<OptionSpec> options;
  // `options` already validated against `options` specs, defaults filled in.
  std::function<std::unique_ptr<SessionPattern>(const nlohmann::json& options)> make;
};

}  // namespace pgleak::workload

#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "util/duration.hpp"

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
  enum class Type { kBool, kNumber, kDuration, kChoice };
  std::string name;
  Type type = Type::kBool;
  nlohmann::json default_value;
  std::string help;
  double min = 0;                    // kNumber only
  double max = 0;                    // kNumber only
  std::vector<std::string> choices;  // kChoice only

  static OptionSpec boolean(std::string name, bool fallback, std::string help) {
    return {std::move(name), Type::kBool, fallback, std::move(help), 0, 0, {}};
  }
  static OptionSpec number(std::string name, double fallback, double lo, double hi,
                           std::string help) {
    return {std::move(name), Type::kNumber, fallback, std::move(help), lo, hi, {}};
  }
  static OptionSpec duration(std::string name, std::string fallback, std::string help) {
    return {std::move(name), Type::kDuration, std::move(fallback), std::move(help), 0, 0, {}};
  }
  static OptionSpec choice(std::string name, std::string fallback, std::vector<std::string> choices,
                           std::string help) {
    return {std::move(name),   Type::kChoice, std::move(fallback), std::move(help), 0, 0,
            std::move(choices)};
  }
};

// What a pattern is built from: its options (validated, defaults filled in)
// and the scenario's time_scale, which its duration options obey like every
// other duration.
struct PatternArgs {
  const nlohmann::json& options;
  double time_scale = 1.0;

  bool flag(const std::string& name) const { return options.at(name).get<bool>(); }
  double number(const std::string& name) const { return options.at(name).get<double>(); }
  std::string choice(const std::string& name) const { return options.at(name).get<std::string>(); }
  util::ScaledDuration duration(const std::string& name) const;
};

// A pattern's entry in the registry: name, one-line summary for `pgleak list`,
// its options, and how to make one for a worker.
struct PatternInfo {
  std::string name;
  std::string summary;
  std::string reproduces;  // the code smell it stands for
  std::vector<OptionSpec> options;
  std::function<std::unique_ptr<SessionPattern>(const PatternArgs& args)> make;
  // The pattern with its default options written as a group's "steps" (JSON),
  // which gives the same server-side picture (tests/integration/
  // steps_twins_test.cpp runs both); with twin_null_pool, on a process whose
  // pool is "poolclass": "NullPool".
  std::string twin;
  bool twin_null_pool = false;
};

}  // namespace pgleak::workload

#pragma once

#include <string>
#include <vector>

#include "scenario/loader.hpp"
#include "workload/session_pattern.hpp"

namespace pgleak::workload {

// Maps a scenario's pattern names to their implementations. Immutable once
// built; builtin() holds every pattern pgleak ships.
class PatternRegistry {
 public:
  explicit PatternRegistry(std::vector<PatternInfo> patterns);
  static const PatternRegistry& builtin();

  const PatternInfo* find(const std::string& name) const;
  const std::vector<PatternInfo>& all() const { return patterns_; }
  // The options with defaults filled in (assumes they were validated).
  nlohmann::json resolve_options(const std::string& name, const nlohmann::json& given) const;
  // What one worker of `group` runs: its built-in pattern with its options
  // resolved, or its own steps (which must outlive the result).
  std::unique_ptr<SessionPattern> make(const scenario::WorkerGroup& group, double time_scale) const;
  // The view the scenario loader uses to validate pattern names and options.
  scenario::PatternCatalog catalog() const;

 private:
  std::vector<PatternInfo> patterns_;
};

}  // namespace pgleak::workload

#include "workload/pattern_registry.hpp"

#include <fmt/format.h>

namespace pgleak::workload {

// One line per pattern: each lives in its own file under patterns/.
PatternInfo scoped_pattern();
PatternInfo held_by_object_pattern();
PatternInfo outside_loop_pattern();
PatternInfo global_session_pattern();

PatternRegistry::PatternRegistry(std::vector<PatternInfo> patterns)
    : patterns_(std::move(patterns)) {}

const PatternRegistry& PatternRegistry::builtin() {
  static const PatternRegistry registry{{
      scoped_pattern(),
      held_by_object_pattern(),
      outside_loop_pattern(),
      global_session_pattern(),
  }};
  return registry;
}

const PatternInfo* PatternRegistry::find(const std::string& name) const {
  for (const auto& p : patterns_) {
    if (p.name == name) {
      return &p;
    }
  }
  return nullptr;
}

nlohmann::json PatternRegistry::resolve_options(const std::string& name,
                                                const nlohmann::json& given) const {
  nlohmann::json resolved = nlohmann::json::object();
  if (const auto* info = find(name)) {
    for (const auto& spec : info->options) {
      resolved[spec.name] = given.contains(spec.name) ? given.at(spec.name) : spec.default_value;
    }
  }
  return resolved;
}

scenario::PatternCatalog PatternRegistry::catalog() const {
  scenario::PatternCatalog c;
  c.exists = [this](const std::string& name) { return find(name) != nullptr; };
  c.names = [this] {
    std::string names;
    for (const auto& p : patterns_) {
      names += (names.empty() ? "" : ", ") + p.name;
    }
    return names;
  };
  c.check_options = [this](const std::string& pattern, const nlohmann::json& options,
                           const std::string& pointer, std::vector<scenario::Problem>& problems) {
    const auto* info = find(pattern);
    if (info == nullptr) {
      return;
    }
    for (const auto& [key, value] : options.items()) {
      const OptionSpec* spec = nullptr;
      for (const auto& s : info->options) {
        if (s.name == key) {
          spec = &s;
        }
      }
      const auto at = pointer + "/" + key;
      if (spec == nullptr) {
        std::string known;
        for (const auto& s : info->options) {
          known += (known.empty() ? "" : ", ") + s.name;
        }
        problems.push_back({at, fmt::format("unknown option of pattern {} (its options: {})",
                                            pattern, known.empty() ? "none" : known)});
      } else if (spec->type == OptionSpec::Type::kBool && !value.is_boolean()) {
        problems.push_back({at, "must be true or false"});
      } else if (spec->type == OptionSpec::Type::kNumber &&
                 (!value.is_number() || value.get<double>() < spec->min ||
                  value.get<double>() > spec->max)) {
        problems.push_back(
            {at, fmt::format("must be a number from {} to {}", spec->min, spec->max)});
      }
    }
  };
  return c;
}

}  // namespace pgleak::workload

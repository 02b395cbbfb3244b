#include "workload/pattern_registry.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <optional>

#include "scenario/json_pointer.hpp"
#include "workload/steps_pattern.hpp"

namespace pgleak::workload {

// One line per pattern: each lives in its own file under patterns/.
PatternInfo scoped_pattern();
PatternInfo held_by_object_pattern();
PatternInfo outside_loop_pattern();
PatternInfo global_session_pattern();
PatternInfo leak_on_error_pattern();
PatternInfo idle_in_transaction_pattern();
PatternInfo slow_statement_pattern();
PatternInfo connection_per_task_pattern();

namespace {

// Why `value` does not fit `spec`, or nullopt when it does.
std::optional<std::string> check_option(const OptionSpec& spec, const nlohmann::json& value,
                                        double time_scale) {
  switch (spec.type) {
    case OptionSpec::Type::kBool:
      if (!value.is_boolean()) {
        return "must be true or false";
      }
      break;
    case OptionSpec::Type::kNumber:
      if (!value.is_number() || !(value.get<double>() >= spec.min) ||
          !(value.get<double>() <= spec.max)) {
        return fmt::format("must be a number from {} to {}", spec.min, spec.max);
      }
      break;
    case OptionSpec::Type::kDuration: {
      if (!value.is_string()) {
        return "must be a duration string with a unit, e.g. \"30s\"";
      }
      std::string why;
      const auto nominal = util::parse_duration(value.get<std::string>(), &why);
      if (!nominal) {
        return why;
      }
      return util::check_scaling(*nominal, time_scale);
    }
    case OptionSpec::Type::kChoice:
      if (!value.is_string() || std::find(spec.choices.begin(), spec.choices.end(),
                                          value.get<std::string>()) == spec.choices.end()) {
        return fmt::format("must be one of: {}", fmt::join(spec.choices, ", "));
      }
      break;
  }
  return std::nullopt;
}

}  // namespace

util::ScaledDuration PatternArgs::duration(const std::string& name) const {
  // Validated by the catalog before any pattern is built.
  const auto nominal = util::parse_duration(options.at(name).get<std::string>(), nullptr);
  return util::ScaledDuration::scale(nominal.value_or(util::Micros{0}), time_scale);
}

PatternRegistry::PatternRegistry(std::vector<PatternInfo> patterns)
    : patterns_(std::move(patterns)) {}

const PatternRegistry& PatternRegistry::builtin() {
  static const PatternRegistry registry{{
      scoped_pattern(),
      held_by_object_pattern(),
      outside_loop_pattern(),
      global_session_pattern(),
      leak_on_error_pattern(),
      idle_in_transaction_pattern(),
      slow_statement_pattern(),
      connection_per_task_pattern(),
  }};
  return registry;
}

const PatternInfo* PatternRegistry::find(const std::string& name) const {
  const auto it = std::find_if(patterns_.begin(), patterns_.end(),
                               [&](const PatternInfo& p) { return p.name == name; });
  return it == patterns_.end() ? nullptr : &*it;
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

std::unique_ptr<SessionPattern> PatternRegistry::make(const scenario::WorkerGroup& group,
                                                      double time_scale) const {
  if (group.pattern == scenario::kStepsPattern) {
    return make_steps_pattern(group.steps);
  }
  const auto* info = find(group.pattern);
  if (info == nullptr) {
    throw std::logic_error("unknown pattern " + group.pattern);  // the loader refuses it
  }
  const auto options = resolve_options(group.pattern, group.options);
  return info->make(PatternArgs{options, time_scale});
}

scenario::PatternCatalog PatternRegistry::catalog() const {
  scenario::PatternCatalog c;
  c.exists = [this](const std::string& name) { return find(name) != nullptr; };
  c.names = [this] {
    std::vector<std::string> names;
    for (const auto& p : patterns_) {
      names.push_back(p.name);
    }
    return fmt::format("{}", fmt::join(names, ", "));
  };
  c.check_options = [this](const std::string& pattern, const nlohmann::json& options,
                           const std::string& pointer, double time_scale,
                           std::vector<scenario::Problem>& problems) {
    const auto* info = find(pattern);
    if (info == nullptr) {
      return;
    }
    for (const auto& item : options.items()) {
      // Not a structured binding: clang 14 (the fuzz build) cannot capture one.
      const std::string& key = item.key();
      const nlohmann::json& value = item.value();
      const auto spec = std::find_if(info->options.begin(), info->options.end(),
                                     [&](const OptionSpec& s) { return s.name == key; });
      if (spec == info->options.end()) {
        std::vector<std::string> known;
        for (const auto& s : info->options) {
          known.push_back(s.name);
        }
        problems.push_back(
            {pointer + "/" + scenario::pointer_token(key),
             fmt::format("unknown option of pattern {} (its options: {})", pattern,
                         known.empty() ? "none" : fmt::format("{}", fmt::join(known, ", ")))});
      } else if (auto why = check_option(*spec, value, time_scale)) {
        problems.push_back({pointer + "/" + scenario::pointer_token(key), *why});
      }
    }
  };
  return c;
}

}  // namespace pgleak::workload

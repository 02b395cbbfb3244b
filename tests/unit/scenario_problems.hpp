#pragma once

// Parsing inline scenarios in unit tests, and finding a problem by its
// JSON pointer and a fragment of its message.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "scenario/loader.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::scenario {

inline Scenario parse_ok(const std::string& text, LoadOptions options = {}) {
  return parse(text, "test.json", workload::PatternRegistry::builtin().catalog(), options);
}

inline std::vector<Problem> problems_of(const std::string& text) {
  try {
    parse_ok(text);
  } catch (const ScenarioError& e) {
    return e.problems();
  }
  ADD_FAILURE() << "expected the scenario to be rejected";
  return {};
}

inline bool has_problem(const std::vector<Problem>& problems, const std::string& pointer,
                        const std::string& fragment) {
  for (const auto& p : problems) {
    if (p.pointer == pointer && p.message.find(fragment) != std::string::npos) {
      return true;
    }
  }
  return false;
}

inline std::string dump(const std::vector<Problem>& problems) {
  std::string out;
  for (const auto& p : problems) {
    out += p.pointer + ": " + p.message + "\n";
  }
  return out;
}

}  // namespace pgleak::scenario

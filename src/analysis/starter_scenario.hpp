#pragma once

// A scenario that reproduces a diagnosis (`pgleak diagnose --scenario`): a
// process per application, named after it, whose workers hold what the
// application held when it held it, against a server with the captured
// limits, compressed in time to run in about 20 seconds. Pure.

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "analysis/diagnosis.hpp"

namespace pgleak::analysis {

struct StarterScenario {
  nlohmann::json scenario;                        // valid for scenario::parse
  std::map<std::string, std::string> process_of;  // application -> process name
};

// `name` is the scenario's name (an identifier).
StarterScenario starter_scenario(const CaptureDiagnosis& diagnosis, const std::string& name);

// A scenario identifier (letters, digits, '_' and '-', a letter first, at
// most 32) from any text; `taken` keeps them unique.
std::string identifier_for(const std::string& text, std::map<std::string, int>& taken);

}  // namespace pgleak::analysis

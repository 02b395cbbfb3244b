#pragma once

// Running an inline scenario through the real runner, and reading what it
// sampled: shared by the server suite's pattern and steps tests.
#include <algorithm>
#include <string>

#include "pg_environment.hpp"
#include "run/runner.hpp"
#include "scenario/loader.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::run {

inline scenario::Scenario parse_inline(const std::string& text) {
  return scenario::parse(text, "inline.json", workload::PatternRegistry::builtin().catalog());
}

// Against the test server (the external --dsn path), on the default engine
// or the one given.
inline record::RunResult run_json(const std::string& text, const WorkerEngine& engine = {}) {
  RunOptions options;
  options.dsn = testing::PgEnvironment::get().app().to_libpq();
  options.engine = engine;
  return run_scenario(parse_inline(text), options);
}

// The run's backends in `state` at the final sample.
inline int final_state(const record::RunResult& r, const std::string& state) {
  const auto& last = r.samples.back().by_state;
  return last.contains(state) ? last.at(state) : 0;
}

// The most of the run's backends any sample saw.
inline int peak_own(const record::RunResult& r) {
  int peak = 0;
  for (const auto& s : r.samples) {
    peak = std::max(peak, s.own);
  }
  return peak;
}

}  // namespace pgleak::run

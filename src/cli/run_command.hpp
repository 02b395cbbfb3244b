#pragma once

#include <ostream>
#include <string>

#include "cli/signal_watcher.hpp"

namespace pgleak::cli {

// The options of `pgleak run`.
struct RunArgs {
  std::string scenario;
  std::string report;
  std::string out_dir = "results";
  std::string dsn;
  std::string junit;
  double time_scale = 0;
  bool quiet = false;
};

// `pgleak run`: loads the scenario, runs it, writes the report (and JUnit),
// prints the human summary, and returns the exit code (cli/exit_code.hpp).
int do_run(const RunArgs& args, std::ostream& out, std::ostream& err, const SignalWatcher& signals);

}  // namespace pgleak::cli

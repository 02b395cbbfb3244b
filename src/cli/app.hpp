#pragma once

#include <ostream>

#include "cli/signal_watcher.hpp"

namespace pgleak::cli {

// The whole command line: parses argv, runs the subcommand, maps errors to
// exit codes (cli/exit_code.hpp). Results go to `out`, diagnostics and status
// lines to `err`. `signals` says whether and how a run was interrupted.
int run_cli(int argc, char** argv, std::ostream& out, std::ostream& err,
            const SignalWatcher& signals);

}  // namespace pgleak::cli

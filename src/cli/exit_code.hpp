#pragma once

namespace pgleak::cli {

// pgleak's exit codes; the README documents them.
enum ExitCode : int {
  kPassed = 0,          // run completed, verdict passed (validate: all files valid)
  kFailed = 1,          // run completed, verdict failed
  kUsage = 2,           // bad usage or invalid scenario: nothing was started
  kInfrastructure = 3,  // target unreachable, embedded server failed, target lost mid-run
  // A signal N, whenever it came, makes any outcome 128 + N (130 for Ctrl-C,
  // 143 for SIGTERM): run_cli alone applies it, after the command has
  // cleaned up (and a run has written its partial report).
};

}  // namespace pgleak::cli

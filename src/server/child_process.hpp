#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace pgleak::server {

// An OS account to run a program as (PostgreSQL refuses to run as root).
struct RunAs {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
};

// The account to run initdb/postgres as: "postgres" when we are root, else ourselves.
// Throws util::InfrastructureError when root and no postgres account exists.
std::optional<RunAs> server_account();

// What a child process gets between fork and exec.
struct ChildSetup {
  std::string log_path;  // stdout and stderr, appended
  std::optional<RunAs> as;
  std::string cwd;
  // Sent to the child by the kernel when the thread that forked it ends (and
  // so when pgleak dies, even of SIGKILL): nothing outlives pgleak.
  int death_signal = 0;
  // A network namespace to enter before anything else (its /run/netns path),
  // e.g. the run's own for network faults; empty: pgleak's own.
  std::string netns_path;
};

// Forks and execs argv with `setup`: a session of its own (a terminal's Ctrl-C
// reaches pgleak, which then stops its children in order), signals unblocked
// and SIGPIPE reset, stdin from /dev/null. Returns the pid. Throws
// util::InfrastructureError when the log cannot be opened or fork fails.
pid_t spawn(const std::vector<std::string>& argv, const ChildSetup& setup);

// Waits for a child of ours; returns its exit status (128 + signal when killed).
int wait_child(pid_t pid);

// spawn() and wait for it, with SIGKILL as the death signal; past `timeout`
// the child is killed and InfrastructureError thrown.
int run_program(const std::vector<std::string>& argv, const std::string& log_path,
                const std::optional<RunAs>& as, const std::string& cwd,
                std::chrono::seconds timeout = std::chrono::seconds{120});

}  // namespace pgleak::server

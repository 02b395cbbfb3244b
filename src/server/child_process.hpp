#pragma once

#include <sys/types.h>

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

// The account to run initdb/pg_ctl as: "postgres" when we are root, else ourselves.
// Throws util::InfrastructureError when root and no postgres account exists.
std::optional<RunAs> server_account();

// Runs argv to completion with stdout and stderr appended to log_path, in its
// own session (so a terminal's Ctrl-C reaches pgleak, which then stops the
// server in order, rather than the server directly). Returns the exit status
// (128 + signal when killed).
int run_program(const std::vector<std::string>& argv, const std::string& log_path,
                const std::optional<RunAs>& as, const std::string& cwd);

}  // namespace pgleak::server

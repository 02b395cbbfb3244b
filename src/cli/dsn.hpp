#pragma once

#include <string>
#include <string_view>

namespace pgleak::cli {

// Where a target's DSN may come from, so that no password has to sit on a
// command line (where `ps` shows it to every user): --dsn, --dsn-file (a file
// holding the DSN), or the PGLEAK_DSN environment variable. libpq's own
// PGPASSWORD and ~/.pgpass keep working for a DSN without a password.
struct DsnFlags {
  bool dsn_given = false;  // --dsn appeared, even as --dsn ""
  std::string dsn;
  std::string dsn_file;  // empty: not given
};

// The DSN to use, or "" for none. Throws util::UsageError for --dsn "",
// --dsn together with --dsn-file, an unreadable or empty --dsn-file, and an
// empty PGLEAK_DSN. $PGLEAK_DSN applies only when neither flag is given.
std::string resolve_dsn(const DsnFlags& flags);

// Text that may carry a password: "password" anywhere, a URL with user
// information, or a DSN that parses with one.
bool may_hold_password(std::string_view text);
// `message` (an argument parser's, which echoes what it did not expect) with
// every argument of argv that may hold a password replaced by a mark.
std::string without_secrets(std::string message, int argc, const char* const* argv);

// Overwrites, in place, every argv entry that carries `dsn` when it holds a
// password, so /proc/<pid>/cmdline no longer shows it for the rest of the run.
void scrub_dsn_from_argv(int argc, char** argv, const std::string& dsn);

}  // namespace pgleak::cli

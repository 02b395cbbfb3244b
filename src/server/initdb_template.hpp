#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "server/child_process.hpp"

namespace pgleak::server {

// initdb's output for one PostgreSQL build and one set of initdb options, made
// once and copied into each new cluster: a copy takes about 0.04 s where
// initdb takes 0.45 s.
//
// Where: $PGLEAK_INITDB_CACHE when set ("off" turns the cache off), else
// /var/cache/pgleak for root, else $XDG_CACHE_HOME/pgleak or ~/.cache/pgleak.
// Each template is `<cache>/pg-<key>/data`; the key hashes the initdb and
// postgres binaries (path, inode, size, mtime), the options and the account,
// so an upgraded PostgreSQL gets a new template.
//
// What a cluster copies is trusted only as far as it is provably pgleak's:
//  - the cache directory must be a real directory (no symlink) owned by
//    pgleak's user and writable by nobody else, in a parent that is not
//    writable by others (or is sticky, as /tmp is);
//  - a template directory must be owned by the account that runs the server
//    and closed to everyone else (mode 0700), and hold a finished cluster;
//  - a template is built in a fresh `.building-XXXXXX` directory and renamed
//    into place only when initdb succeeded, so a half-made one is never used;
//    another run that built the same template first wins.
// When any check fails the caller runs initdb itself; `note` says why.
// initdb's output, when it runs here, is appended to `log_path`.
//
// Thread-safety: safe from any thread and any number of processes.
std::optional<std::filesystem::path> initdb_template(const std::string& bin_dir,
                                                     const std::vector<std::string>& initdb_options,
                                                     const std::optional<RunAs>& as,
                                                     const std::string& log_path,
                                                     std::string& note);

// The cache directory initdb_template() uses, or empty when it is off.
std::filesystem::path initdb_cache_dir();

}  // namespace pgleak::server

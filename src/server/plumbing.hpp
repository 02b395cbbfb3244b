#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

#include "db/conninfo.hpp"

// What the embedded server and the embedded PgBouncer both need: a port, and
// their own files read and written without following links.
namespace pgleak::server {

// A connection to something pgleak started: host (an address or a socket
// directory), port, database and user, nothing else.
db::ConnInfo local_conninfo(const std::string& host, int port, const std::string& dbname,
                            const std::string& user);

// A port on 127.0.0.1 that was free a moment ago (bind to 0, read it back).
// Throws util::InfrastructureError.
int free_loopback_port();

// A unix socket's path has room for 107 bytes (sun_path): refuses, at once, a
// directory whose ".s.PGSQL.<port>" would not fit, naming TMPDIR. Throws
// util::InfrastructureError.
void check_socket_dir(const std::filesystem::path& dir);

// A file of a private directory, read without following a link; at most
// 1 MiB; empty when it cannot be read.
std::string read_file(const std::filesystem::path& path);

// Writes `text` to `path` (created or truncated, never through a link) with
// `mode`. Throws util::InfrastructureError.
void write_new_file(const std::filesystem::path& path, const std::string& text, mode_t mode);

}  // namespace pgleak::server

#pragma once

// A capture of a live server's connections (`pgleak monitor --record`): what
// pg_stat_activity said of every client backend at each sample, and the
// server's limits. Written as gzip JSON Lines (capture_file.hpp) and read
// back by `pgleak diagnose`. Plain values; no locking.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace pgleak::capture {

inline constexpr const char* kCaptureSchema = "pgleak.capture/1";

// One client backend as pg_stat_activity showed it. Times are Unix seconds
// (0: none); other sessions' text is the server's, kept as read and escaped
// wherever it is shown.
struct Backend {
  int pid = 0;
  std::string application;  // application_name
  std::string user;         // usename
  std::string client;       // client_addr; empty over a unix socket
  double backend_start = 0;
  double xact_start = 0;
  std::string state;  // "active", "idle", "idle in transaction", ...
  double state_change = 0;
  std::string wait_event;   // "Type:Event", or empty
  std::string fingerprint;  // of the normalised query (fingerprint()), empty for none
  std::string query;        // the normalised query: only with --with-query-text
};

// The server's limits, as read when the capture began.
struct ServerLimits {
  std::string server_version;
  int max_connections = 0;
  int superuser_reserved_connections = 0;
  std::map<std::string, int> role_connection_limits;      // roles with a limit
  std::map<std::string, int> database_connection_limits;  // databases with one
};

// An error the server logged (its jsonlog, where readable) while the capture
// ran: a refusal (53300), a session ended for idling in transaction (25P03),
// a statement cancelled (57014), a backend terminated (57P01), ...
struct LogLine {
  double t_s = 0;  // seconds into the capture, by the server's own clock
  std::string severity;
  std::string sqlstate;
  std::string application;  // empty when the server did not know it yet (a refusal)
  std::string user;
  int pid = 0;
  std::string message;  // as the server wrote it, cut at 512 bytes
};

struct Snapshot {
  double t_s = 0;      // seconds since the capture began
  double at_unix = 0;  // the server's now() when it was read
  std::vector<Backend> backends;
};

// What an application is known by: its application_name, else its client
// address and user ("10.0.0.7 app", "local app").
std::string application_of(const Backend& backend);

// The query with its literals (strings, numbers) replaced by "?", runs of
// whitespace made one space, lower case outside quoted identifiers, and cut
// at 4,096 bytes: the same statement with other values normalises the same.
std::string normalize_query(std::string_view sql);
// 16 hex digits (FNV-1a 64) of a normalised query; empty for an empty one.
std::string fingerprint(std::string_view normalized);

}  // namespace pgleak::capture

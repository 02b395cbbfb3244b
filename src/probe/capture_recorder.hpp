#pragma once

// `pgleak monitor --record`: samples a live server's pg_stat_activity at a
// fixed interval into a capture (capture/capture_file.hpp), read-only, over
// one bounded session of its own (db::OwnSession, application_name
// "pgleak-monitor"), which it opens again when the server drops it. The
// query text of other sessions is read only to fingerprint it; it is kept
// (normalised, no literals) only with `with_query_text`. With a server log,
// what it says of refusals, ended sessions and cancelled statements is kept
// too (capture_log_line).

#include <iosfwd>
#include <optional>
#include <stop_token>
#include <string>

#include "capture/capture.hpp"
#include "db/conninfo.hpp"
#include "db/own_session.hpp"
#include "record/side_file.hpp"
#include "util/duration.hpp"

namespace pgleak::probe {

struct RecordOptions {
  std::string path;  // the capture file
  util::Micros interval = std::chrono::seconds{1};
  std::optional<util::Micros> duration;  // none: until `stop`
  bool with_query_text = false;
  // The server's jsonlog (log_destination = 'jsonlog'): its errors from the
  // capture's start on are recorded beside the samples. Empty for none.
  std::string server_log;
  std::ostream* log = nullptr;  // status lines; nullptr for none
};

struct RecordOutcome {
  uint64_t snapshots = 0;
  uint64_t failed_samples = 0;  // samples the server did not answer (reconnected)
  std::string reason;           // "duration", "stopped"
  record::SideFile::Status file;
};

// Records until `duration` has passed or `stop` is requested. Throws
// util::InfrastructureError (its DSN redacted) when the server cannot be
// reached at the start, or the file cannot be written.
RecordOutcome record_capture(const db::ConnInfo& target, const RecordOptions& options,
                             const std::stop_token& stop);

// One read of the server's limits and of every client backend but the
// reader's own. Throws db::DbError.
capture::ServerLimits read_capture_limits(db::OwnSession& session, const std::stop_token& stop);
capture::Snapshot read_backends(db::OwnSession& session, bool with_query_text,
                                const std::stop_token& stop);

// A jsonlog line as a capture keeps it: an ERROR, FATAL or PANIC of a client
// backend with a SQLSTATE, at seconds since `started_at_unix`; nullopt for
// any other line (the log's own chatter, pgleak-monitor's own lines).
std::optional<capture::LogLine> capture_log_line(std::string_view line, double started_at_unix);

}  // namespace pgleak::probe

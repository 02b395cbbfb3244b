#pragma once

// `pgleak monitor --record`: samples a live server's pg_stat_activity at a
// fixed interval into a capture (capture/capture_file.hpp), read-only, over
// one bounded session of its own (db::OwnSession, application_name
// "pgleak-monitor"), which it opens again when the server drops it. The
// query text of other sessions is read only to fingerprint it; it is kept
// (normalised, no literals) only with `with_query_text`.

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

}  // namespace pgleak::probe

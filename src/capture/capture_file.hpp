#pragma once

// A capture on disk: gzip JSON Lines (schema pgleak.capture/1), streamed as
// it is taken so that a killed recorder keeps all but its last quarter
// second (record::SideFile). Lines:
//   {"type":"header","schema":"pgleak.capture/1","started_at_unix","interval_s",
//    "with_query_text","server":{...}}
//   {"type":"backend","pid","application","user","client","backend_start"}
//       when a backend is first seen (a reused pid with another start, again);
//   {"type":"snapshot","t_s","at_unix","full","rows":[[pid, state, xact_start,
//    state_change, wait_event, fingerprint(, query)], ...],"gone":[pid, ...]}
//       a row for each backend new or changed since the last snapshot, and
//       the pids gone (every 300th lists every backend: "full": true);
//   {"type":"log","t_s","severity","sqlstate","application","user","pid",
//    "message"} for an error the server logged (with --server-log);
//   {"type":"end","snapshots","reason","log_lines_dropped"} when the recorder
//    stopped normally.
// An idle backend costs nothing after its first row, so a capture's size
// follows how much its server's connections change, not how many there are.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "capture/capture.hpp"
#include "record/side_file.hpp"

namespace pgleak::capture {

// The most client backends a snapshot may hold, written or read (PostgreSQL
// allows max_connections up to 262,143; pgleak reads a capture's backends
// into memory).
inline constexpr size_t kMaxBackends = 20000;
// The largest capture `diagnose` reads, and what it may decompress to.
inline constexpr size_t kMaxCaptureBytes = size_t{256} << 20;
inline constexpr size_t kMaxCaptureDecompressed = size_t{16} << 30;

struct CaptureHeader {
  ServerLimits server;
  double started_at_unix = 0;
  double interval_s = 0;
  bool with_query_text = false;
};

// Writes a capture. Thread-safety: one thread calls add() and close();
// add_log() may be called from any thread, until close().
class CaptureWriter {
 public:
  // Opens `path` (as util::open_output_stream) and writes the header.
  // Throws util::InfrastructureError.
  CaptureWriter(const std::string& path, const CaptureHeader& header);

  // Backends beyond kMaxBackends are left out and counted.
  void add(const Snapshot& snapshot);
  // Past kMaxLogLines, log lines are counted, not written.
  void add_log(const LogLine& line);
  // Writes the end line and closes; a write error is in the status.
  record::SideFile::Status close(const std::string& reason);

  uint64_t snapshots() const { return snapshots_; }
  uint64_t backends_left_out() const { return left_out_; }

 private:
  static constexpr uint64_t kFullEvery = 300;
  static constexpr uint64_t kMaxLogLines = 100000;

  bool with_query_text_;
  double started_at_ = 0;
  record::SideFile file_;
  std::map<int, double> started_;    // pid -> backend_start, as last written
  std::map<int, std::string> rows_;  // pid -> its row, as last written
  uint64_t snapshots_ = 0;
  uint64_t left_out_ = 0;
  std::atomic<uint64_t> log_lines_{0};
};

struct CaptureRead {
  CaptureHeader header;
  uint64_t snapshots = 0;
  bool cut = false;  // no end line: the recorder was killed (what it wrote is read)
};

// Reads a capture from its bytes, a snapshot at a time, each whole (the
// backends it held), and each log line (`on_log`, which may be empty). Throws util::UsageError
// naming `path` and the line for anything pgleak did not write: not gzip, a line not JSON or of the
// wrong shape, a number out of range, more than kMaxBackends backends, past the size bounds. Memory
// is bounded by the backends of one snapshot.
CaptureRead read_capture(const std::string& path, const std::string& bytes,
                         const std::function<void(const CaptureHeader&, const Snapshot&)>& each,
                         const std::function<void(const LogLine&)>& on_log = {});

}  // namespace pgleak::capture

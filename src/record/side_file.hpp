#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "util/gzip_file.hpp"

namespace pgleak::record {

// The run's full record, streamed to disk while the run goes: gzip-compressed
// JSON Lines (schema pgleak.timeline/1). The first line is the header
// ({"type":"header", ...}), then one line per sample and per event in the
// order they were recorded ({"type":"sample", ...} as record::sample_json,
// unfolded; {"type":"event", ...} as record::event_json, none dropped), and,
// when the run ends normally, {"type":"end", ...}.
//
// A writer thread compresses and flushes what was appended every 250 ms, so
// a run killed with SIGKILL keeps everything up to its last quarter second.
// If the disk falls behind by more than 64 MiB, lines are dropped and
// counted rather than held in memory.
//
// Thread-safety: append() from any thread; close() and status() from one.
class SideFile {
 public:
  struct Status {
    std::string path;
    uint64_t lines = 0;    // written, header and end included
    uint64_t dropped = 0;  // appended while the disk was 64 MiB behind, or after an error
    uint64_t compressed_bytes = 0;
    std::string error;  // the first write error; empty when none
  };

  // Opens `path` (as util::open_output_stream) and writes the header line
  // (its "schema" is pgleak.timeline/1 unless `header` names another, as a
  // capture's does). Throws util::InfrastructureError.
  SideFile(const std::string& path, const nlohmann::json& header);
  ~SideFile();
  SideFile(const SideFile&) = delete;
  SideFile& operator=(const SideFile&) = delete;

  // One line (record::json_line). Never waits for the disk.
  void append(std::string line);
  // Stops the writer, writes what is left and the end line, and closes the
  // file. A write error is returned in the status, never thrown.
  Status close(const nlohmann::json& end);

 private:
  void writer(std::stop_token stop);
  // Writes `chunk` and flushes; remembers the first error. False on error.
  bool write_out(const std::string& chunk);

  static constexpr size_t kMaxPending = 64u << 20;

  std::mutex mutex_;  // guards the members up to file_mutex_
  std::condition_variable_any wake_;
  std::string pending_;
  uint64_t pending_lines_ = 0;
  bool closed_ = false;
  uint64_t lines_ = 0;
  uint64_t dropped_ = 0;
  std::atomic<bool> failed_{false};
  std::mutex file_mutex_;  // guards the members below
  std::string error_;
  util::GzipFile file_;
  std::jthread thread_;
};

}  // namespace pgleak::record

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "util/line_splitter.hpp"

namespace pgleak::probe {

// What a LogFollower could not read whole.
struct LogGaps {
  uint64_t rotations = 0;  // renamed away and replaced: the old file was read to its end first
  uint64_t truncations =
      0;  // cut in place (copytruncate): what was written since the last read is lost
  uint64_t overlong_lines = 0;  // lines past util::LineSplitter::kMaxLine, skipped

  bool any() const { return rotations + truncations + overlong_lines > 0; }
  // "rotated 1 time (read across); truncated in place 2 times (...)", or "".
  std::string describe() const;
};

// Follows a log file that another process appends to, as `tail -F` does, and
// hands each whole line to `on_line` on a thread of its own, every 100 ms.
// The file is opened without following a link (and only a regular file is
// read), at most 16 MiB per tick, and may not exist yet. A rotation by rename
// is followed: the old file is read to its end, then the new one from its
// start; a truncation in place (copytruncate) restarts from the start and is
// counted, since what was written between the last read and the cut is lost.
// A line still being written waits for its newline (util::LineSplitter).
//
// Thread-safety: start()/stop()/gaps() from one thread; on_line runs on the
// follower's thread (and on the caller's, in stop()).
class LogFollower {
 public:
  LogFollower(std::string path, std::function<void(std::string_view)> on_line);
  ~LogFollower();
  LogFollower(const LogFollower&) = delete;
  LogFollower& operator=(const LogFollower&) = delete;

  // With `from_end`, what the file holds already is skipped (a log that
  // others write to as well, from before the run).
  void start(bool from_end = false);
  // Reads what is left, then stops.
  void stop();
  // What could not be read whole; read it after stop().
  LogGaps gaps() const;
  // Reads what the file holds now, as the thread does every 100 ms (without
  // start(): a caller that drives the follower itself, as the tests do).
  void drain();

 private:
  // Opens the file at path_ if it is a regular file; false when there is none yet.
  bool open_current();
  // Reads from offset_ to the end of the open file (or 16 MiB); true at its end.
  bool read_open_file();
  void close_file();

  const std::string path_;
  const std::function<void(std::string_view)> on_line_;
  std::jthread thread_;
  int fd_ = -1;
  uint64_t dev_ = 0;
  uint64_t ino_ = 0;
  uint64_t offset_ = 0;
  util::LineSplitter lines_;
  LogGaps gaps_;
};

// "2026-11-30 15:19:07.812 UTC" (how PostgreSQL and PgBouncer stamp their
// lines), at the start of `text`; nullopt for anything else.
std::optional<std::chrono::system_clock::time_point> parse_utc_timestamp(std::string_view text);

}  // namespace pgleak::probe

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace pgleak::probe {

// Follows a log file that another process appends to, and hands each whole
// line to `on_line` on a thread of its own, every 100 ms. The file is opened
// without following a link, read a bounded chunk (16 MiB) per tick, and may
// not exist yet. A line still being written waits for its newline.
//
// Thread-safety: start()/stop() from one thread; on_line runs on the
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

 private:
  void drain();

  const std::string path_;
  const std::function<void(std::string_view)> on_line_;
  std::jthread thread_;
  uint64_t offset_ = 0;
  std::string partial_;
};

// "2026-11-30 15:19:07.812 UTC" (how PostgreSQL and PgBouncer stamp their
// lines), at the start of `text`; nullopt for anything else.
std::optional<std::chrono::system_clock::time_point> parse_utc_timestamp(std::string_view text);

}  // namespace pgleak::probe

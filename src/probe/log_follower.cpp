#include "probe/log_follower.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

#include "util/stoppable_sleep.hpp"

namespace pgleak::probe {

std::string LogGaps::describe() const {
  std::string out;
  const auto add = [&out](uint64_t n, std::string_view what, std::string_view why) {
    if (n > 0) {
      out += fmt::format("{}{} {} time{} ({})", out.empty() ? "" : "; ", what, n, n == 1 ? "" : "s",
                         why);
    }
  };
  add(rotations, "rotated", "read across");
  add(truncations, "truncated in place", "lines written just before may be missing");
  if (overlong_lines > 0) {
    out +=
        fmt::format("{}given {} line{} over {} bytes (skipped)", out.empty() ? "" : "; ",
                    overlong_lines, overlong_lines == 1 ? "" : "s", util::LineSplitter::kMaxLine);
  }
  return out;
}

LogFollower::LogFollower(std::string path, std::function<void(std::string_view)> on_line)
    : path_(std::move(path)), on_line_(std::move(on_line)) {}

LogFollower::~LogFollower() {
  stop();
  close_file();
}

void LogFollower::start(bool from_end) {
  if (from_end && open_current()) {
    struct stat st {};
    if (::fstat(fd_, &st) == 0) {
      offset_ = static_cast<uint64_t>(st.st_size);
    }
  }
  thread_ = std::jthread{[this](std::stop_token stop) {
    // The writer appends as it goes; a tenth of a second keeps events near real time.
    do {
      drain();
    } while (util::sleep_for(std::chrono::milliseconds{100}, stop));
  }};
}

void LogFollower::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
    drain();
  }
}

LogGaps LogFollower::gaps() const {
  auto g = gaps_;
  g.overlong_lines = lines_.overlong();
  return g;
}

bool LogFollower::open_current() {
  const int fd = ::open(path_.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return false;  // not created yet, or renamed away and not yet replaced
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return false;  // only a regular file is read: never a FIFO or a device
  }
  fd_ = fd;
  dev_ = static_cast<uint64_t>(st.st_dev);
  ino_ = static_cast<uint64_t>(st.st_ino);
  offset_ = 0;
  return true;
}

void LogFollower::close_file() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

bool LogFollower::read_open_file() {
  struct stat st {};
  if (::fstat(fd_, &st) == 0 && static_cast<uint64_t>(st.st_size) < offset_) {
    ++gaps_.truncations;  // copytruncate: start again from the top
    offset_ = 0;
    lines_.reset();
  }
  char buf[65536];
  size_t read = 0;
  while (read < (size_t{16} << 20)) {
    const ssize_t n = ::pread(fd_, buf, sizeof buf, static_cast<off_t>(offset_));
    if (n <= 0) {
      return true;
    }
    offset_ += static_cast<uint64_t>(n);
    read += static_cast<size_t>(n);
    lines_.feed(std::string_view{buf, static_cast<size_t>(n)}, on_line_);
  }
  return false;  // more next tick
}

void LogFollower::drain() {
  if (fd_ < 0 && !open_current()) {
    return;
  }
  if (!read_open_file()) {
    return;
  }
  // At the end of the open file: is the path still this file? A rename
  // rotation put a new one there; the old one is read to its end by now.
  struct stat now {};
  if (::lstat(path_.c_str(), &now) != 0 ||
      (static_cast<uint64_t>(now.st_dev) == dev_ && static_cast<uint64_t>(now.st_ino) == ino_)) {
    return;
  }
  close_file();
  if (open_current()) {
    ++gaps_.rotations;
    lines_.reset();  // a line the old file never finished is not continued here
    read_open_file();
  }
}

std::optional<std::chrono::system_clock::time_point> parse_utc_timestamp(std::string_view text) {
  const std::string stamp{text.substr(0, 27)};
  std::tm tm{};
  int millis = 0;
  if (stamp.size() < 27 || stamp.compare(23, 4, " UTC") != 0 ||
      std::sscanf(stamp.c_str(), "%4d-%2d-%2d %2d:%2d:%2d.%3d", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &millis) != 7) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return std::chrono::system_clock::from_time_t(timegm(&tm)) + std::chrono::milliseconds{millis};
}

}  // namespace pgleak::probe

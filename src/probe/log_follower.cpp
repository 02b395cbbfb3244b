#include "probe/log_follower.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

#include "util/stoppable_sleep.hpp"

namespace pgleak::probe {

LogFollower::LogFollower(std::string path, std::function<void(std::string_view)> on_line)
    : path_(std::move(path)), on_line_(std::move(on_line)) {}

LogFollower::~LogFollower() {
  stop();
}

void LogFollower::start(bool from_end) {
  if (from_end) {
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
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

void LogFollower::drain() {
  const int fd = ::open(path_.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return;  // not created yet
  }
  std::string chunk;
  char buf[65536];
  ssize_t n = 0;
  while (chunk.size() < (size_t{16} << 20) &&
         (n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(offset_ + chunk.size()))) > 0) {
    chunk.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  offset_ += chunk.size();
  partial_ += chunk;
  size_t start = 0;
  for (size_t nl = partial_.find('\n'); nl != std::string::npos; nl = partial_.find('\n', start)) {
    on_line_(std::string_view{partial_}.substr(start, nl - start));
    start = nl + 1;
  }
  partial_.erase(0, start);
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

#include "util/stoppable_sleep.hpp"

#include <condition_variable>
#include <ctime>
#include <mutex>
#include <string>

namespace pgleak::util {

bool sleep_until(std::chrono::steady_clock::time_point deadline, std::stop_token stop) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock{m};
  // Nothing notifies cv: only the stop token (through wait's stop_callback) or the deadline wake
  // it.
  cv.wait_until(lock, stop, deadline, [] { return false; });
  return !stop.stop_requested();
}

void sleep_until_stopped(std::stop_token stop) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock{m};
  cv.wait(lock, stop, [] { return false; });
}

std::string utc_now(const char* strftime_format) {
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  const auto n = std::strftime(buf, sizeof buf, strftime_format, &tm);
  return std::string(buf, n);
}

}  // namespace pgleak::util

#include "util/stoppable_sleep.hpp"

#include <ctime>
#include <string>

#include "fiber/sync.hpp"

namespace pgleak::util {

bool sleep_until(std::chrono::steady_clock::time_point deadline, std::stop_token stop) {
  return fiber::sleep_until(deadline, stop);
}

void sleep_until_stopped(std::stop_token stop) {
  fiber::sleep_until_stopped(stop);
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

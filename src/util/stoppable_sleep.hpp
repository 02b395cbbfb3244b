#pragma once

#include <chrono>
#include <stop_token>
#include <string>

namespace pgleak::util {

// Sleeps until `deadline` unless `stop` is requested first. Returns true when
// the deadline was reached, false when stopped. Every wait in pgleak that a
// Ctrl-C or the end of a run must cut short goes through here.
bool sleep_until(std::chrono::steady_clock::time_point deadline, std::stop_token stop);

inline bool sleep_for(std::chrono::steady_clock::duration d, std::stop_token stop) {
  return sleep_until(std::chrono::steady_clock::now() + d, std::move(stop));
}

// Sleeps until `stop` is requested.
void sleep_until_stopped(std::stop_token stop);

// "2026-11-26T14:46:00Z"-style UTC stamps with a strftime format.
std::string utc_now(const char* strftime_format);

}  // namespace pgleak::util

#pragma once

// The kernel's coarse monotonic clock (CLOCK_MONOTONIC_COARSE), as a
// steady_clock time point: the same clock as steady_clock::now()
// (CLOCK_MONOTONIC on Linux), read from the last timer tick, so it is up to
// one tick (1-4 ms) behind, and about four times cheaper to read. For a time
// that only marks when something happened to the millisecond, never for a
// deadline or a measured wait.
//
// Thread-safety: a pure function.

#include <time.h>

#include <chrono>

namespace pgleak::util {

inline std::chrono::steady_clock::time_point coarse_now() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::chrono::steady_clock::time_point{std::chrono::seconds{ts.tv_sec} +
                                               std::chrono::nanoseconds{ts.tv_nsec}};
}

}  // namespace pgleak::util

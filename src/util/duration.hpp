#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace pgleak::util {

// All of pgleak's durations are whole microseconds: fine enough for a 1% time
// scale of a 250 ms think time, coarse enough to never overflow.
using Micros = std::chrono::microseconds;

// Parses "250ms", "1.5s", "10m", "1h", "500us". A unit is required: a bare
// number is ambiguous between seconds (SQLAlchemy) and milliseconds (PostgreSQL).
// Returns nullopt and sets `why` on failure.
std::optional<Micros> parse_duration(std::string_view text, std::string* why);

// Shortest exact-ish rendering: "250ms", "1.5s", "10m".
std::string format_duration(Micros d);

double to_seconds(Micros d);
double to_millis(Micros d);

// The longest duration pgleak accepts, as written or as applied: a year and a
// day. Longer values are typing mistakes, and products with time_scale must
// never overflow.
inline constexpr Micros kMaxDuration{int64_t{366} * 24 * 3600 * 1'000'000};

// Why `nominal` x `time_scale` cannot be run, or nullopt when it can: a
// time_scale that is not finite or not positive, an applied value past
// kMaxDuration, or a non-zero duration that rounds to zero microseconds.
std::optional<std::string> check_scaling(Micros nominal, double time_scale);

// A duration as the scenario wrote it and as the run applies it (nominal x time_scale).
struct ScaledDuration {
  Micros nominal{0};
  Micros applied{0};

  static ScaledDuration scale(Micros nominal, double time_scale);
  friend bool operator==(const ScaledDuration&, const ScaledDuration&) = default;
};

}  // namespace pgleak::util

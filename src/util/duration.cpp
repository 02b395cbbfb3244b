#include "util/duration.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

namespace pgleak::util {
namespace {

struct Unit {
  std::string_view suffix;
  double micros;
};

// Longest suffixes first so "ms" is not read as "m" followed by junk.
constexpr std::array<Unit, 6> kUnits{
    {{"us", 1.0}, {"ms", 1e3}, {"s", 1e6}, {"m", 60e6}, {"h", 3600e6}, {"d", 86400e6}}};

}  // namespace

std::optional<Micros> parse_duration(std::string_view text, std::string* why) {
  auto fail = [&](std::string reason) -> std::optional<Micros> {
    if (why != nullptr) {
      *why = std::move(reason);
    }
    return std::nullopt;
  };
  if (text.empty()) {
    return fail("empty duration");
  }
  size_t unit_at = text.size();
  while (unit_at > 0 && std::isalpha(static_cast<unsigned char>(text[unit_at - 1])) != 0) {
    --unit_at;
  }
  const std::string_view number = text.substr(0, unit_at);
  const std::string_view suffix = text.substr(unit_at);
  if (suffix.empty()) {
    return fail(fmt::format("\"{}\" needs a unit (us, ms, s, m, h, d), e.g. \"{}s\"", text, text));
  }
  const Unit* unit = nullptr;
  for (const auto& u : kUnits) {
    if (u.suffix == suffix) {
      unit = &u;
    }
  }
  if (unit == nullptr) {
    return fail(
        fmt::format("unknown unit \"{}\" in \"{}\" (use us, ms, s, m, h or d)", suffix, text));
  }
  double value = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (number.empty() || ec != std::errc{} || end != number.data() + number.size()) {
    return fail(fmt::format("\"{}\" is not a number followed by a unit", text));
  }
  if (value < 0 || !std::isfinite(value)) {
    return fail(fmt::format("\"{}\" must be a non-negative duration", text));
  }
  const double micros = value * unit->micros;
  if (micros > static_cast<double>(kMaxDuration.count())) {
    return fail(fmt::format("\"{}\" is longer than {}, the longest duration pgleak accepts", text,
                            format_duration(kMaxDuration)));
  }
  return Micros{static_cast<int64_t>(std::llround(micros))};
}

std::string format_duration(Micros d) {
  const auto us = d.count();
  if (us == 0) {
    return "0s";
  }
  if (us % 3'600'000'000 == 0) {
    return fmt::format("{}h", us / 3'600'000'000);
  }
  if (us % 60'000'000 == 0) {
    return fmt::format("{}m", us / 60'000'000);
  }
  if (us >= 1'000'000) {
    return fmt::format("{:g}s", static_cast<double>(us) / 1e6);
  }
  if (us >= 1000) {
    return fmt::format("{:g}ms", static_cast<double>(us) / 1e3);
  }
  return fmt::format("{}us", us);
}

double to_seconds(Micros d) {
  return static_cast<double>(d.count()) / 1e6;
}
double to_millis(Micros d) {
  return static_cast<double>(d.count()) / 1e3;
}

std::optional<std::string> check_scaling(Micros nominal, double time_scale) {
  if (!std::isfinite(time_scale) || time_scale <= 0) {
    return "time_scale must be a finite number greater than zero";
  }
  const double applied = static_cast<double>(nominal.count()) * time_scale;
  if (applied > static_cast<double>(kMaxDuration.count())) {
    return fmt::format("{} at time_scale {} applies as longer than {}, the longest pgleak runs",
                       format_duration(nominal), time_scale, format_duration(kMaxDuration));
  }
  if (nominal.count() > 0 && std::llround(applied) == 0) {
    return fmt::format(
        "{} at time_scale {} rounds to zero (pgleak's resolution is 1us): raise time_scale",
        format_duration(nominal), time_scale);
  }
  return std::nullopt;
}

ScaledDuration ScaledDuration::scale(Micros nominal, double time_scale) {
  // Callers validate with check_scaling first; clamp anyway, so no input can
  // reach an undefined conversion.
  double applied = static_cast<double>(nominal.count()) * time_scale;
  if (std::isnan(applied) || applied < 0) {
    applied = 0;
  }
  applied = std::min(applied, static_cast<double>(kMaxDuration.count()));
  return {nominal, Micros{static_cast<int64_t>(std::llround(applied))}};
}

}  // namespace pgleak::util

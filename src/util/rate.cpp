#include "util/rate.hpp"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <cmath>
#include <utility>

namespace pgleak::util {

std::optional<int64_t> parse_rate(std::string_view text, std::string* why) {
  static constexpr std::array<std::pair<std::string_view, double>, 7> kUnits{{
      {"KiB/s", 1024.0},
      {"MiB/s", 1024.0 * 1024},
      {"GiB/s", 1024.0 * 1024 * 1024},
      {"KB/s", 1e3},
      {"MB/s", 1e6},
      {"GB/s", 1e9},
      {"B/s", 1.0},
  }};
  for (const auto& [unit, factor] : kUnits) {
    if (text.size() > unit.size() && text.ends_with(unit)) {
      const auto number = text.substr(0, text.size() - unit.size());
      double value = 0;
      const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
      if (ec != std::errc{} || end != number.data() + number.size() || !std::isfinite(value)) {
        break;
      }
      const double bytes = value * factor;
      if (bytes < 1 || bytes > 100e9) {
        if (why != nullptr) {
          *why = "must be between 1B/s and 100GB/s";
        }
        return std::nullopt;
      }
      return static_cast<int64_t>(bytes);
    }
  }
  if (why != nullptr) {
    *why = "must be a rate such as \"64KB/s\", \"1.5MB/s\" or \"1MiB/s\"";
  }
  return std::nullopt;
}

std::string format_rate(int64_t bytes_per_s) {
  const auto b = static_cast<double>(bytes_per_s);
  if (b >= 1e9) {
    return fmt::format("{:g}GB/s", b / 1e9);
  }
  if (b >= 1e6) {
    return fmt::format("{:g}MB/s", b / 1e6);
  }
  if (b >= 1e3) {
    return fmt::format("{:g}KB/s", b / 1e3);
  }
  return fmt::format("{}B/s", bytes_per_s);
}

}  // namespace pgleak::util

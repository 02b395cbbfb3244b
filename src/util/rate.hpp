#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgleak::util {

// Parses a transfer rate: "500B/s", "64KB/s", "1.5MB/s", "1GB/s" (powers of
// 1000, as network rates are counted) or "64KiB/s", "1MiB/s" (of 1024).
// Returns bytes per second, at least 1 and at most 100 GB/s; nullopt with
// `why` set otherwise.
std::optional<int64_t> parse_rate(std::string_view text, std::string* why);

// "64KB/s", "1.5MB/s": the shortest rendering in powers of 1000.
std::string format_rate(int64_t bytes_per_s);

}  // namespace pgleak::util

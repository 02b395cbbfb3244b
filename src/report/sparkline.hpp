#pragma once

#include <string>
#include <vector>

namespace pgleak::report {

// One line of Unicode block characters (▁ to █) for a series, `width`
// columns wide at most, each the highest value of its stretch, so a peak
// always shows. The scale is 0 to `top` (e.g. the connection limit): a full
// block means at or past it. Empty for an empty series.
std::string sparkline(const std::vector<double>& values, double top, size_t width = 48);

}  // namespace pgleak::report

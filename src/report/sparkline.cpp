#include "report/sparkline.hpp"

#include <algorithm>
#include <cmath>

namespace pgleak::report {

std::string sparkline(const std::vector<double>& values, double top, size_t width) {
  static constexpr const char* kLevels[] = {" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  std::string out;
  if (values.empty() || width == 0) {
    return out;
  }
  const size_t columns = std::min(width, values.size());
  if (!(top > 0)) {
    top = std::max(1.0, *std::max_element(values.begin(), values.end()));
  }
  for (size_t c = 0; c < columns; ++c) {
    const size_t from = c * values.size() / columns;
    const size_t to = std::max(from + 1, (c + 1) * values.size() / columns);
    const double v = *std::max_element(values.begin() + static_cast<std::ptrdiff_t>(from),
                                       values.begin() + static_cast<std::ptrdiff_t>(to));
    // Anything above zero shows at least the lowest block.
    int level = static_cast<int>(std::ceil(std::clamp(v / top, 0.0, 1.0) * 8));
    out += kLevels[std::clamp(level, 0, 8)];
  }
  return out;
}

}  // namespace pgleak::report

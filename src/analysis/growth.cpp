#include "analysis/growth.hpp"

#include <cmath>

namespace pgleak::analysis {

std::pair<double, double> least_squares(const std::vector<double>& x,
                                        const std::vector<double>& y) {
  const size_t n = x.size();
  if (n < 3 || y.size() != n) {
    return {0, 0};
  }
  double mx = 0;
  double my = 0;
  for (size_t i = 0; i < n; ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double sxx = 0;
  double sxy = 0;
  double syy = 0;
  for (size_t i = 0; i < n; ++i) {
    sxx += (x[i] - mx) * (x[i] - mx);
    sxy += (x[i] - mx) * (y[i] - my);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx <= 0) {
    return {0, 0};
  }
  const double slope = sxy / sxx;
  // A flat series is perfectly explained by a flat line.
  const double r2 = syy <= 0 ? 1.0 : (sxy * sxy) / (sxx * syy);
  return {slope, r2};
}

Growth fit_growth(const std::vector<record::Sample>& samples, double time_scale,
                  double warmup_fraction, int capacity) {
  Growth g;
  if (samples.empty()) {
    return g;
  }
  const double end = samples.back().t_s;
  const double start = end * warmup_fraction;
  std::vector<double> x;
  std::vector<double> y;
  for (const auto& s : samples) {
    if (s.t_s >= start) {
      x.push_back(s.t_s);
      y.push_back(s.own);
    }
  }
  const auto [slope, r2] = least_squares(x, y);
  if (x.size() < 3) {
    return g;
  }
  g.computed = true;
  g.samples = static_cast<int>(x.size());
  g.from_s = x.front();
  g.to_s = x.back();
  // Per wall second -> per nominal minute: a nominal second lasts time_scale wall seconds.
  g.slope_per_min = slope * time_scale * 60.0;
  g.r2 = r2;
  g.rise = slope * (g.to_s - g.from_s);
  const size_t tail_from = x.size() - std::max<size_t>(3, x.size() / 4);
  const std::vector<double> tx{x.begin() + static_cast<long>(tail_from), x.end()};
  const std::vector<double> ty{y.begin() + static_cast<long>(tail_from), y.end()};
  const double tail_slope = least_squares(tx, ty).first;
  g.tail_slope_per_min = tail_slope * time_scale * 60.0;
  const double tail_span = tx.back() - tx.front();
  const bool flat = std::abs(tail_slope * tail_span) < 1.0;  // under one connection over the tail
  g.plateaued = flat && (capacity < 0 || y.back() < capacity);
  return g;
}

}  // namespace pgleak::analysis

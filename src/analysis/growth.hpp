#pragma once

#include <vector>

#include "record/observations.hpp"

namespace pgleak::analysis {

// A least-squares line through the run's own connection count after a warm-up.
struct Growth {
  bool computed = false;     // enough samples after the warm-up
  double slope_per_min = 0;  // connections per nominal minute (wall slope x time_scale)
  double r2 = 0;             // fit quality, 0..1
  double from_s = 0;         // wall seconds covered
  double to_s = 0;
  int samples = 0;
  double rise = 0;                // connections gained over the window, per the fit
  double tail_slope_per_min = 0;  // the same over the last quarter
  bool plateaued = false;         // the last quarter is flat and below the pools' capacity
};

// `warmup_fraction` of the run is skipped (pools filling is not a leak);
// `capacity` is the sum of the pools' caps (-1 when unbounded).
Growth fit_growth(const std::vector<record::Sample>& samples, double time_scale,
                  double warmup_fraction, int capacity);

// Ordinary least squares of y on x; returns {slope, r2}. Fewer than 3 points,
// or no spread in x: {0, 0}.
std::pair<double, double> least_squares(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace pgleak::analysis

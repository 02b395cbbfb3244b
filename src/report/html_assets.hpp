#pragma once

#include <string_view>

// What the HTML report embeds, compiled in from files at build time
// (cmake/embed_assets.cmake): Chart.js from Debian's libjs-chart.js (MIT
// licence, its banner kept), and the report's own script and style sheet
// (src/report/html/).
namespace pgleak::report::assets {

extern const std::string_view kChartJs;
extern const std::string_view kReportJs;
extern const std::string_view kReportCss;

}  // namespace pgleak::report::assets

#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace pgleak::report {

// One JSON report (pgleak.report/1) to draw, and what to call it on the page.
struct HtmlInput {
  std::string label;  // e.g. the file name
  nlohmann::json report;
};

// The most points a series keeps for drawing; longer runs are reduced to the
// lowest and highest sample of each stretch, so peaks survive.
inline constexpr size_t kMaxDrawnSamples = 1500;
// The most events drawn on a timeline; the tables still count every one.
inline constexpr size_t kMaxDrawnEvents = 4000;

// What the page draws from one report: its series in nominal (production)
// time, reduced to kMaxDrawnSamples, the applied time beside them, the
// limits, the events, and the tables. Built from the JSON report alone, so
// any report renders. Throws std::invalid_argument for a document that is
// not a pgleak report.
nlohmann::json page_data(const HtmlInput& input);

// A self-contained HTML page (Chart.js, script, styles and data inline; a
// Content-Security-Policy that forbids every network fetch) showing the
// reports side by side on shared axes.
std::string render_html(const std::vector<HtmlInput>& inputs);

}  // namespace pgleak::report

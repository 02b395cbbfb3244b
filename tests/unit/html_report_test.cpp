// The HTML report's data (report/html_report.hpp) and the terminal sparkline,
// without a browser: tests/integration/html_report_test.cpp renders pages.
#include "report/html_report.hpp"

#include <gtest/gtest.h>

#include "report/sparkline.hpp"

namespace pgleak::report {
namespace {

using nlohmann::json;

json report_with_samples(size_t n, size_t peak_at) {
  json samples = json::array();
  for (size_t i = 0; i < n; ++i) {
    const int own = i == peak_at ? 97 : static_cast<int>(i % 7);
    samples.push_back(
        {{"t_s", 0.25 * static_cast<double>(i)},
         {"own", own},
         {"total", own},
         {"by_state", {{"idle in transaction", own}}},
         {"pools",
          json::array(
              {{{"process", "p"}, {"replica", 0}, {"checked_out", own}, {"waiting", 0}}})}});
  }
  return {{"schema", "pgleak.report/1"},
          {"samples", samples},
          {"scenario",
           {{"name", "long"},
            {"time_scale", 0.5},
            {"duration", {{"nominal_s", 0.5 * static_cast<double>(n)}}}}},
          {"summary", {{"peak_connections", 97}, {"connection_limit", 97}}},
          {"target", {{"max_connections", 100}}},
          {"events", json::array()}};
}

double max_of(const json& values) {
  double m = 0;
  for (const auto& v : values) {
    m = std::max(m, v.get<double>());
  }
  return m;
}

// With PgBouncer in the path, the page draws its clients and server
// connections beside the application's and the server's; without it, no
// such series (and no chart).
TEST(HtmlReport, PgBouncersLayerIsDrawnWhereItWasInThePath) {
  auto report = report_with_samples(10, 5);
  EXPECT_TRUE(page_data({"direct.json", report})["series"]["pgbouncer"].is_null());
  for (size_t i = 0; i < 10; ++i) {
    report["samples"][i]["pgbouncer"] = {{"cl_active", 10 + static_cast<int>(i)},
                                         {"cl_waiting", i == 5 ? 7 : 0},
                                         {"sv_active", 2},
                                         {"sv_idle", 1},
                                         {"sv_used", 0}};
  }
  report["samples"][3].erase("pgbouncer");  // its console unreadable at that sample: 0 there
  const auto b = page_data({"pooled.json", report})["series"]["pgbouncer"];
  ASSERT_TRUE(b.is_object());
  EXPECT_EQ(b["cl_active"].size(), 10u);
  EXPECT_EQ(b["cl_active"][9], 19);
  EXPECT_EQ(b["cl_active"][3], 0);
  EXPECT_EQ(max_of(b["cl_waiting"]), 7);
  EXPECT_EQ(b["sv_idle"][0], 1);
}

// An hour at 4 Hz is 14,400 samples: drawn as the lowest and highest of each
// stretch, so the one-sample peak survives and the page stays light.
TEST(HtmlReport, LongRunsAreReducedButKeepTheirPeak) {
  const auto data = page_data({"long.json", report_with_samples(14'400, 9'001)});
  const auto& s = data["series"];
  EXPECT_EQ(s["samples"], 14'400);
  EXPECT_LE(s["drawn"].get<size_t>(), kMaxDrawnSamples);
  EXPECT_GE(s["drawn"].get<size_t>(), kMaxDrawnSamples / 2);
  EXPECT_EQ(s["t"].size(), s["drawn"].get<size_t>());
  EXPECT_EQ(max_of(s["own"]), 97);
  EXPECT_EQ(max_of(s["states"]["idle in transaction"]), 97);
  EXPECT_EQ(max_of(s["held"]["p.0"]), 97);
  // Nominal time: applied / time_scale, in order.
  EXPECT_DOUBLE_EQ(s["t"][1].get<double>(), s["applied"][1].get<double>() / 0.5);
  for (size_t i = 1; i < s["t"].size(); ++i) {
    EXPECT_LT(s["t"][i - 1].get<double>(), s["t"][i].get<double>());
  }
}

TEST(HtmlReport, AMergedRunListsItsShardsAndHowEachEnded) {
  auto report = report_with_samples(40, 3);
  EXPECT_TRUE(page_data({"one.json", report})["shards"].is_null());
  report["merge"] = {{"start_skew_ms", 18},
                     {"shards",
                      {{{"index", 0},
                        {"status", "completed"},
                        {"wall_s", 6.1},
                        {"replicas", 2},
                        {"samples_server", true},
                        {"status_detail", nullptr}},
                       {{"index", 1},
                        {"status", "killed"},
                        {"wall_s", nullptr},
                        {"samples_server", false},
                        {"status_detail", "killed before it wrote its report"}}}}};
  const auto data = page_data({"merged.json", report});
  ASSERT_EQ(data["shards"].size(), 2u);
  EXPECT_EQ(data["shards"][1]["status"], "killed");
  EXPECT_TRUE(data["shards"][1]["replicas"].is_null());
  EXPECT_EQ(data["start_skew_ms"], 18);
}

TEST(HtmlReport, ShortRunsAreDrawnWhole) {
  const auto data = page_data({"short.json", report_with_samples(40, 3)});
  EXPECT_EQ(data["series"]["drawn"], 40);
  EXPECT_EQ(data["limits"]["max_connections"], 100);
}

TEST(HtmlReport, RefusesWhatIsNotAReport) {
  EXPECT_THROW(page_data({"x.json", json{{"schema", "something/1"}}}), std::invalid_argument);
  EXPECT_THROW(page_data({"x.json", json::array()}), std::invalid_argument);
}

// Strings from servers and scenario files cannot end the data's <script>
// element, nor the page's title.
TEST(HtmlReport, HostileStringsStayData) {
  auto r = report_with_samples(3, 1);
  r["scenario"]["name"] = "</title><script>alert(1)</script>";
  r["events"].push_back({{"t_s", 0.1},
                         {"kind", "query_error"},
                         {"message", "</script><script>alert(2)</script>\u2028"}});
  const auto html = render_html({{"evil.json", r}});
  EXPECT_EQ(html.find("<script>alert"), std::string::npos);
  EXPECT_EQ(html.find("</title><script>"), std::string::npos);
  EXPECT_NE(html.find("\\u003c/script\\u003e\\u003cscript\\u003ealert(2)"), std::string::npos);
  EXPECT_NE(html.find("\\u2028"), std::string::npos);
  EXPECT_NE(html.find("Content-Security-Policy"), std::string::npos);
}

TEST(Sparkline, EachColumnIsTheHighestOfItsStretch) {
  EXPECT_EQ(sparkline({}, 10), "");
  EXPECT_EQ(sparkline({0, 5, 10}, 10), " ▄█");
  // 100 values into 4 columns: the single 10 shows in its column.
  std::vector<double> v(100, 0);
  v[60] = 10;
  EXPECT_EQ(sparkline(v, 10, 4), "  █ ");
  EXPECT_EQ(sparkline({20}, 10), "█");  // past the top is a full block
  EXPECT_EQ(sparkline({1}, 97), "▁");   // anything above zero shows
}

}  // namespace
}  // namespace pgleak::report

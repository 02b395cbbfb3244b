// The HTML report of real runs, rendered by a real headless Chromium: the
// incident's before and after side by side. The page reports what each
// chart drew (#pgleak-self-check, read with --dump-dom), Chromium's own net
// log shows every request the page made, and its console goes to stderr. A
// control page that does fetch and log proves both detectors can see.
// Saves a screenshot as an artifact (and, with PGLEAK_SCREENSHOT=PATH, there:
// scripts/update-screenshot.sh makes docs/incident-before-after.png so).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../scratch_dir.hpp"
#include "binary_suite.hpp"
#include "capture/capture_file.hpp"
#include "subprocess.hpp"

namespace pgleak::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

const std::string kChromium = "/usr/bin/chromium";

// Chromium as the issue asks for it: headless, no sandbox (root), no GPU, no
// first-run, background networking, component updates or sync, a fresh
// profile, and names that resolve nowhere.
std::vector<std::string> chromium(const fs::path& profile, std::vector<std::string> extra) {
  std::vector<std::string> argv{
      kChromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      // Containers often give /dev/shm a few MB; use /tmp instead.
      "--disable-dev-shm-usage", "--user-data-dir=" + profile.string(),
      "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=10000"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

struct Rendered {
  std::string dom;
  std::string console;                     // Chromium's stderr: console messages are CONSOLE lines
  std::vector<std::string> page_requests;  // URLs the page (not the browser) asked for
};

// Requests in a net log made by a page: the browser's own carry the initiator
// "not an origin"; a page's carry its origin ("null" for a file).
std::vector<std::string> page_requests(const fs::path& netlog) {
  const auto log = read_json(netlog);
  const int start_job = log.at("constants").at("logEventTypes").at("URL_REQUEST_START_JOB");
  std::vector<std::string> urls;
  for (const auto& e : log.at("events")) {
    if (e.value("type", -1) != start_job || !e.contains("params")) {
      continue;
    }
    const auto& p = e["params"];
    if (p.contains("url") && p.value("initiator", "") != "not an origin") {
      urls.push_back(p["url"].get<std::string>());
    }
  }
  return urls;
}

// Chromium now and then exits before its net log is written out (an empty
// file: seen once in about 40 renders on 2 busy cores), or dumps the page
// before its second animation frame has filled the self-check (an empty
// <pre>: seen once in CI). Without either the render proves nothing, so the
// page is rendered again, up to 3 times.
Rendered render(const fs::path& dir, const fs::path& page, const std::string& name) {
  const auto netlog = dir / (name + "-netlog.json");
  for (int attempt = 1;; ++attempt) {
    const auto r =
        run_to_end(chromium(dir / (name + "-profile"),
                            {"--enable-logging=stderr", "--v=0", "--log-net-log=" + netlog.string(),
                             "--dump-dom", "file://" + page.string()}),
                   {}, 2min);
    EXPECT_EQ(r.code, 0) << r.err;
    std::ifstream in{netlog};
    const std::string text{std::istreambuf_iterator<char>{in}, {}};
    const bool unfilled =
        r.out.find("id=\"pgleak-self-check\" hidden=\"\"></pre>") != std::string::npos;
    if ((json::accept(text) && !unfilled) || attempt == 3) {
      return {r.out, r.err, page_requests(netlog)};
    }
  }
}

json self_check(const std::string& dom) {
  const std::string open = "<pre id=\"pgleak-self-check\" hidden=\"\">";
  const auto at = dom.find(open);
  if (at == std::string::npos) {
    ADD_FAILURE() << "no self-check in the page";
    return json::object();
  }
  const auto from = at + open.size();
  auto text = dom.substr(from, dom.find("</pre>", from) - from);
  // --dump-dom escapes text content as HTML.
  for (const auto& [entity, c] : {std::pair{"&quot;", "\""}, std::pair{"&lt;", "<"},
                                  std::pair{"&gt;", ">"}, std::pair{"&amp;", "&"}}) {
    for (size_t p = text.find(entity); p != std::string::npos; p = text.find(entity, p + 1)) {
      text.replace(p, std::string{entity}.size(), c);
    }
  }
  if (text.empty()) {
    ADD_FAILURE() << "the page never filled its self-check";
    return json::object();
  }
  return json::parse(text);
}

class HtmlReport : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kChromium)) {
      GTEST_SKIP() << "Chromium is not installed (apt-get install chromium; scripts/setup.sh "
                      "does): the HTML report is not rendered";
    }
  }
};

// The detectors see what a page does: a fetch in the net log, a console
// message on stderr. Without this, "none found" below would prove nothing.
TEST_F(HtmlReport, TheDetectorsSeeAPageThatFetchesAndLogs) {
  ScratchDir dir;
  const auto page = dir.path() / "control.html";
  std::ofstream{page} << "<!DOCTYPE html><html><body><script>"
                         "fetch('http://127.0.0.1:9/pgleak-control').catch(() => {});"
                         "console.error('pgleak control');</script></body></html>";
  const auto r = render(dir.path(), page, "control");
  ASSERT_EQ(r.page_requests.size(), 1u);
  EXPECT_EQ(r.page_requests[0], "http://127.0.0.1:9/pgleak-control");
  EXPECT_NE(r.console.find("pgleak control"), std::string::npos);
}

// An hour sampled at 4 Hz (14,400 samples, one of them the peak), written as
// an older report would be (no wait histogram): drawn reduced, peak kept.
TEST_F(HtmlReport, AnHourLongRunStaysLightAndKeepsItsPeak) {
  ScratchDir dir;
  json samples = json::array();
  for (int i = 0; i < 14'400; ++i) {
    const int own = i == 9'001 ? 97 : 20 + i % 5;
    samples.push_back(
        {{"t_s", 0.25 * i},
         {"own", own},
         {"total", own},
         {"by_state", {{"idle", own}}},
         {"pools",
          json::array(
              {{{"process", "app"}, {"replica", 0}, {"checked_out", own}, {"waiting", 0}}})}});
  }
  const json report{{"schema", "pgleak.report/1"},
                    {"samples", samples},
                    {"scenario",
                     {{"name", "soak"},
                      {"time_scale", 1.0},
                      {"duration", {{"nominal_s", 3600.0}, {"applied_s", 3600.0}}},
                      {"processes", json::array()}}},
                    {"summary",
                     {{"peak_connections", 97},
                      {"connection_limit", 97},
                      {"checkout_wait_ms", {{"count", 0}, {"p95", 0}, {"max", 0}}}}},
                    {"target", {{"max_connections", 100}}},
                    {"verdict", {{"pass", true}, {"diagnosis", "healthy"}}},
                    {"events", json::array()}};
  std::ofstream{dir.path() / "soak.json"} << report.dump();
  const auto html = dir.path() / "soak.html";
  const auto made =
      run_to_end({kBinary, "report", (dir.path() / "soak.json").string(), "--html", html.string()});
  ASSERT_EQ(made.code, 0) << made.err;
  EXPECT_LT(fs::file_size(html), 2'000'000u);
  const auto r = render(dir.path(), html, "soak");
  const auto check = self_check(r.dom);
  EXPECT_TRUE(check["errors"].empty()) << check["errors"].dump();
  ASSERT_EQ(check["reports"].size(), 1u);
  EXPECT_EQ(check["reports"][0]["samples"], 14'400);
  EXPECT_LE(check["reports"][0]["drawn"].get<int>(), 1500);
  for (const auto& c : check["charts"]) {
    if (c["id"] == "connections") {
      EXPECT_EQ(c["peak"], 97);
      EXPECT_LE(c["points"].get<int>(), 5 * 1500 + 6);
    }
    if (c["id"] == "held") {
      EXPECT_EQ(c["peak"], 97);
    }
  }
}

// pgleak diagnose --html: a capture drawn with a run's charts, a line per
// application, the server log's errors on the timeline.
TEST_F(HtmlReport, ACaptureIsDrawnAsARunIs) {
  ScratchDir dir;
  const auto cap = (dir.path() / "cap.gz").string();
  {
    capture::CaptureHeader h;
    h.server.server_version = "15.5";
    h.server.max_connections = 100;
    h.server.superuser_reserved_connections = 3;
    h.started_at_unix = 1.8e9;
    h.interval_s = 1;
    capture::CaptureWriter w{cap, h};
    for (int i = 0; i < 60; ++i) {
      capture::Snapshot s{static_cast<double>(i), h.started_at_unix + i, {}};
      for (int pid = 1; pid <= 1 + i / 10; ++pid) {  // billing grows, one every 10 s
        s.backends.push_back({pid, "billing", "app", "", h.started_at_unix, h.started_at_unix,
                              "idle in transaction", h.started_at_unix, "", "", ""});
      }
      s.backends.push_back(
          {99, "api", "app", "", h.started_at_unix, 0, "idle", h.started_at_unix + i, "", "", ""});
      w.add(s);
    }
    w.add_log({30, "FATAL", "25P03", "billing", "app", 1, "terminating connection"});
    w.close("duration");
  }
  const auto html = dir.path() / "cap.html";
  const auto made = run_to_end({kBinary, "diagnose", cap, "--html", html.string()});
  ASSERT_EQ(made.code, 1) << made.err;  // billing leaks
  const auto r = render(dir.path(), html, "capture");
  const auto check = self_check(r.dom);
  EXPECT_TRUE(check["errors"].empty()) << check["errors"].dump();
  ASSERT_EQ(check["reports"].size(), 1u);
  EXPECT_EQ(check["reports"][0]["samples"], 60);
  bool held = false;
  for (const auto& c : check["charts"]) {
    if (c["id"] == "connections") {
      EXPECT_EQ(c["peak"], 7);  // billing's 6 and api's 1
    }
    held = held || c["id"] == "held";
  }
  EXPECT_TRUE(held) << check["charts"].dump();
  EXPECT_NE(r.dom.find("billing"), std::string::npos);
  EXPECT_NE(r.dom.find("held_without_commit"), std::string::npos);
  EXPECT_EQ(r.console.find("CONSOLE"), std::string::npos) << r.console;
  EXPECT_TRUE(r.page_requests.empty());
}

// A merged run (pgleak merge) lists its shards and how each ended.
TEST_F(HtmlReport, AMergedRunShowsItsShards) {
  ScratchDir dir;
  json samples = json::array();
  for (int i = 0; i < 40; ++i) {
    samples.push_back({{"t_s", 0.1 * i},
                       {"own", 10 + i % 3},
                       {"total", 10 + i % 3},
                       {"by_state", {{"idle", 10 + i % 3}}},
                       {"pools", json::array()}});
  }
  const json report{
      {"schema", "pgleak.report/1"},
      {"samples", samples},
      {"scenario",
       {{"name", "fleet"},
        {"time_scale", 1.0},
        {"duration", {{"nominal_s", 4.0}, {"applied_s", 4.0}}},
        {"processes", json::array()}}},
      {"summary",
       {{"peak_connections", 12},
        {"connection_limit", 97},
        {"checkout_wait_ms", {{"count", 0}, {"p95", 0}, {"max", 0}}}}},
      {"target", {{"max_connections", 100}}},
      {"verdict", {{"pass", false}, {"diagnosis", "healthy"}}},
      {"events", json::array()},
      {"merge",
       {{"start_skew_ms", 18},
        {"shards",
         {{{"index", 0},
           {"status", "completed"},
           {"wall_s", 4.2},
           {"replicas", 2},
           {"samples_server", true},
           {"status_detail", nullptr}},
          {{"index", 1},
           {"status", "killed"},
           {"wall_s", nullptr},
           {"samples_server", false},
           {"status_detail",
            "killed before it wrote its report; its timeline was cut off at 2.5s"}}}}}}};
  std::ofstream{dir.path() / "merged.json"} << report.dump();
  const auto html = dir.path() / "merged.html";
  const auto made = run_to_end(
      {kBinary, "report", (dir.path() / "merged.json").string(), "--html", html.string()});
  ASSERT_EQ(made.code, 0) << made.err;
  const auto r = render(dir.path(), html, "merged");
  const auto check = self_check(r.dom);
  EXPECT_TRUE(check["errors"].empty()) << check["errors"].dump();
  EXPECT_NE(r.dom.find("Shards (2, started within 18 ms of each other)"), std::string::npos);
  EXPECT_NE(r.dom.find("its timeline was cut off at 2.5s"), std::string::npos);
}

// A SQLSTATE is a key from a file: "__proto__" (from a hostile server log
// or report) must not blank the page, and a real code beside it still shows.
TEST_F(HtmlReport, ACodeNamedLikeAnObjectsPrototypeDoesNotBlankThePage) {
  ScratchDir dir;
  json samples = json::array();
  for (int i = 0; i < 10; ++i) {
    samples.push_back({{"t_s", 0.1 * i},
                       {"own", 3},
                       {"total", 3},
                       {"by_state", {{"idle", 3}}},
                       {"pools", json::array()}});
  }
  const json report{{"schema", "pgleak.report/1"},
                    {"samples", samples},
                    {"scenario",
                     {{"name", "proto"},
                      {"time_scale", 1.0},
                      {"duration", {{"nominal_s", 1.0}, {"applied_s", 1.0}}},
                      {"processes", json::array()}}},
                    {"summary",
                     {{"peak_connections", 3},
                      {"connection_limit", 97},
                      {"errors_by_sqlstate", {{"__proto__", 2}, {"53300", 1}}},
                      {"server_errors_by_sqlstate", {{"constructor", 1}}},
                      {"checkout_wait_ms", {{"count", 0}, {"p95", 0}, {"max", 0}}}}},
                    {"target", {{"max_connections", 100}}},
                    {"verdict", {{"pass", false}, {"diagnosis", "server_limit"}}},
                    {"events", json::array({{{"t_s", 0.5},
                                             {"kind", "connect_error"},
                                             {"sqlstate", "__proto__"},
                                             {"message", "x"}}})}};
  std::ofstream{dir.path() / "proto.json"} << report.dump();
  const auto html = dir.path() / "proto.html";
  const auto made = run_to_end(
      {kBinary, "report", (dir.path() / "proto.json").string(), "--html", html.string()});
  ASSERT_EQ(made.code, 0) << made.err;
  const auto r = render(dir.path(), html, "proto");
  const auto check = self_check(r.dom);
  EXPECT_TRUE(check["errors"].empty()) << check["errors"].dump();
  EXPECT_NE(r.dom.find("Errors by SQLSTATE"), std::string::npos);
  EXPECT_NE(r.dom.find("<td>53300</td>"), std::string::npos);
  EXPECT_EQ(r.dom.find("<section class=\"unreadable\""), std::string::npos);  // drawn whole
}

TEST_F(HtmlReport, TheIncidentBeforeAndAfterDrawnSideBySide) {
  ScratchDir dir;
  const auto before = dir.path() / "incident-before.json";
  const auto after = dir.path() / "incident-after.json";
  // 10 nominal minutes at time_scale 0.01: 6 s each.
  const auto b = run_to_end({kBinary, "run", kSource + "/scenarios/incident-before.json",
                             "--time-scale", "0.01", "--report", before.string(), "--quiet"});
  ASSERT_EQ(b.code, 1) << b.err;  // it fails, as the incident did
  const auto a = run_to_end({kBinary, "run", kSource + "/scenarios/incident-after.json",
                             "--time-scale", "0.01", "--report", after.string(), "--quiet"});
  ASSERT_EQ(a.code, 0) << a.err;
  const auto html = dir.path() / "incident.html";
  const auto rendered_by_cli =
      run_to_end({kBinary, "report", before.string(), after.string(), "--html", html.string()});
  ASSERT_EQ(rendered_by_cli.code, 0) << rendered_by_cli.err;

  const auto r = render(dir.path(), html, "report");
  const auto check = self_check(r.dom);
  EXPECT_TRUE(check["errors"].empty()) << check["errors"].dump();
  EXPECT_TRUE(check["blocked"].empty()) << check["blocked"].dump();
  EXPECT_TRUE(r.page_requests.empty()) << r.page_requests.front();
  EXPECT_EQ(r.console.find("CONSOLE"), std::string::npos) << r.console;

  const std::vector<json> reports{read_json(before), read_json(after)};
  ASSERT_EQ(check["reports"].size(), 2u);
  ASSERT_EQ(check["charts"].size(), 10u);  // five per report
  for (const auto& c : check["charts"]) {
    EXPECT_GT(c["painted"].get<int>(), 1000) << c.dump();  // the canvas has paint
    const auto& report = reports.at(c["report"].get<size_t>());
    const auto samples = report["samples"].size();
    const auto id = c["id"].get<std::string>();
    if (id != "events" || !report["events"].empty()) {
      EXPECT_GT(c["points"].get<int>(), 0) << c.dump();
    }
    if (id == "connections") {
      // Five stacked states per sample, plus the limit lines; the peak drawn
      // is the peak the run measured.
      EXPECT_GE(c["points"].get<size_t>(), 5 * samples);
      EXPECT_EQ(c["peak"], report["summary"]["peak_connections"]);
    } else if (id == "waiters") {
      int most = 0;
      for (const auto& s : report["samples"]) {
        int waiting = 0;
        for (const auto& p : s["pools"]) {
          waiting += p["waiting"].get<int>();
        }
        most = std::max(most, waiting);
      }
      EXPECT_EQ(c["peak"], most);
    } else if (id == "events") {
      EXPECT_GE(c["points"].get<size_t>(), std::min<size_t>(report["events"].size(), 4000));
    }
  }
  EXPECT_GE(reports[0]["summary"]["peak_connections"].get<int>(), 90);  // 96 of 97
  EXPECT_LE(reports[1]["summary"]["peak_connections"].get<int>(), 40);  // 14

  // The screenshot, an artifact of the test (and the README's picture).
  const auto shot = fs::path{PGLEAK_ARTIFACT_DIR} / "incident-before-after.png";
  fs::create_directories(shot.parent_path());
  const auto s = run_to_end(chromium(dir.path() / "shot-profile",
                                     {"--hide-scrollbars", "--window-size=1500,3400",
                                      "--screenshot=" + shot.string(), "file://" + html.string()}),
                            {}, 2min);
  ASSERT_EQ(s.code, 0) << s.err;
  std::ifstream png{shot, std::ios::binary};
  std::string signature(8, '\0');
  png.read(signature.data(), 8);
  EXPECT_EQ(signature, "\x89PNG\r\n\x1a\n");
  EXPECT_GT(fs::file_size(shot), 50'000u);
  if (const char* to = std::getenv("PGLEAK_SCREENSHOT"); to != nullptr && *to != '\0') {
    fs::copy_file(shot, to, fs::copy_options::overwrite_existing);
  }
}

// Behind PgBouncer, the page draws the three layers on one axis: what the
// application checked out, PgBouncer's clients and server connections, and
// the backends PostgreSQL showed. Skips without PgBouncer.
TEST_F(HtmlReport, ThePgBouncerLayerIsDrawnBesideTheApplicationAndTheServer) {
  if (!fs::exists("/usr/sbin/pgbouncer")) {
    GTEST_SKIP() << "Debian's pgbouncer is not installed";
  }
  ScratchDir dir;
  const auto report_path = dir.path() / "pooled.json";
  const auto html = dir.path() / "pooled.html";
  const auto run =
      run_to_end({kBinary, "run", kSource + "/scenarios/pgbouncer/idle-in-transaction.json",
                  "--report", report_path.string(), "--html", html.string(), "--quiet"});
  ASSERT_EQ(run.code, 1) << run.err;  // PgBouncer starves the clients: a failing verdict
  const auto r = render(dir.path(), html, "report");
  const auto check = self_check(r.dom);
  EXPECT_TRUE(check["errors"].empty()) << check["errors"].dump();
  EXPECT_EQ(r.console.find("CONSOLE"), std::string::npos) << r.console;
  const auto report = read_json(report_path);
  int most = 0;  // the most of any layer at any sample
  for (const auto& s : report["samples"]) {
    // A sample whose console read failed (a busy PgBouncer) has no layer line.
    if (!s.contains("pgbouncer") || !s["pgbouncer"].is_object()) {
      continue;
    }
    const auto& b = s["pgbouncer"];
    most =
        std::max({most, s["own"].get<int>(), b["cl_active"].get<int>(), b["cl_waiting"].get<int>(),
                  b["sv_active"].get<int>() + b["sv_idle"].get<int>() + b["sv_used"].get<int>()});
  }
  bool drawn = false;
  for (const auto& c : check["charts"]) {
    if (c["id"] == "layers") {
      drawn = true;
      EXPECT_GT(c["painted"].get<int>(), 1000) << c.dump();
      EXPECT_GE(c["points"].get<size_t>(), 5 * report["samples"].size());  // five lines
      EXPECT_GE(c["peak"].get<int>(), most);  // the application's checkouts may be more
    }
  }
  EXPECT_TRUE(drawn) << check["charts"].dump();
}

// A network fault's window is shaded on every time axis, from when it began
// to when it ended (the relay's latency: no root needed).
TEST_F(HtmlReport, ANetworkFaultIsShadedOnEveryTimeAxis) {
  ScratchDir dir{0755};  // the postgres account reaches the cluster in it
  const auto scenario = dir.path() / "slow.json";
  std::ofstream{scenario} << R"({"name": "slow", "duration": "4s", "sample_interval": "100ms",
    "processes": [{"name": "api", "workers": [{"pattern": "scoped", "count": 2, "think_time": "100ms"}]}],
    "network": {"faults": [{"at": "1s", "action": "latency", "delay": "20ms", "for": "2s"}]}})";
  const auto report_path = dir.path() / "slow.report.json";
  const auto html = dir.path() / "slow.html";
  const auto run = run_to_end({kBinary, "run", scenario.string(), "--report", report_path.string(),
                               "--html", html.string(), "--quiet", "--timeline", "none"},
                              {"TMPDIR=" + dir.path().string()});
  ASSERT_TRUE(run.code == 0 || run.code == 1) << run.err;
  const auto r = render(dir.path(), html, "slow");
  const auto check = self_check(r.dom);
  EXPECT_TRUE(check["errors"].empty()) << check["errors"].dump();
  int timed = 0;
  for (const auto& c : check["charts"]) {
    const bool on_time_axis = c["id"] != "waits";
    EXPECT_EQ(c["windows"].get<int>(), on_time_axis ? 1 : 0) << c.dump();
    timed += on_time_axis ? 1 : 0;
  }
  EXPECT_GE(timed, 4);  // connections, held, waiters, events
  EXPECT_NE(r.dom.find("Network faults (shaded on every time axis): latency 20 ms"),
            std::string::npos);
}

}  // namespace
}  // namespace pgleak::testing

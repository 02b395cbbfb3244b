// The pgleak binary end to end: exit codes, reports, cleanup on every path.
#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <set>
#include <thread>

#include "../scratch_dir.hpp"
#include "../timeline_lines.hpp"
#include "binary_suite.hpp"
#include "scenario/loader.hpp"
#include "server/embedded_server.hpp"
#include "server/pgbouncer.hpp"
#include "subprocess.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

Finished pgleak(std::vector<std::string> args) {
  args.insert(args.begin(), kBinary);
  return run_to_end(args);
}

using TempDir = ScratchDir;

std::set<std::string> embedded_cluster_dirs() {
  std::set<std::string> dirs;
  for (const auto& e : fs::directory_iterator{"/tmp"}) {
    const auto name = e.path().filename().string();
    if (name.rfind("pgleak-", 0) == 0 && name.rfind("pgleak-test-", 0) != 0) {
      dirs.insert(e.path().string());
    }
  }
  return dirs;
}

// Processes whose command line mentions `text` (a cluster's data dir).
int processes_mentioning(const std::string& text) {
  int found = 0;
  for (const auto& e : fs::directory_iterator{"/proc"}) {
    std::ifstream cmd{e.path() / "cmdline"};
    std::string line;
    std::getline(cmd, line, '\0');
    std::string all = line;
    while (std::getline(cmd, line, '\0')) {
      all += " " + line;
    }
    if (all.find(text) != std::string::npos) {
      ++found;
    }
  }
  return found;
}

void write(const fs::path& path, const std::string& text) {
  std::ofstream{path} << text;
}

TEST(Cli, HelpAndListTeach) {
  const auto help = pgleak({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("Exit codes"), std::string::npos);
  const auto run_help = pgleak({"run", "--help"});
  EXPECT_EQ(run_help.code, 0);
  EXPECT_NE(run_help.out.find("--time-scale"), std::string::npos) << run_help.out;
  const auto list = pgleak({"list"});
  EXPECT_EQ(list.code, 0);
  for (const char* p : {"scoped", "held_by_object", "outside_loop", "global_session"}) {
    EXPECT_NE(list.out.find(p), std::string::npos) << p;
  }
  const auto listed = pgleak({"list", "--scenarios", kSource + "/scenarios"});
  EXPECT_NE(listed.out.find("incident/launcher-fixed.json"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("patterns/leak_on_error.json"), std::string::npos);
  EXPECT_EQ(pgleak({"frobnicate"}).code, 2);
  EXPECT_EQ(pgleak({}).code, 2);
}

TEST(Cli, ValidateAcceptsShippedScenariosAndRejectsBadOnes) {
  const auto ok = pgleak({"validate", kSource + "/scenarios/incident-before.json",
                          kSource + "/scenarios/incident-after.json"});
  EXPECT_EQ(ok.code, 0) << ok.err;
  const auto bad = pgleak({"validate", kSource + "/tests/data/invalid/bad_overflow.json"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("/processes/0/pool/max_overflow: must be >= -1"), std::string::npos)
      << bad.err;
}

TEST(Cli, BudgetShowsWhyTheIncidentCouldNeverFit) {
  const auto before = pgleak({"budget", kSource + "/scenarios/incident-before.json"});
  EXPECT_EQ(before.code, 1);
  EXPECT_NE(before.out.find("worst case 435 connections vs 97 available"), std::string::npos)
      << before.out;
  const auto smaller = pgleak({"budget", kSource + "/scenarios/incident-before.json", "--pool-size",
                               "3", "--max-overflow", "5", "--json"});
  EXPECT_EQ(smaller.code, 1);
  const auto j = json::parse(smaller.out);
  EXPECT_EQ(j["worst_case"], 232);
  EXPECT_FALSE(j["fits"].get<bool>());
  const auto after = pgleak({"budget", kSource + "/scenarios/incident-after.json"});
  EXPECT_EQ(after.code, 0) << after.out;
  EXPECT_NE(after.out.find("FITS"), std::string::npos);
}

TEST(Cli, BadThresholdsAreValidationErrors) {
  TempDir dir;
  write(dir / "bad.json", R"({"name": "b", "duration": "1s",
    "expect": {"peak": "<= 3", "pool_timeouts": "less than 3",
               "checkout_wait_ms.p95": {"expr": "< 5", "abort_on_fail": true}},
    "processes": [{"name": "p", "workers": [{"pattern": "scoped"}]}]})");
  const auto r = pgleak({"validate", (dir / "bad.json").string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("/expect/peak: unknown metric"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("/expect/pool_timeouts: must be a comparison"), std::string::npos);
  EXPECT_NE(r.err.find("/expect/checkout_wait_ms.p95/abort_on_fail"), std::string::npos);
}

TEST(Cli, AbortOnFailEndsTheRunEarly) {
  TempDir dir;
  write(dir / "abort.json", R"({"name": "abort", "duration": "10m", "sample_interval": "100ms",
    "server": {"max_connections": 6, "superuser_reserved_connections": 0},
    "expect": {"errors.53300": {"expr": "== 0", "abort_on_fail": true}},
    "processes": [{"name": "p", "workers": [{"pattern": "held_by_object", "count": 8}]}]})");
  const auto report_path = dir / "abort-report.json";
  const auto r = pgleak({"run", (dir / "abort.json").string(), "--report", report_path.string()});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("can no longer pass"), std::string::npos) << r.err;
  const auto report = read_json(report_path);
  EXPECT_EQ(report["run"]["status"], "aborted");
  EXPECT_LT(report["run"]["wall_s"].get<double>(), 60.0);  // not the scenario's ten minutes
  EXPECT_FALSE(report["verdict"]["pass"].get<bool>());
  // The report shows what was held when the run ended, before any worker let
  // go: the 5 (or 6: the sampler's slot may come last) sessions that got in.
  const int held = report["pools"][0]["held_at_end"].get<int>();
  EXPECT_GE(held, 5);
  EXPECT_LE(held, 6);
}

// --html without a path writes the page beside the JSON report; `report`
// renders reports already written and refuses what it cannot render.
TEST(Cli, HtmlBesideTheReportAndFromReportsWritten) {
  TempDir dir;
  write(dir / "small.json", R"({"name": "small", "duration": "1s", "sample_interval": "100ms",
    "processes": [{"name": "p", "workers": [{"pattern": "held_by_object", "count": 2}]}]})");
  const auto report_path = dir / "small-report.json";
  const auto r =
      pgleak({"run", (dir / "small.json").string(), "--report", report_path.string(), "--html"});
  EXPECT_EQ(r.code, 0) << r.err;
  const auto html_path = dir / "small-report.html";
  ASSERT_TRUE(fs::exists(html_path)) << r.out;
  EXPECT_NE(r.out.find("html: " + html_path.string()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("over time:"), std::string::npos) << r.out;  // the sparkline
  // Both sessions held for the run, as pgleak counted them.
  EXPECT_NE(r.out.find("sessions: at most 2 open at once on pgleak's side"), std::string::npos)
      << r.out;
  std::ifstream in{html_path};
  const std::string html{std::istreambuf_iterator<char>{in}, {}};
  EXPECT_NE(html.find("Content-Security-Policy"), std::string::npos);
  EXPECT_NE(html.find("Chart.js v3.9.1"), std::string::npos);  // embedded, banner kept
  EXPECT_NE(html.find("\"name\":\"small\""), std::string::npos);

  const auto both = dir / "both.html";
  auto rendered =
      pgleak({"report", report_path.string(), report_path.string(), "--html", both.string()});
  EXPECT_EQ(rendered.code, 0) << rendered.err;
  EXPECT_TRUE(fs::exists(both));
  // Not a report, not JSON, the page over its own input, no --html: exit 2.
  write(dir / "other.json", R"({"schema": "something-else/1"})");
  rendered = pgleak({"report", (dir / "other.json").string(), "--html", both.string()});
  EXPECT_EQ(rendered.code, 2);
  EXPECT_NE(rendered.err.find("is not a pgleak report"), std::string::npos) << rendered.err;
  write(dir / "shape.json", R"({"schema": "pgleak.report/1", "samples": [1, "x"],
    "scenario": {}, "summary": {}})");
  rendered = pgleak({"report", (dir / "shape.json").string(), "--html", both.string()});
  EXPECT_EQ(rendered.code, 2);
  EXPECT_NE(rendered.err.find("wrong shape"), std::string::npos) << rendered.err;
  write(dir / "broken.json", "{");
  rendered = pgleak({"report", (dir / "broken.json").string(), "--html", both.string()});
  EXPECT_EQ(rendered.code, 2);
  EXPECT_NE(rendered.err.find("is not JSON"), std::string::npos) << rendered.err;
  rendered = pgleak({"report", report_path.string(), "--html", report_path.string()});
  EXPECT_EQ(rendered.code, 2);
  EXPECT_NE(rendered.err.find("overwrite its own input"), std::string::npos) << rendered.err;
  EXPECT_EQ(pgleak({"report", report_path.string()}).code, 2);
  // --html the same file as the report is refused before anything runs.
  const auto same = pgleak({"run", (dir / "small.json").string(), "--report", report_path.string(),
                            "--html", report_path.string()});
  EXPECT_EQ(same.code, 2);
  EXPECT_NE(same.err.find("the same file"), std::string::npos) << same.err;
}

// On the thread engine, a scenario needing more threads than the user may
// start is refused up front with the numbers and the limits to raise, not an
// internal error halfway through starting the workers; the fiber engine
// runs the same 2,000 workers on a few threads under the same limit.
// (RLIMIT_NPROC does not bind root: the run is made as nobody.)
TEST(Cli, TooFewThreadsIsRefusedBeforeAnythingStarts) {
  if (::geteuid() != 0 || !fs::exists("/usr/bin/prlimit") || !fs::exists("/usr/bin/setpriv")) {
    GTEST_SKIP() << "needs root, prlimit and setpriv (util-linux) to run as nobody";
  }
  TempDir dir{0777};
  write(dir / "big.json", R"({"name": "big", "duration": "5s",
    "processes": [{"name": "p", "workers": [{"pattern": "scoped", "count": 2000}]}]})");
  fs::permissions(dir / "big.json", fs::perms::owner_read | fs::perms::owner_write |
                                        fs::perms::group_read | fs::perms::others_read);
  const auto as_nobody = [&](const char* engine, const fs::path& report) {
    return run_to_end({"/usr/bin/prlimit", "--nproc=300", "/usr/bin/setpriv", "--reuid=65534",
                       "--regid=65534", "--clear-groups", "--", kBinary, "run",
                       (dir / "big.json").string(), "--engine", engine, "--report",
                       report.string()});
  };
  const auto r = as_nobody("threads", dir / "r.json");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("needs 2016 threads"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ulimit -u"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "r.json"));
  EXPECT_EQ(r.err.find("embedded PostgreSQL"), std::string::npos) << r.err;  // none started

  const auto fibers = as_nobody("fibers", dir / "f.json");
  EXPECT_TRUE(fibers.code == 0 || fibers.code == 1) << fibers.err;  // a verdict, either way
  ASSERT_TRUE(fs::exists(dir / "f.json")) << fibers.err;
  EXPECT_EQ(fibers.err.find("could not start"), std::string::npos) << fibers.err;
  // The report says what ran the workers: 2,000 are more than four a core,
  // so one event-loop thread per core.
  const auto run = read_json(dir / "f.json").at("run");
  EXPECT_EQ(run.at("engine"), "fibers");
  EXPECT_EQ(run.at("engine_threads"),
            std::max(1, static_cast<int>(std::thread::hardware_concurrency())));
}

TEST(Cli, InvalidScenarioNeverStartsAServer) {
  const auto before = embedded_cluster_dirs();
  const auto r = pgleak({"run", kSource + "/tests/data/invalid/syntax.json"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("invalid JSON at line 1"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("embedded PostgreSQL"), std::string::npos);
  EXPECT_EQ(embedded_cluster_dirs(), before);
  EXPECT_EQ(pgleak({"run", "/no/such/file.json"}).code, 2);
}

TEST(Cli, IncidentBeforeHitsTheLimitAndFails) {
  TempDir dir;
  const auto report_path = dir / "before.json";
  const auto r = pgleak({"run", kSource + "/scenarios/incident-before.json", "--report",
                         report_path.string(), "--quiet", "--timeline", "none"});
  ASSERT_EQ(r.code, 1) << r.out << r.err;
  const auto report = read_json(report_path);
  EXPECT_TRUE(report["side_file"].is_null());
  EXPECT_EQ(r.out.find("timeline:"), std::string::npos) << r.out;
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator{dir.path()}, {}), 1);
  EXPECT_EQ(report["schema"], "pgleak.report/1");
  EXPECT_EQ(report["target"]["kind"], "embedded");
  EXPECT_EQ(report["target"]["max_connections"], 100);
  EXPECT_FALSE(report["verdict"]["pass"].get<bool>());
  const auto& summary = report["summary"];
  EXPECT_GT(summary["errors_by_sqlstate"]["53300"].get<int>(), 0);
  // The server saw the run reach its non-reserved limit: 97 for ordinary roles,
  // one of which is pgleak's own sampler. The run stops at the first refusal,
  // so the samples (every 100 ms) may miss the last connection that got in
  // before it: within one of 96.
  EXPECT_GE(summary["peak_connections"].get<int>(), 95);
  int idle_in_tx = 0;
  for (const auto& s : report["samples"]) {
    EXPECT_LE(s["own"].get<int>(), 97);
    if (s["by_state"].contains("idle in transaction")) {
      idle_in_tx = std::max(idle_in_tx, s["by_state"]["idle in transaction"].get<int>());
    }
  }
  EXPECT_GE(idle_in_tx, 10);  // the launchers' sessions outside their loops
  // Every refusal the clients saw is attributed to a process, replica, worker
  // and pattern, and marked as classified by pgleak from the refusal's text
  // (libpq gives no SQLSTATE at connect). The server logged them too, before
  // it knew who asked: those are unattributed, with the server's code.
  int refusals = 0;
  int logged = 0;
  for (const auto& e : report["events"]) {
    if (e["sqlstate"] == "53300" && e["kind"] == "server_log") {
      ++logged;
      EXPECT_EQ(e["code_source"], "server_log");
      EXPECT_TRUE(e["process"].is_null());
    } else if (e["sqlstate"] == "53300") {
      ++refusals;
      EXPECT_EQ(e["kind"], "connect_error");
      EXPECT_EQ(e["code_source"], "pgleak");
      EXPECT_FALSE(e["process"].is_null());
      EXPECT_FALSE(e["replica"].is_null());
      EXPECT_FALSE(e["worker"].is_null());
      EXPECT_FALSE(e["pattern"].is_null());
      const auto msg = e["message"].get<std::string>();
      EXPECT_TRUE(msg.find("too many clients") != std::string::npos ||
                  msg.find("reserved for") != std::string::npos)
          << msg;
    }
  }
  EXPECT_GT(refusals, 0);
  EXPECT_GT(logged, 0);
  // The server logged about as many refusals as the clients saw (one line
  // each; the last moment's can fall on either side of the end of the run).
  const int server_side = summary["server_errors_by_sqlstate"]["53300"].get<int>();
  const int client_side = summary["errors_by_sqlstate"]["53300"].get<int>();
  EXPECT_GE(server_side, client_side - 5);
  EXPECT_LE(server_side, client_side + 5);
  EXPECT_EQ(report["cleanup"]["leftover_backends_terminated"], 0);
  // It stops at the first refusal (abort_on_fail): the verdict is certain then.
  EXPECT_EQ(report["run"]["status"], "aborted");
  EXPECT_NE(report["run"]["status_detail"].get<std::string>().find("errors.53300"),
            std::string::npos);
  EXPECT_LT(report["run"]["wall_s"].get<double>(), 30.0);
  // Judged server_limit, with the held sessions as a leak finding beside it.
  const auto& verdict = report["verdict"];
  EXPECT_EQ(verdict["diagnosis"], "server_limit");
  ASSERT_GE(verdict["findings"].size(), 2u);
  EXPECT_EQ(verdict["findings"][1]["diagnosis"], "leak");
  // The sessions the launchers and Drivers opened more than leak_threshold
  // (1m nominal: 0.6 s) before the first refusal ended the run: read before
  // any worker let go (82 measured).
  EXPECT_GT(report["holders"].size(), 40u);
  for (const auto& t : verdict["thresholds"]) {
    if (t["metric"] == "errors.53300") {
      EXPECT_FALSE(t["pass"].get<bool>());
      EXPECT_EQ(t["actual"], summary["errors_by_sqlstate"]["53300"]);
    }
  }
  EXPECT_FALSE(report["budget"]["fits"].get<bool>());
  EXPECT_EQ(report["budget"]["worst_case"], 435);
}

TEST(Cli, IncidentAfterStaysFarBelowTheLimitAndPasses) {
  TempDir dir;
  const auto junit_path = dir / "junit.xml";
  // At half its compression (tune_test.cpp says why): at its own 0.01 a
  // pool_timeout is 100 ms, and the start's burst of connects on a busy
  // 2-core machine timed one out (once in a full run).
  const auto r =
      pgleak({"run", kSource + "/scenarios/incident-after.json", "--time-scale", "0.02", "--out",
              (dir / "results").string(), "--junit", junit_path.string(), "--quiet"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const auto at = r.out.find("report: ");
  ASSERT_NE(at, std::string::npos) << r.out;
  std::string path = r.out.substr(at + 8);
  path = path.substr(0, path.find('\n'));
  EXPECT_NE(path.find("incident-after-"), std::string::npos);
  const auto report = read_json(path);
  EXPECT_TRUE(report["verdict"]["pass"].get<bool>());
  EXPECT_EQ(report["verdict"]["diagnosis"], "healthy");
  EXPECT_EQ(report["verdict"]["thresholds"].size(), 5u);
  for (const auto& t : report["verdict"]["thresholds"]) {
    EXPECT_TRUE(t["pass"].get<bool>()) << t.dump();
  }
  EXPECT_TRUE(report["budget"]["fits"].get<bool>());
  EXPECT_TRUE(report["holders"].empty());
  // The full record streamed beside the report: every sample the report
  // counts, under the same run id, ended cleanly.
  const auto timeline = std::filesystem::path{path}.replace_extension(".timeline.jsonl.gz");
  EXPECT_NE(r.out.find("timeline: " + timeline.string()), std::string::npos) << r.out;
  const auto lines = test_support::timeline_lines(timeline);
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines.front()["type"], "header");
  EXPECT_EQ(lines.front()["run_id"], report["run"]["id"]);
  EXPECT_EQ(lines.back()["type"], "end");
  EXPECT_EQ(lines.back()["status"], "completed");
  const auto sample_lines = std::count_if(lines.begin(), lines.end(),
                                          [](const auto& l) { return l["type"] == "sample"; });
  EXPECT_EQ(sample_lines, report["sampler"]["samples"].get<long>());
  EXPECT_EQ(report["side_file"]["lines"].get<size_t>(), lines.size());
  EXPECT_EQ(report["side_file"]["dropped_lines"], 0);
  std::ifstream junit{junit_path};
  const std::string junit_text{std::istreambuf_iterator<char>{junit}, {}};
  EXPECT_NE(junit_text.find("<testsuite name=\"incident-after\" tests=\"5\" failures=\"0\""),
            std::string::npos)
      << junit_text;
  const auto& summary = report["summary"];
  EXPECT_FALSE(summary["errors_by_sqlstate"].contains("53300"));
  EXPECT_EQ(summary["pool_timeouts"], 0);
  EXPECT_LE(summary["peak_connections"].get<int>(), 5 * 8);  // far below 97
  EXPECT_GT(summary["checkouts"].get<int>(), 100);
  // A scoped unit is idle in transaction only for the instant between BEGIN and
  // its query (psycopg2 sends them apart too); it never accumulates. How many
  // a sample catches in that instant depends on the machine's load, so the
  // bound is on the mean: a leak of even one session would hold it at >= 1.
  double idle_in_tx = 0;
  for (const auto& s : report["samples"]) {
    idle_in_tx += s["by_state"].value("idle in transaction", 0);
  }
  ASSERT_FALSE(report["samples"].empty());
  EXPECT_LT(idle_in_tx / static_cast<double>(report["samples"].size()), 1.0);
  for (const auto& [app, n] : report["samples"].back()["by_application"].items()) {
    EXPECT_EQ(app.rfind("dispatching_api/", 0), 0u) << app;
  }
}

// With no reserved slots the server's refusal has the other 53300 text.
TEST(Cli, TooManyClientsWithoutReservedSlotsAndTimeScaleOverride) {
  TempDir dir;
  write(dir / "full.json", R"({"name": "full", "duration": "4s", "sample_interval": "100ms",
    "leak_threshold": "500ms",
    "server": {"max_connections": 6, "superuser_reserved_connections": 0},
    "processes": [{"name": "p", "workers": [{"pattern": "held_by_object", "count": 8,
                                              "think_time": "200ms"}]}]})");
  const auto report_path = dir / "full-report.json";
  const auto r = pgleak({"run", (dir / "full.json").string(), "--time-scale", "0.5", "--report",
                         report_path.string()});
  ASSERT_EQ(r.code, 1) << r.out << r.err;
  // Holders are reported as they cross leak_threshold (500ms x 0.5), and the
  // progress line is printed as plain lines when stderr is not a terminal.
  EXPECT_NE(r.err.find("holder: p.0 held_by_object."), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("s  connections 5/6"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("\033[K"), std::string::npos);
  const auto report = read_json(report_path);
  EXPECT_DOUBLE_EQ(report["scenario"]["time_scale"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(report["scenario"]["duration"]["nominal_s"].get<double>(), 4.0);
  EXPECT_DOUBLE_EQ(report["scenario"]["duration"]["applied_s"].get<double>(), 2.0);
  bool too_many = false;
  for (const auto& e : report["events"]) {
    if (e["sqlstate"] == "53300" && e["message"].get<std::string>().find(
                                        "sorry, too many clients already") != std::string::npos) {
      too_many = true;
    }
  }
  EXPECT_TRUE(too_many);
  // Six slots, one of them the sampler's: five workers hold, three are refused.
  EXPECT_EQ(report["summary"]["peak_connections"], 5);
}

// Production values (idle_in_transaction_session_timeout 60s, 90s between uses)
// at time_scale 0.01: the server ends each session with FATAL 25P03, which the
// client never sees as such; the server log ties it to the worker that held it.
TEST(Cli, TimeCompressedIdleTimeoutIsAttributedFromTheServerLog) {
  TempDir dir;
  const auto report_path = dir / "iit.json";
  const auto r = pgleak({"run", kSource + "/scenarios/patterns/idle_in_transaction.json",
                         "--report", report_path.string(), "--quiet"});
  ASSERT_TRUE(r.code == 0 || r.code == 1) << r.err;
  const auto report = read_json(report_path);
  const auto& timeout =
      report["scenario"]["pool"]["connect"]["idle_in_transaction_session_timeout"];
  EXPECT_DOUBLE_EQ(timeout["nominal_s"].get<double>(), 60.0);
  EXPECT_DOUBLE_EQ(timeout["applied_s"].get<double>(), 0.6);
  EXPECT_TRUE(report["server_log"]["available"].get<bool>());
  EXPECT_GE(report["summary"]["server_errors_by_sqlstate"]["25P03"].get<int>(), 2);
  EXPECT_FALSE(report["summary"]["errors_by_sqlstate"].contains("25P03"))
      << "libpq reports a lost connection, not the FATAL's code";
  int attributed = 0;
  for (const auto& e : report["events"]) {
    if (e["kind"] == "server_log" && e["sqlstate"] == "25P03") {
      EXPECT_EQ(e["process"], "worker");
      EXPECT_EQ(e["pattern"], "idle_in_transaction");
      const auto worker = e["worker"].get<std::string>();
      EXPECT_TRUE(worker == "job.0" || worker == "job.1") << worker;
      ++attributed;
    }
  }
  EXPECT_GE(attributed, 2);
}

TEST(Cli, SigtermMidRunLeavesNoBackendAndNoCluster) {
  TempDir dir;
  write(dir / "long.json", R"({"name": "long", "duration": "10m", "sample_interval": "100ms",
    "processes": [{"name": "p", "workers": [{"pattern": "outside_loop", "count": 5, "think_time": "100ms"}]}]})");
  const auto report_path = dir / "long-report.json";
  Subprocess p{{kBinary, "run", (dir / "long.json").string(), "--report", report_path.string()}};
  ASSERT_TRUE(p.wait_for_stderr("run id", 60s)) << p.err();
  const auto err = p.err();
  const auto open = err.find("(/");
  ASSERT_NE(open, std::string::npos) << err;
  const auto cluster_dir = err.substr(open + 1, err.find(')', open) - open - 1);
  ASSERT_TRUE(fs::exists(cluster_dir));
  EXPECT_GT(processes_mentioning(cluster_dir), 0);  // the server is up
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(), 128 + SIGTERM) << p.err();
  EXPECT_FALSE(fs::exists(cluster_dir)) << cluster_dir;
  EXPECT_EQ(processes_mentioning(cluster_dir), 0);
  const auto report = read_json(report_path);
  EXPECT_EQ(report["run"]["status"], "interrupted");
  EXPECT_GT(report["samples"].size(), 0u);
}

TEST(Cli, ServerGoneMidRunExitsThreeAndCleansUp) {
  TempDir dir;
  write(dir / "long.json", R"({"name": "long", "duration": "10m", "sample_interval": "100ms",
    "processes": [{"name": "p", "workers": [{"pattern": "outside_loop", "count": 3}]}]})");
  const auto report_path = dir / "gone.json";
  Subprocess p{{kBinary, "run", (dir / "long.json").string(), "--report", report_path.string()}};
  ASSERT_TRUE(p.wait_for_stderr("run id", 60s)) << p.err();
  const auto err = p.err();
  const auto open = err.find("(/");
  const auto cluster_dir = err.substr(open + 1, err.find(')', open) - open - 1);
  std::ifstream pidfile{fs::path{cluster_dir} / "pg" / "data" / "postmaster.pid"};
  pid_t postmaster = 0;
  ASSERT_TRUE(pidfile >> postmaster);
  ASSERT_EQ(kill(postmaster, SIGKILL), 0);
  EXPECT_EQ(p.wait(), 3) << p.err();
  EXPECT_NE(p.err().find("unreachable"), std::string::npos) << p.err();
  EXPECT_FALSE(fs::exists(cluster_dir));
  EXPECT_EQ(processes_mentioning(cluster_dir), 0);
  const auto report = read_json(report_path);
  EXPECT_EQ(report["run"]["status"], "target_lost");
  EXPECT_FALSE(report["verdict"]["pass"].get<bool>());
}

TEST(Cli, MonitorShowsIdleTransactionsAndWarnsPastTheLimit) {
  server::EmbeddedServerOptions options;
  options.max_connections = 13;  // 10 for ordinary roles
  auto server = server::EmbeddedServer::start(options);
  auto app = server->app_conninfo();
  app.set("application_name", "forgot_commit");
  std::vector<std::unique_ptr<pqxx::connection>> sessions;
  for (int i = 0; i < 3; ++i) {
    sessions.push_back(std::make_unique<pqxx::connection>(app.to_libpq()));
    pqxx::nontransaction tx{*sessions.back()};
    tx.exec("BEGIN");
    tx.exec("SELECT 1");
  }
  const auto dsn =
      "postgresql://pgleak_app:secretpw@127.0.0.1:" + std::to_string(server->port()) + "/postgres";
  const auto r = pgleak({"monitor", "--dsn", dsn, "--json"});
  EXPECT_EQ(r.code, 0) << r.err;  // 3 of 10: under the default 80 %
  const auto j = json::parse(r.out);
  EXPECT_EQ(j["limit"], 10);
  EXPECT_EQ(j["total"], 3);
  ASSERT_EQ(j["longest_idle_in_transaction"].size(), 3u);
  EXPECT_EQ(j["longest_idle_in_transaction"][0]["application_name"], "forgot_commit");
  EXPECT_EQ(j["oldest_transactions"].size(), 3u);
  EXPECT_EQ(r.out.find("secretpw"), std::string::npos);

  const auto warned = pgleak({"monitor", "--dsn", dsn, "--warn-at", "25"});
  EXPECT_EQ(warned.code, 1);  // 30 % >= 25 %
  EXPECT_NE(warned.out.find("WARNING"), std::string::npos) << warned.out;
  EXPECT_NE(warned.out.find("forgot_commit"), std::string::npos);

  const auto watched =
      pgleak({"monitor", "--dsn", dsn, "--watch", "50ms", "--count", "3", "--json"});
  EXPECT_EQ(watched.code, 0);
  EXPECT_EQ(std::count(watched.out.begin(), watched.out.end(), '\n'), 3);  // one document each

  EXPECT_EQ(pgleak({"monitor", "--dsn", "postgresql://u:pw@127.0.0.1:1/x"}).code, 3);
}

TEST(Cli, ExternalDsnNeverShowsThePasswordAndLeavesNothingBehind) {
  server::EmbeddedServerOptions options;
  options.max_connections = 30;
  auto server = server::EmbeddedServer::start(options);
  TempDir dir;
  write(dir / "small.json", R"({"name": "small", "duration": "1s", "sample_interval": "100ms",
    "processes": [{"name": "p", "workers": [{"pattern": "held_by_object", "count": 3}]}]})");
  const std::string secret = "Sup3rSecretPw";
  const auto dsn = "postgresql://pgleak_app:" + secret +
                   "@127.0.0.1:" + std::to_string(server->port()) + "/postgres";
  const auto report_path = dir / "r.json";
  const auto r = pgleak(
      {"run", (dir / "small.json").string(), "--dsn", dsn, "--report", report_path.string()});
  EXPECT_EQ(r.code, 0) << r.err;
  std::ifstream in{report_path};
  const std::string report_text{std::istreambuf_iterator<char>{in}, {}};
  EXPECT_EQ(r.out.find(secret), std::string::npos);
  EXPECT_EQ(r.err.find(secret), std::string::npos);
  EXPECT_EQ(report_text.find(secret), std::string::npos);
  const auto report = json::parse(report_text);
  EXPECT_EQ(report["target"]["kind"], "external");
  EXPECT_NE(report["target"]["dsn"].get<std::string>().find("********"), std::string::npos);
  EXPECT_EQ(report["target"]["max_connections"], 30);  // read, not changed
  EXPECT_EQ(report["summary"]["peak_connections"], 3);

  // A backend leaves pg_stat_activity a moment after its client closed (its
  // process exits asynchronously; under load, later): wait for the last of
  // the run's, pgleak's own sessions included, for a bounded time.
  pqxx::connection admin{server->superuser_conninfo().to_libpq()};
  int left = -1;
  for (const auto deadline = std::chrono::steady_clock::now() + 10s;
       std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(20ms)) {
    pqxx::nontransaction tx{admin};
    left =
        tx.exec1("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pgleak%'")[0]
            .as<int>();
    if (left == 0) {
      break;
    }
  }
  EXPECT_EQ(left, 0);

  // Unreachable target: exit 3, and the password is not in the message either.
  const auto down = pgleak({"run", (dir / "small.json").string(), "--dsn",
                            "postgresql://u:" + secret + "@127.0.0.1:1/postgres"});
  EXPECT_EQ(down.code, 3);
  EXPECT_EQ(down.err.find(secret), std::string::npos) << down.err;
}

// A stack of the user's own: --dsn through their PgBouncer, its admin console
// read with --pgbouncer-admin, the server's jsonlog followed with
// --server-log. pgleak changes none of them, samples every layer, counts only
// its own backends' log lines, and leaves nothing behind.
TEST(Cli, AStackOfYourOwnThroughPgBouncerWithItsConsoleAndTheServersLog) {
  if (!std::filesystem::exists("/usr/sbin/pgbouncer")) {
    GTEST_SKIP() << "Debian's pgbouncer is not installed";
  }
  server::EmbeddedServerOptions options;
  options.max_connections = 40;
  auto server = server::EmbeddedServer::start(options);
  const auto settings = scenario::parse(R"({"name": "b", "duration": "1s",
      "pgbouncer": {"pool_mode": "transaction", "default_pool_size": 2},
      "processes": [{"name": "p", "workers": [{"pattern": "scoped"}]}]})",
                                        "b.json", workload::PatternRegistry::builtin().catalog());
  auto bouncer = server::EmbeddedPgBouncer::start(*server, *settings.pgbouncer);
  // Someone else's error in the server's log before the run: never counted.
  {
    pqxx::connection other{server->superuser_conninfo().to_libpq()};
    pqxx::nontransaction tx{other};
    EXPECT_THROW(tx.exec("SELECT 1/0"), pqxx::sql_error);
  }
  TempDir dir;
  write(dir / "mine.json", R"({"name": "mine", "duration": "1500ms", "sample_interval": "100ms",
    "processes": [{"name": "p", "pool": {"pool_size": 4, "max_overflow": 0},
      "workers": [{"pattern": "scoped", "count": 4, "think_time": "20ms"},
                  {"pattern": "slow_statement", "count": 1, "think_time": "50ms",
                   "query": "SELECT 1/0"}]}]})");
  const auto report_path = dir / "r.json";
  const auto r =
      pgleak({"run", (dir / "mine.json").string(), "--dsn", bouncer->app_conninfo().to_libpq(),
              "--pgbouncer-admin", bouncer->admin_conninfo().to_libpq(), "--server-log",
              server->json_log_path().string(), "--report", report_path.string(), "--quiet"});
  ASSERT_LE(r.code, 1) << r.err;  // the division by zero may judge it; it must run
  const auto report = read_json(report_path);
  EXPECT_EQ(report["target"]["kind"], "external");
  EXPECT_EQ(report["target"]["pgbouncer"]["kind"], "external");
  EXPECT_TRUE(report["server_log"]["available"].get<bool>());
  int with_pgbouncer = 0;
  int most_servers = 0;
  for (const auto& s : report["samples"]) {
    if (s.contains("pgbouncer")) {
      ++with_pgbouncer;
      const auto& b = s["pgbouncer"];
      most_servers = std::max(most_servers, b["sv_active"].get<int>() + b["sv_idle"].get<int>() +
                                                b["sv_used"].get<int>());
    }
  }
  EXPECT_EQ(with_pgbouncer, static_cast<int>(report["samples"].size()));
  EXPECT_GE(most_servers, 1);
  EXPECT_LE(most_servers, 2);  // default_pool_size, whatever the 5 workers wanted
  // The server logged the run's own 22012s (the last may fall either side of
  // the run's end); the one before the run is not among them.
  const auto& server_side = report["summary"]["server_errors_by_sqlstate"];
  const auto& client_side = report["summary"]["errors_by_sqlstate"];
  ASSERT_TRUE(client_side.contains("22012")) << report["summary"].dump();
  ASSERT_TRUE(server_side.contains("22012")) << report["summary"].dump();
  EXPECT_LE(server_side["22012"].get<int>(), client_side["22012"].get<int>());
  EXPECT_GE(server_side["22012"].get<int>(), client_side["22012"].get<int>() - 2);
  for (const auto& e : report["events"]) {
    if (e["kind"] == "server_log") {
      EXPECT_FALSE(e["process"].is_null()) << e.dump();  // tied to the run's backends only
    }
  }
  // PgBouncer's server connections are its own: pgleak ends none of them.
  EXPECT_EQ(report["cleanup"]["leftover_backends_terminated"], 0);
  EXPECT_FALSE(report["cleanup"]["note"].is_null());
  EXPECT_GT(bouncer->pid(), 0);  // still running, as it was
  // Usage: these flags belong to a target of your own.
  for (const char* flag : {"--pgbouncer-admin", "--server-log"}) {
    const auto bad = pgleak({"run", (dir / "mine.json").string(), flag, "x"});
    EXPECT_EQ(bad.code, 2) << flag;
    EXPECT_NE(bad.err.find("give --dsn too"), std::string::npos) << bad.err;
  }
  const auto missing_log =
      pgleak({"run", (dir / "mine.json").string(), "--dsn", bouncer->app_conninfo().to_libpq(),
              "--server-log", (dir / "nope.json").string()});
  EXPECT_EQ(missing_log.code, 2);
  EXPECT_NE(missing_log.err.find("nope.json"), std::string::npos) << missing_log.err;
}

}  // namespace
}  // namespace pgleak::testing

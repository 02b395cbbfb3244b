// A capture (pgleak monitor --record) written and read back, and what
// diagnose makes of synthetic ones: no server needed.
#include "capture/capture.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "../scratch_dir.hpp"
#include "analysis/diagnosis.hpp"
#include "analysis/starter_scenario.hpp"
#include "capture/capture_file.hpp"
#include "probe/capture_recorder.hpp"
#include "record/record_json.hpp"
#include "scenario/loader.hpp"
#include "util/errors.hpp"
#include "util/files.hpp"
#include "util/gzip_file.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::capture {
namespace {

constexpr double kStart = 1'800'000'000;

Backend backend(int pid, const std::string& app, const std::string& state, double started,
                double xact = 0) {
  Backend b;
  b.pid = pid;
  b.application = app;
  b.user = "app";
  b.client = "10.0.0.7";
  b.backend_start = kStart + started;
  b.xact_start = xact > 0 ? kStart + xact : 0;
  b.state = state;
  b.state_change = kStart + started;
  b.fingerprint = fingerprint(normalize_query("SELECT 1"));
  return b;
}

CaptureHeader header() {
  CaptureHeader h;
  h.server.server_version = "15.5";
  h.server.max_connections = 20;
  h.server.superuser_reserved_connections = 3;
  h.server.role_connection_limits["app"] = 10;
  h.started_at_unix = kStart;
  h.interval_s = 1;
  return h;
}

std::vector<Snapshot> read_back(const std::string& path, CaptureRead* read = nullptr) {
  std::vector<Snapshot> out;
  const auto r = read_capture(path, util::read_regular_file(path, kMaxCaptureBytes),
                              [&](const CaptureHeader&, const Snapshot& s) { out.push_back(s); });
  if (read != nullptr) {
    *read = r;
  }
  return out;
}

TEST(Capture, AQueryNormalisesWithoutItsValues) {
  const auto a = normalize_query("SELECT *  FROM t\n WHERE id = 42 AND name = 'O''Brien'");
  EXPECT_EQ(a, "select * from t where id = ? and name = ?");
  EXPECT_EQ(fingerprint(a),
            fingerprint(normalize_query("select * from t where id = 7 and name = 'x'")));
  EXPECT_EQ(normalize_query("SELECT \"Col1\", x2 FROM t LIMIT 10"),
            "select \"Col1\", x2 from t limit ?");
  EXPECT_NE(fingerprint("select ?"), fingerprint("select ? from t"));
  EXPECT_EQ(fingerprint(""), "");
  EXPECT_EQ(fingerprint("select ?").size(), 16u);
}

TEST(Capture, WhatIsWrittenIsReadBackWholeFromDeltas) {
  const testing::ScratchDir dir;
  const auto path = (dir.path() / "c.gz").string();
  {
    CaptureWriter w{path, header()};
    Snapshot s1{0, kStart, {backend(10, "api", "idle", -5), backend(11, "billing", "active", -3)}};
    Snapshot s2{
        1,
        kStart + 1,
        {backend(10, "api", "idle", -5), backend(11, "billing", "idle in transaction", -3, 0.5)}};
    Snapshot s3{2, kStart + 2, {backend(11, "billing", "idle in transaction", -3, 0.5)}};
    for (const auto& s : {s1, s2, s3}) {
      w.add(s);
    }
    const auto status = w.close("duration");
    EXPECT_TRUE(status.error.empty()) << status.error;
  }
  CaptureRead read;
  const auto back = read_back(path, &read);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_FALSE(read.cut);
  EXPECT_EQ(read.header.server.max_connections, 20);
  EXPECT_EQ(read.header.server.role_connection_limits.at("app"), 10);
  ASSERT_EQ(back[1].backends.size(), 2u);
  EXPECT_EQ(back[1].backends[1].state, "idle in transaction");
  EXPECT_DOUBLE_EQ(back[1].backends[1].xact_start, kStart + 0.5);
  EXPECT_DOUBLE_EQ(back[1].backends[0].backend_start, kStart - 5);
  ASSERT_EQ(back[2].backends.size(), 1u);  // pid 10 went
  EXPECT_EQ(back[2].backends[0].pid, 11);
  EXPECT_EQ(back[2].backends[0].application, "billing");
  EXPECT_EQ(back[2].backends[0].query, "");  // no text without --with-query-text
}

TEST(Capture, AnUnchangedBackendCostsNothingAfterItsFirstRow) {
  const testing::ScratchDir dir;
  const auto path = (dir.path() / "c.gz").string();
  CaptureWriter w{path, header()};
  Snapshot s{0, kStart, {}};
  for (int pid = 1; pid <= 1000; ++pid) {
    s.backends.push_back(backend(pid, "idle-app", "idle", -60));
  }
  for (int i = 0; i < 200; ++i) {
    s.t_s = i;
    w.add(s);
  }
  const auto status = w.close("duration");
  // 1,000 idle backends for 200 samples: their rows once (and in each of
  // the full snapshots), not 200,000 times.
  EXPECT_LT(status.compressed_bytes, 60'000u);
  CaptureRead read;
  const auto back = read_back(path, &read);
  ASSERT_EQ(back.size(), 200u);
  EXPECT_EQ(back.back().backends.size(), 1000u);
}

TEST(Capture, ACaptureCutShortIsReadUpToWhereItWasCut) {
  const testing::ScratchDir dir;
  const auto path = (dir.path() / "c.gz").string();
  {
    CaptureWriter w{path, header()};
    for (int i = 0; i < 50; ++i) {
      w.add({static_cast<double>(i), kStart + i, {backend(1, "a", i % 2 ? "idle" : "active", 0)}});
    }
    // Destroyed without close(): no end line, as when the recorder is stopped
    // by anything but its own end.
  }
  CaptureRead read;
  EXPECT_EQ(read_back(path, &read).size(), 50u);
  EXPECT_TRUE(read.cut);
  // The bytes of a file killed mid-write: a prefix of the stream.
  const auto bytes = util::read_regular_file(path, kMaxCaptureBytes);
  uint64_t seen = 0;
  const auto cut = read_capture(path, bytes.substr(0, bytes.size() * 2 / 3),
                                [&](const CaptureHeader&, const Snapshot&) { ++seen; });
  EXPECT_TRUE(cut.cut);
  EXPECT_LT(seen, 50u);
}

TEST(Capture, WhatPgleakDidNotWriteIsRefusedNamingTheFile) {
  const testing::ScratchDir dir;
  const auto plain = (dir.path() / "plain.json").string();
  std::ofstream{plain} << "{}";
  try {
    read_back(plain);
    FAIL() << "a plain file was read";
  } catch (const util::UsageError& e) {
    EXPECT_NE(std::string{e.what()}.find(plain), std::string::npos);
    EXPECT_NE(std::string{e.what()}.find("not a capture"), std::string::npos);
  }
  // A timeline (another pgleak gzip) is not a capture either.
  const auto timeline = (dir.path() / "t.gz").string();
  {
    record::SideFile f{timeline, {{"run_id", "abc"}}};
    f.close({});
  }
  EXPECT_THROW(read_back(timeline), util::UsageError);
}

TEST(Capture, AHugeTimeIsRefusedNotConverted) {
  // fuzz/run.sh capture sent 1.9e58 where pgleak writes whole milliseconds
  // (and pids): refused, never converted to an integer it does not fit.
  const testing::ScratchDir dir;
  const auto path = (dir.path() / "c.gz").string();
  {
    util::GzipFile f{path};
    f.write(record::json_line({{"schema", kCaptureSchema},
                               {"started_at_unix", 1.8e9},
                               {"interval_s", 1},
                               {"with_query_text", false},
                               {"server",
                                {{"server_version", "15"},
                                 {"max_connections", 100},
                                 {"superuser_reserved_connections", 3},
                                 {"role_connection_limits", nlohmann::json::object()},
                                 {"database_connection_limits", nlohmann::json::object()}}}},
                              "header"));
    f.write(record::json_line({{"pid", 1},
                               {"application", "a"},
                               {"user", "u"},
                               {"client", ""},
                               {"backend_start", 1.88889e58}},
                              "backend"));
    f.close();
  }
  try {
    read_back(path);
    FAIL() << "a time of 1.9e58 ms was read";
  } catch (const util::UsageError& e) {
    EXPECT_NE(std::string{e.what()}.find("line 2"), std::string::npos) << e.what();
    EXPECT_NE(std::string{e.what()}.find("out of range"), std::string::npos) << e.what();
  }
}

// Three applications as the incident had them: one holding sessions idle in
// transaction, one started three times with a pool each, one healthy.
std::vector<Snapshot> incident_like() {
  std::vector<Snapshot> out;
  for (int i = 0; i < 20; ++i) {
    Snapshot s{static_cast<double>(i), kStart + i, {}};
    for (int pid = 1; pid <= 3; ++pid) {  // held since 0.5 s
      s.backends.push_back(backend(pid, "billing", "idle in transaction", -1, 0.5));
    }
    for (int group = 0; group < 3; ++group) {  // three processes, two each, 2 s apart
      for (int k = 0; k < 2; ++k) {
        s.backends.push_back(backend(10 + group * 2 + k, "router", "idle", -10 + group * 2.0));
      }
    }
    auto api = backend(30, "api", i % 3 ? "idle" : "active", -1);
    api.state_change = kStart + i;  // a short statement each time it is active
    s.backends.push_back(api);
    out.push_back(std::move(s));
  }
  return out;
}

TEST(CaptureDiagnosis, NamesEachApplicationsLeakAndTheHealthyOne) {
  analysis::DiagnosisBuilder builder;
  for (const auto& s : incident_like()) {
    builder.add(header(), s);
  }
  CaptureRead read;
  read.header = header();
  read.snapshots = 20;
  const auto d = builder.finish(read);
  ASSERT_EQ(d.apps.size(), 3u);
  std::map<std::string, const analysis::AppDiagnosis*> by_name;
  for (const auto& a : d.apps) {
    by_name[a.application] = &a;
  }
  const auto& billing = *by_name.at("billing");
  ASSERT_EQ(billing.findings.size(), 1u);
  EXPECT_EQ(billing.findings[0].kind, analysis::AppFindingKind::kHeldWithoutCommit);
  EXPECT_EQ(billing.held.size(), 3u);
  EXPECT_NEAR(billing.held[0].age_s, 18.5, 0.01);  // seen last at 19 s, begun at 0.5 s
  const auto& router = *by_name.at("router");
  ASSERT_EQ(router.findings.size(), 1u);
  EXPECT_EQ(router.findings[0].kind, analysis::AppFindingKind::kDuplicateProcesses);
  EXPECT_EQ(router.start_groups, 3);
  EXPECT_EQ(router.group_size, 2);
  EXPECT_DOUBLE_EQ(router.group_gap_s, 2.0);
  EXPECT_TRUE(by_name.at("api")->healthy());
  EXPECT_EQ(d.peak_total, 10);
  EXPECT_EQ(d.limit, 17);
  EXPECT_EQ(d.snapshots_full, 0u);

  // Its starter scenario is a valid scenario with a process per application.
  const auto starter = analysis::starter_scenario(d, "diagnosed");
  const auto sc = scenario::parse(starter.scenario.dump(), "starter.json",
                                  workload::PatternRegistry::builtin().catalog());
  ASSERT_EQ(sc.processes.size(), 3u);
  EXPECT_EQ(starter.process_of.at("router"), "router");
  // The replay starts the three routers 2 s apart and then lasts the
  // capture's 19 s: they were all open before the capture began.
  EXPECT_EQ(sc.duration.nominal, std::chrono::seconds{23});
  for (const auto& p : sc.processes) {
    if (p.name == "router") {
      EXPECT_EQ(p.replicas, 3);
      EXPECT_EQ(p.start_interval.nominal, std::chrono::seconds{2});
      EXPECT_EQ(p.pool.pool_size, 2);
    } else if (p.name == "billing") {
      EXPECT_EQ(p.pool.pool_size, 3);
      EXPECT_EQ(p.workers.at(0).pattern, "outside_loop");
    }
  }
  EXPECT_EQ(sc.server.max_connections, 20);
}

TEST(Capture, TheServerLogsErrorsAreKeptAndToldApart) {
  // 2026-12-04 10:00:05 UTC, five seconds after a capture began.
  const double start = 1796378400;
  const auto line = [](const std::string& severity, const std::string& state,
                       const std::string& app, const std::string& type) {
    return R"({"timestamp":"2026-12-04 10:00:05.250 UTC","error_severity":")" + severity +
           R"(","state_code":")" + state + R"(","message":"m","application_name":")" + app +
           R"(","user":"app","backend_type":")" + type + R"(","pid":4242})";
  };
  const auto kept =
      probe::capture_log_line(line("FATAL", "25P03", "billing", "client backend"), start);
  ASSERT_TRUE(kept.has_value());
  EXPECT_NEAR(kept->t_s, 5.25, 1e-3);
  EXPECT_EQ(kept->sqlstate, "25P03");
  EXPECT_EQ(kept->application, "billing");
  EXPECT_EQ(kept->pid, 4242);
  // The log's own chatter, other processes, and pgleak's own session: not kept.
  EXPECT_FALSE(probe::capture_log_line(line("LOG", "00000", "billing", "client backend"), start));
  EXPECT_FALSE(probe::capture_log_line(line("FATAL", "57P01", "", "autovacuum worker"), start));
  EXPECT_FALSE(
      probe::capture_log_line(line("ERROR", "57014", "pgleak-monitor", "client backend"), start));
  EXPECT_FALSE(probe::capture_log_line("not json", start));
}

TEST(CaptureDiagnosis, RefusalsNameWhoHeldTheSlotsAndEndedSessionsTheirApplication) {
  const testing::ScratchDir dir;
  const auto path = (dir.path() / "c.gz").string();
  {
    CaptureWriter w{path, header()};
    for (int i = 0; i < 10; ++i) {
      Snapshot s{static_cast<double>(i), kStart + i, {}};
      for (int pid = 1; pid <= 4; ++pid) {
        s.backends.push_back(backend(pid, "billing", "idle in transaction", -1, 0.5));
      }
      s.backends.push_back(backend(9, "api", "idle", -1));
      w.add(s);
      if (i == 6) {
        w.add_log({6.5, "FATAL", "53300", "", "app", 77, "sorry, too many clients already"});
        w.add_log({6.6, "FATAL", "25P03", "", "app", 2, "terminating connection"});
      }
    }
    w.close("duration");
  }
  analysis::DiagnosisBuilder builder;
  uint64_t lines = 0;
  const auto read = read_capture(
      path, util::read_regular_file(path, kMaxCaptureBytes),
      [&](const CaptureHeader& h, const Snapshot& s) { builder.add(h, s); },
      [&](const LogLine& l) {
        ++lines;
        builder.add_log(l);
      });
  EXPECT_EQ(lines, 2u);
  const auto d = builder.finish(read);
  EXPECT_TRUE(d.server_log);
  EXPECT_EQ(d.refusals, 1u);
  EXPECT_DOUBLE_EQ(d.first_refusal_at_s, 6.5);
  EXPECT_EQ(d.held_at_first_refusal.at("billing"), 4);
  EXPECT_EQ(d.held_at_first_refusal.at("api"), 1);
  const auto& billing = d.apps.at(0);
  ASSERT_EQ(billing.application, "billing");
  EXPECT_EQ(billing.server_errors.at("25P03"), 1u);  // by its pid: the line had no name
  ASSERT_FALSE(billing.findings.empty());
  EXPECT_NE(billing.findings[0].evidence.find("the server ended 1"), std::string::npos)
      << billing.findings[0].evidence;
}

TEST(CaptureDiagnosis, ApplicationNamesBecomeUniqueIdentifiers) {
  std::map<std::string, int> taken;
  EXPECT_EQ(analysis::identifier_for("billing worker", taken), "billing-worker");
  EXPECT_EQ(analysis::identifier_for("billing/worker", taken), "billing-worker-2");
  EXPECT_EQ(analysis::identifier_for("", taken), "app-");
  EXPECT_EQ(analysis::identifier_for("10.0.0.7 app", taken), "app-10-0-0-7-app");
  EXPECT_LE(analysis::identifier_for(std::string(100, 'x'), taken).size(), 32u);
}

}  // namespace
}  // namespace pgleak::capture

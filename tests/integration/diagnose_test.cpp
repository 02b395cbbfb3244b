// From a live server to a reproduction: real SQLAlchemy applications (one
// leaking sessions idle in transaction, one duplicated in four processes,
// one healthy; tests/diagnose/fleet.py) recorded by `pgleak monitor
// --record`, named by `pgleak diagnose`, and replayed by `pgleak run` of the
// scenario diagnose wrote.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../scratch_dir.hpp"
#include "server/embedded_server.hpp"
#include "subprocess.hpp"

namespace pgleak::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

const std::string kBinary = PGLEAK_BINARY;
const std::string kFleet = std::string{PGLEAK_SOURCE_DIR} + "/tests/diagnose/fleet.py";
const std::string kPython = "/usr/bin/python3";

bool have_sqlalchemy() {
  Subprocess p{{kPython, "-c", "import sqlalchemy, psycopg2"}};
  return p.wait_for(60s) == 0;
}

json read_json(const fs::path& path) {
  std::ifstream in{path};
  return json::parse(in);
}

const json& app_named(const json& diagnosis, const std::string& name) {
  for (const auto& a : diagnosis.at("applications")) {
    if (a.at("application") == name) {
      return a;
    }
  }
  throw std::runtime_error("no application " + name + " in " + diagnosis.dump());
}

std::vector<std::string> kinds(const json& app) {
  std::vector<std::string> out;
  for (const auto& f : app.at("findings")) {
    out.push_back(f.at("kind").get<std::string>());
  }
  return out;
}

// The most connections a process held in any sample of a run's report.
int run_peak(const json& report, const std::string& process) {
  int peak = 0;
  for (const auto& s : report.at("samples")) {
    peak = std::max(peak, s.at("by_process").value(process, 0));
  }
  return peak;
}

TEST(Diagnose, ARecordedLeakIsNamedAndItsScenarioReproducesIt) {
  if (!fs::exists(kPython) || !have_sqlalchemy()) {
    GTEST_SKIP() << "python3-sqlalchemy and python3-psycopg2 are not installed "
                    "(scripts/setup.sh installs them)";
  }
  server::EmbeddedServerOptions options;
  options.max_connections = 60;
  const auto server = server::EmbeddedServer::start(options);
  const ScratchDir scratch;
  const auto& dir = scratch.path();
  const auto dsn = server->superuser_conninfo().to_libpq();

  Subprocess fleet{{kPython, kFleet, dsn}};
  ASSERT_TRUE(fleet.wait_for_stderr("ready", 120s)) << fleet.err();
  // Every application holds what it will hold: record 8 s of it.
  Subprocess record{{kBinary, "monitor", "--dsn", dsn, "--record", (dir / "cap.gz").string(),
                     "--for", "8s", "--interval", "250ms", "--server-log",
                     server->json_log_path().string()}};
  ASSERT_EQ(record.wait_for(120s), 0) << record.err();
  EXPECT_NE(record.out().find("recorded"), std::string::npos) << record.out();
  fleet.signal(SIGTERM);
  EXPECT_EQ(fleet.wait_for(60s), 0) << fleet.err();

  Subprocess diagnose{{kBinary, "diagnose", (dir / "cap.gz").string(), "--json", "--scenario",
                       (dir / "diagnosed.json").string()}};
  ASSERT_EQ(diagnose.wait_for(60s), 1) << diagnose.err();  // exit 1: something leaks
  const auto d = json::parse(diagnose.out());
  const auto& billing = app_named(d, "billing");
  const auto& router = app_named(d, "router");
  const auto& api = app_named(d, "api");
  EXPECT_EQ(kinds(billing), std::vector<std::string>{"held_without_commit"}) << billing.dump(2);
  EXPECT_EQ(billing.at("held_without_commit"), 6);
  EXPECT_EQ(kinds(router), std::vector<std::string>{"duplicate_processes"}) << router.dump(2);
  EXPECT_EQ(router.at("start_groups"), 4);
  EXPECT_EQ(router.at("group_size"), 3);
  EXPECT_EQ(router.at("peak"), 12);
  EXPECT_TRUE(api.at("healthy").get<bool>()) << api.dump(2);

  // The scenario diagnose wrote reproduces the leaking applications' counts
  // (within 20 %) and fails its verdict; the healthy one holds nothing.
  Subprocess run{{kBinary, "run", (dir / "diagnosed.json").string(), "--report",
                  (dir / "r.json").string(), "--quiet"}};
  EXPECT_EQ(run.wait_for(300s), 1) << run.err() << run.out();
  const auto report = read_json(dir / "r.json");
  EXPECT_EQ(report.at("verdict").at("pass"), false);
  for (const auto* app : {&billing, &router}) {
    const int captured = app->at("peak").get<int>();
    const int replayed = run_peak(report, app->at("process").get<std::string>());
    EXPECT_GE(replayed, captured * 0.8) << app->at("application");
    EXPECT_LE(replayed, captured * 1.2) << app->at("application");
  }
  const auto api_process = api.at("process").get<std::string>();
  for (const auto& h : report.at("holders")) {
    EXPECT_NE(h.at("process"), api_process) << h.dump();
  }
  EXPECT_GT(report.at("holders").size(), 0u);
}

}  // namespace
}  // namespace pgleak::testing

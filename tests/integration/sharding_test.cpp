// Sharded runs end to end: N real pgleak processes, one server, one merged
// report that must match the unsharded run of the same scenario, and every
// way a shard can fail to join or end early.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <thread>

#include "../scratch_dir.hpp"
#include "binary_suite.hpp"
#include "server/embedded_server.hpp"
#include "subprocess.hpp"

namespace pgleak::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

// One server for the suite, with the incident's settings: max_connections
// 100, 3 reserved, the workers' role an ordinary one.
class ShardServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      server::find_pg_bin_dir({});
    } catch (const std::exception& e) {
      GTEST_SKIP() << "no PostgreSQL server binaries here: " << e.what();
    }
    server_ = server::EmbeddedServer::start({});
  }
  static void TearDownTestSuite() { server_.reset(); }

  static std::string dsn() { return server_->app_conninfo().to_libpq(); }

  // Client backends of pgleak on the server: the workers' (tagged with a
  // run id), and pgleak's own sessions.
  static int pgleak_backends() {
    pqxx::connection conn{server_->superuser_conninfo().to_libpq()};
    pqxx::nontransaction tx{conn};
    return tx
        .exec1(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
            "AND pid <> pg_backend_pid() AND application_name LIKE '%/%'")[0]
        .as<int>();
  }
  // Waits (polling the server, up to 10 s) until no backend of pgleak's runs remains.
  static int backends_left() {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    int left = pgleak_backends();
    while (left > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(
          50ms);  // polling the server's state, not standing in for an event
      left = pgleak_backends();
    }
    return left;
  }

  static std::unique_ptr<Subprocess> start(std::vector<std::string> args) {
    args.insert(args.begin(), kBinary);
    return std::make_unique<Subprocess>(args);
  }

  // Runs shards 0..n-1 of `scenario` at once, as n processes, then merges them.
  static Finished run_sharded(const std::string& scenario, int n, const ScratchDir& dir,
                              const std::string& run_id, std::vector<Finished>* shards = nullptr,
                              const std::vector<std::string>& extra = {}) {
    std::vector<std::unique_ptr<Subprocess>> procs;
    for (int i = 0; i < n; ++i) {
      std::vector<std::string> argv{"run",
                                    scenario,
                                    "--shard",
                                    std::to_string(i) + "/" + std::to_string(n),
                                    "--run-id",
                                    run_id,
                                    "--dsn",
                                    dsn(),
                                    "--allow-exhaust",
                                    "--report",
                                    (dir / ("shard-" + std::to_string(i) + ".json")).string(),
                                    "--barrier-timeout",
                                    "60s"};
      argv.insert(argv.end(), extra.begin(), extra.end());
      procs.push_back(start(argv));
    }
    for (auto& p : procs) {
      const int code = p->wait_for(2min);
      if (shards != nullptr) {
        shards->push_back({code, p->out(), p->err(), 0});
      }
      EXPECT_EQ(code, 0) << p->err();
    }
    std::vector<std::string> args{kBinary, "merge"};
    for (int i = 0; i < n; ++i) {
      args.push_back((dir / ("shard-" + std::to_string(i) + ".json")).string());
    }
    args.insert(args.end(), {"--report", (dir / "merged.json").string()});
    return run_to_end(args);
  }

  static Finished run_unsharded(const std::string& scenario, const ScratchDir& dir,
                                const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv{kBinary,    "run",
                                  scenario,   "--dsn",
                                  dsn(),      "--allow-exhaust",
                                  "--report", (dir / "unsharded.json").string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_to_end(argv, {}, 2min);
  }

  static inline std::unique_ptr<server::EmbeddedServer> server_;
};

// What the equivalence holds to, for a merged and an unsharded report.
void expect_equivalent(const json& merged, const json& unsharded, int shards) {
  const auto& m = merged.at("summary");
  const auto& u = unsharded.at("summary");
  EXPECT_EQ(merged.at("verdict").at("pass"), unsharded.at("verdict").at("pass"));
  EXPECT_EQ(merged.at("verdict").at("diagnosis"), unsharded.at("verdict").at("diagnosis"));
  // Peak: the shards' sessions (one each) take slots the unsharded run's
  // workers could use when the server is full, and a sample may miss one.
  const int peak_m = m.at("peak_connections").get<int>();
  const int peak_u = u.at("peak_connections").get<int>();
  EXPECT_LE(std::abs(peak_m - peak_u), shards + 1)
      << "merged " << peak_m << ", unsharded " << peak_u;
  // Refusals and pool timeouts: both or neither, and of the same order.
  for (const char* metric : {"pool_timeouts"}) {
    const auto a = m.at(metric).get<int>();
    const auto b = u.at(metric).get<int>();
    EXPECT_EQ(a > 0, b > 0) << metric << ": merged " << a << ", unsharded " << b;
  }
  const auto refusals = [](const json& summary) {
    return summary.at("errors_by_sqlstate").value("53300", 0);
  };
  EXPECT_EQ(refusals(m) > 0, refusals(u) > 0)
      << "53300: merged " << refusals(m) << ", unsharded " << refusals(u);
  // Holders: the same leaks, held from the start; a quarter either way for
  // the end of the run, which each process reaches on its own.
  const int holders_m = m.at("holders").get<int>();
  const int holders_u = u.at("holders").get<int>();
  EXPECT_EQ(holders_m > 0, holders_u > 0);
  EXPECT_LE(std::abs(holders_m - holders_u), std::max(3, holders_u / 4))
      << "merged " << holders_m << ", unsharded " << holders_u;
  std::cout << "equivalence: peak " << peak_m << " vs " << peak_u << ", 53300 " << refusals(m)
            << " vs " << refusals(u) << ", pool timeouts " << m.at("pool_timeouts") << " vs "
            << u.at("pool_timeouts") << ", holders " << holders_m << " vs " << holders_u
            << ", start skew " << merged.at("merge").at("start_skew_ms") << " ms\n";
  // Every replica ran, once.
  EXPECT_EQ(merged.at("pools").size(), unsharded.at("pools").size());
  // And together: the shards started within a second of each other.
  const auto skew = merged.at("merge").at("start_skew_ms").get<int64_t>();
  EXPECT_GE(skew, 0);
  EXPECT_LE(skew, 1000);
}

TEST_F(ShardServer, IncidentBeforeShardedMatchesTheUnshardedRun) {
  ScratchDir dir;
  const auto scenario = kSource + "/scenarios/incident-before.json";
  const auto unsharded = run_unsharded(scenario, dir);
  ASSERT_EQ(unsharded.code, 1) << unsharded.err;
  ASSERT_EQ(backends_left(), 0);
  std::vector<Finished> shards;
  const auto merged = run_sharded(scenario, 3, dir, "before-equivalence", &shards);
  ASSERT_EQ(merged.code, 1) << merged.out << merged.err;  // the run's verdict: it fails
  EXPECT_NE(merged.out.find("merged 3 shards"), std::string::npos) << merged.out;
  const auto m = read_json(dir / "merged.json");
  const auto u = read_json(dir / "unsharded.json");
  expect_equivalent(m, u, 3);
  EXPECT_EQ(m.at("verdict").at("diagnosis"), "server_limit");
  // One shard's abort_on_fail stopped them all: each says so.
  EXPECT_EQ(m.at("run").at("status"), "aborted");
  for (int i = 0; i < 3; ++i) {
    const auto s = read_json(dir / ("shard-" + std::to_string(i) + ".json"));
    EXPECT_EQ(s.at("run").at("status"), "aborted") << i << ": " << s.at("run").dump();
    EXPECT_EQ(s.at("shard").at("samples_server"), i == 0);
  }
  EXPECT_EQ(backends_left(), 0);
}

TEST_F(ShardServer, IncidentAfterShardedMatchesTheUnshardedRun) {
  ScratchDir dir;
  const auto scenario = kSource + "/scenarios/incident-after.json";
  // At half its compression, as in cli_test.cpp: at 0.01 the start's burst
  // of connects once timed a checkout out (100 ms) in the unsharded run.
  const std::vector<std::string> gentler{"--time-scale", "0.02"};
  const auto unsharded = run_unsharded(scenario, dir, gentler);
  ASSERT_EQ(unsharded.code, 0) << unsharded.err;
  const auto merged = run_sharded(scenario, 3, dir, "after-equivalence", nullptr, gentler);
  ASSERT_EQ(merged.code, 0) << merged.out << merged.err;
  const auto m = read_json(dir / "merged.json");
  const auto u = read_json(dir / "unsharded.json");
  expect_equivalent(m, u, 3);
  EXPECT_EQ(m.at("run").at("status"), "completed");
  EXPECT_EQ(m.at("summary").at("pool_timeouts"), 0);
  // Far from the limit, the shards' sessions take nothing from the workers:
  // what is left is the run-to-run spread (14 to 17 measured, either way).
  EXPECT_LE(std::abs(m.at("summary").at("peak_connections").get<int>() -
                     u.at("summary").at("peak_connections").get<int>()),
            3);
  EXPECT_EQ(backends_left(), 0);
}

TEST_F(ShardServer, AShardAloneGivesUpAtTheBarrierTimeout) {
  ScratchDir dir;
  const auto r = run_to_end({kBinary, "run", kSource + "/scenarios/incident-after.json", "--shard",
                             "0/2", "--run-id", "alone", "--dsn", dsn(), "--barrier-timeout", "1s",
                             "--report", (dir / "r.json").string()});
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_NE(r.err.find("1 of 2 shards arrived within 1s"), std::string::npos) << r.err;
  EXPECT_GE(r.seconds, 1.0);
  EXPECT_LT(r.seconds, 30.0);
  EXPECT_FALSE(fs::exists(dir / "r.json"));
  EXPECT_EQ(backends_left(), 0);
}

// The shards meet where --barrier-dsn says (the server itself, behind a
// transaction-pooling PgBouncer), and its password is never shown.
TEST_F(ShardServer, TheBarrierIsWhereBarrierDsnSays) {
  ScratchDir dir;
  const auto r =
      run_to_end({kBinary, "run", kSource + "/scenarios/incident-after.json", "--shard", "0/2",
                  "--dsn", dsn(), "--barrier-dsn", "postgresql://pgleak:sekrit-pw@127.0.0.1:1/app",
                  "--report", (dir / "r.json").string()});
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_NE(r.err.find("the barrier on"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("port=1 "), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("sekrit-pw"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("sekrit-pw"), std::string::npos) << r.out;
  EXPECT_EQ(backends_left(), 0);
}

TEST_F(ShardServer, ShardsOfDifferentScenariosRefuseEachOther) {
  ScratchDir dir;
  const auto original = kSource + "/scenarios/incident-after.json";
  auto doc = read_json(original);
  doc["duration"] = "11m";
  std::ofstream{dir / "changed.json"} << doc.dump();
  auto a = start({"run", original, "--shard", "0/2", "--run-id", "mixed", "--dsn", dsn(),
                  "--barrier-timeout", "60s", "--report", (dir / "a.json").string()});
  ASSERT_TRUE(a->wait_for_stderr("waiting for all 2 shards", 30s)) << a->err();
  auto b =
      start({"run", (dir / "changed.json").string(), "--shard", "1/2", "--run-id", "mixed", "--dsn",
             dsn(), "--barrier-timeout", "60s", "--report", (dir / "b.json").string()});
  EXPECT_EQ(b->wait_for(30s), 3) << b->err();
  EXPECT_EQ(a->wait_for(30s), 3) << a->err();
  EXPECT_NE(b->err().find("different scenario"), std::string::npos) << b->err();
  EXPECT_NE(a->err().find("different scenario"), std::string::npos) << a->err();
  EXPECT_EQ(backends_left(), 0);
}

// Shards of one file started with different N (one pod template edited, the
// other not) meet, since N is not part of the default run id, and each names
// the mismatch at once instead of waiting out the barrier for shards that
// never come; a shared index (0/2 and 0/3) is not mistaken for a duplicate.
TEST_F(ShardServer, ShardsOfOneFileWithDifferentNRefuseEachOther) {
  ScratchDir dir;
  const auto scenario = kSource + "/scenarios/incident-after.json";
  auto a = start({"run", scenario, "--shard", "0/2", "--dsn", dsn(), "--barrier-timeout", "60s",
                  "--report", (dir / "a.json").string()});
  ASSERT_TRUE(a->wait_for_stderr("waiting for all 2 shards", 30s)) << a->err();
  auto b = start({"run", scenario, "--shard", "0/3", "--dsn", dsn(), "--barrier-timeout", "60s",
                  "--report", (dir / "b.json").string()});
  EXPECT_EQ(b->wait_for(30s), 3) << b->err();
  EXPECT_EQ(a->wait_for(30s), 3) << a->err();
  for (auto* p : {a.get(), b.get()}) {
    EXPECT_NE(p->err().find("different scenario or shard count"), std::string::npos) << p->err();
    EXPECT_EQ(p->err().find("already holds this shard's place"), std::string::npos) << p->err();
  }
  EXPECT_EQ(backends_left(), 0);
}

TEST_F(ShardServer, ASecondShardWithTheSameIndexIsRefusedAndASignalEndsTheWait) {
  ScratchDir dir;
  const auto scenario = kSource + "/scenarios/incident-after.json";
  auto first = start({"run", scenario, "--shard", "0/2", "--run-id", "twice", "--dsn", dsn(),
                      "--barrier-timeout", "60s", "--report", (dir / "a.json").string()});
  ASSERT_TRUE(first->wait_for_stderr("waiting for all 2 shards", 30s)) << first->err();
  const auto second =
      run_to_end({kBinary, "run", scenario, "--shard", "0/2", "--run-id", "twice", "--dsn", dsn(),
                  "--barrier-timeout", "60s", "--report", (dir / "b.json").string()});
  EXPECT_EQ(second.code, 3) << second.err;
  EXPECT_NE(second.err.find("already holds this shard's place"), std::string::npos) << second.err;
  first->signal(SIGTERM);
  EXPECT_EQ(first->wait_for(30s), 128 + SIGTERM) << first->err();
  const auto report = read_json(dir / "a.json");
  EXPECT_EQ(report.at("run").at("status"), "interrupted");
  EXPECT_EQ(backends_left(), 0);
}

// A pod deleted mid-run gets SIGTERM; one that is OOM-killed, SIGKILL. Either
// way the merge names the shard and how it ended, and still judges the rest.
TEST_F(ShardServer, AShardKilledMidRunIsReportedByTheMerge) {
  for (const int sig : {SIGTERM, SIGKILL}) {
    SCOPED_TRACE(sig == SIGTERM ? "SIGTERM" : "SIGKILL");
    ScratchDir dir;
    const auto scenario = kSource + "/scenarios/incident-after.json";
    const auto run_id = std::string{"killed-"} + std::to_string(sig);
    const auto shard = [&](int i) {
      return start({"run", scenario, "--shard", std::to_string(i) + "/2", "--run-id", run_id,
                    "--dsn", dsn(), "--barrier-timeout", "60s", "--report",
                    (dir / ("shard-" + std::to_string(i) + ".json")).string()});
    };
    auto s0 = shard(0);
    auto s1 = shard(1);
    ASSERT_TRUE(s1->wait_for_stderr("every shard arrived", 60s)) << s1->err();
    // A progress line: it is running, its pools open.
    ASSERT_TRUE(s1->wait_for_stderr("this shard's pools hold", 30s)) << s1->err();
    s1->signal(sig);
    EXPECT_EQ(s1->wait_for(30s), 128 + sig) << s1->err();
    EXPECT_EQ(s0->wait_for(2min), 0) << s0->err();
    const bool has_report = fs::exists(dir / "shard-1.json");
    EXPECT_EQ(has_report, sig == SIGTERM);
    const auto merged =
        run_to_end({kBinary, "merge", (dir / "shard-0.json").string(),
                    (dir / (has_report ? "shard-1.json" : "shard-1.timeline.jsonl.gz")).string(),
                    "--report", (dir / "merged.json").string()});
    EXPECT_EQ(merged.code, 1) << merged.out << merged.err;  // the run did not complete
    EXPECT_NE(merged.out.find("ended early: shard 1/2"), std::string::npos) << merged.out;
    const auto m = read_json(dir / "merged.json");
    const auto& entry = m.at("merge").at("shards").at(1);
    EXPECT_EQ(entry.at("ended_early"), true);
    EXPECT_EQ(entry.at("status"), sig == SIGTERM ? "interrupted" : "killed");
    EXPECT_EQ(m.at("merge").at("shards").at(0).at("status"), "completed");
    EXPECT_EQ(backends_left(), 0);
  }
}

TEST(ShardUsage, RefusesWhatCannotBeShardedBeforeAnythingStarts) {
  ScratchDir dir;
  const auto after = kSource + "/scenarios/incident-after.json";
  const auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {kBinary, "run", after});
    return run_to_end(args);
  };
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases{
      {{"--shard", "0/2"}, "give --dsn"},
      {{"--shard", "2/2", "--dsn", "postgresql://u@127.0.0.1:1/x"}, "from 0 to N-1"},
      {{"--shard", "0/6", "--dsn", "postgresql://u@127.0.0.1:1/x"}, "at most 5 shards"},
      {{"--run-id", "x", "--dsn", "postgresql://u@127.0.0.1:1/x"}, "give --shard"},
      {{"--barrier-dsn", "postgresql://u@127.0.0.1:1/x", "--dsn", "postgresql://u@127.0.0.1:1/x"},
       "give --shard"},
      {{"--shard", "0/2", "--run-id", "bad name!", "--dsn", "postgresql://u@127.0.0.1:1/x"},
       "--run-id"},
      {{"--shard", "0/2", "--barrier-timeout", "soon", "--dsn", "postgresql://u@127.0.0.1:1/x"},
       "--barrier-timeout"},
  };
  for (const auto& c : cases) {
    const auto r = run(c.args);
    EXPECT_EQ(r.code, 2) << c.says << ": " << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
  }
  const auto merge_self = run_to_end(
      {kBinary, "merge", (dir / "a.json").string(), "--report", (dir / "a.json").string()});
  EXPECT_EQ(merge_self.code, 2);
  EXPECT_NE(merge_self.err.find("its own input"), std::string::npos) << merge_self.err;
  const auto budget = run_to_end({kBinary, "budget", after, "--shards", "2"});
  EXPECT_EQ(budget.code, 0) << budget.err;
  EXPECT_NE(budget.out.find("as 2 shards"), std::string::npos) << budget.out;
  EXPECT_NE(budget.out.find("route_builder_launcher x1, super_agent x1, zip_code_filler x1"),
            std::string::npos)
      << budget.out;
}

}  // namespace
}  // namespace pgleak::testing

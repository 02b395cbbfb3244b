// The pool kinds against the libraries they model: each case runs once with
// the real library (HikariCP 2.7.9 with the PostgreSQL JDBC driver,
// tests/differential/pools/HikariCases.java; psycopg_pool 3.1,
// tests/differential/pools/psycopg_pool_cases.py) and once with pgleak's
// model of it (pool::make_pool over real libpq connections), on one server
// at the same settings, and the figures must agree: connections on the
// server after the start-up fill, the timeout's words and when it came, what
// a client sees of a connection killed while idle, a refused connect, idle
// shrink, lifetime, leak warnings. Timings agree within 50 ms (more where the
// library itself samples on a period). Skips, saying why, without the
// libraries.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <regex>
#include <thread>

#include "../scratch_dir.hpp"
#include "binary_suite.hpp"
#include "db/db_error.hpp"
#include "db/pg_connection.hpp"
#include "pool/make_pool.hpp"
#include "scenario/loader.hpp"
#include "server/embedded_server.hpp"
#include "subprocess.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kCases = std::string{PGLEAK_SOURCE_DIR} + "/tests/differential/pools/";
const std::string kPython = "/usr/bin/python3";
const std::string kJars =
    "/usr/share/java/HikariCP.jar:/usr/share/java/postgresql.jar:/usr/share/java/slf4j-api.jar";

bool succeeds(std::vector<std::string> argv) {
  Subprocess p{std::move(argv)};
  return p.wait_for(120s) == 0;
}

class PoolKinds : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new ScratchDir;
    have_psycopg_ = succeeds({kPython, "-c", "import psycopg, psycopg_pool"});
    have_hikari_ = fs::exists("/usr/share/java/HikariCP.jar") &&
                   fs::exists("/usr/share/java/postgresql.jar") &&
                   succeeds({"/usr/bin/javac", "-cp", kJars, "-d", scratch_->path().string(),
                             kCases + "HikariCases.java"});
    if (!have_psycopg_ && !have_hikari_) {
      return;
    }
    server::EmbeddedServerOptions options;
    options.max_connections = 40;
    server_ = server::EmbeddedServer::start(options).release();
    pqxx::connection admin{server_->superuser_conninfo().to_libpq()};
    pqxx::nontransaction tx{admin};
    tx.exec0("CREATE ROLE pgleak_refused LOGIN CONNECTION LIMIT 0");
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete scratch_;
    scratch_ = nullptr;
  }

  void need(bool have, const char* what) {
    if (server_ == nullptr || !have) {
      GTEST_SKIP() << what << " is not installed (scripts/setup.sh installs it)";
    }
  }

  static db::ConnInfo refused_conninfo() {
    auto info = server_->app_conninfo();
    info.set("user", "pgleak_refused");
    return info;
  }

  int backends(const std::string& app) {
    pqxx::connection admin{server_->superuser_conninfo().to_libpq()};
    pqxx::nontransaction tx{admin};
    return tx
        .exec1("SELECT count(*)::int FROM pg_stat_activity WHERE application_name = " +
               tx.quote(app))[0]
        .as<int>();
  }
  void terminate(int pid) {
    pqxx::connection admin{server_->superuser_conninfo().to_libpq()};
    pqxx::nontransaction tx{admin};
    tx.exec1("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
  }

  json psycopg(const std::string& c, const std::string& app, bool refused = false) {
    const auto dsn = (refused ? refused_conninfo() : server_->app_conninfo()).to_libpq();
    Subprocess p{{kPython, kCases + "psycopg_pool_cases.py", dsn,
                  server_->superuser_conninfo().to_libpq(), c, app}};
    EXPECT_EQ(p.wait_for(120s), 0) << p.err();
    return json::parse(p.out());
  }
  json hikari(const std::string& c, const std::string& app, bool refused = false) {
    const auto info = server_->app_conninfo();
    const auto url = "jdbc:postgresql://127.0.0.1:" + *info.get("port") + "/" + *info.get("dbname");
    const auto log = (scratch_->path() / (app + ".log")).string();
    Subprocess p{{"/usr/bin/java", "-cp",
                  scratch_->path().string() + ":" + kJars + ":/usr/share/java/slf4j-simple.jar",
                  "-Dcom.zaxxer.hikari.housekeeping.periodMs=250",
                  "-Dorg.slf4j.simpleLogger.logFile=" + log, "HikariCases", url,
                  refused ? "pgleak_refused" : *info.get("user"), url,
                  *server_->superuser_conninfo().get("user"), c, app, log}};
    EXPECT_EQ(p.wait_for(120s), 0) << p.err();
    return json::parse(p.out());
  }

  // The model of `kind` with these settings (as a scenario's "pool" object).
  struct Model {
    std::unique_ptr<db::PgConnectionFactory> factory;
    scenario::Scenario scenario;
    std::unique_ptr<pool::Pool> pool;
  };
  Model model(const json& pool_settings, const std::string& app, bool refused = false) {
    Model m;
    const json doc = {{"name", "pool-kinds"},
                      {"duration", "1s"},
                      {"pool", pool_settings},
                      {"processes", {{{"name", "p"}, {"workers", {{{"pattern", "scoped"}}}}}}}};
    m.scenario =
        scenario::parse(doc.dump(), "pool.json", workload::PatternRegistry::builtin().catalog());
    m.factory = std::make_unique<db::PgConnectionFactory>(
        refused ? refused_conninfo() : server_->app_conninfo(), db::SessionSettings{});
    m.pool = pool::make_pool(m.scenario.pool, 1.0, *m.factory);
    m.pool->begin_life(app, Clock::now());
    return m;
  }
  static pool::CheckoutRequest as(const std::string& app) { return {app, "w.0"}; }

  // Until `app` has `n` backends, for at most 5 s (a closed one exits a
  // moment after its client lets go).
  void settle(const std::string& app, int n) {
    for (int i = 0; i < 500 && backends(app) != n; ++i) {
      std::this_thread::sleep_for(10ms);
    }
  }

  static inline server::EmbeddedServer* server_ = nullptr;
  static inline ScratchDir* scratch_ = nullptr;
  static inline bool have_psycopg_ = false;
  static inline bool have_hikari_ = false;
};

// The number in "... after 517ms." (HikariCP), or -1.
int64_t millis_in(const std::string& message) {
  std::smatch m;
  return std::regex_search(message, m, std::regex{R"(after (\d+)ms)"}) ? std::stoll(m[1]) : -1;
}

TEST_F(PoolKinds, HikariFillsToMinimumIdleAtStart) {
  need(have_hikari_, "libhikaricp-java with a JDK");
  const auto real = hikari("fill", "hk-fill-real");
  auto m = model({{"kind", "hikaricp"}, {"maximumPoolSize", 4}}, "hk-fill-model");
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(real.at("backends"), 4);
  EXPECT_EQ(backends("hk-fill-model"), real.at("backends").get<int>());
}

TEST_F(PoolKinds, PsycopgFillsToMinSizeAtStart) {
  need(have_psycopg_, "python3-psycopg-pool");
  const auto real = psycopg("fill", "pp-fill-real");
  auto m = model({{"kind", "psycopg_pool"}, {"min_size", 3}, {"max_size", 5}}, "pp-fill-model");
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(real.at("backends"), 3);
  EXPECT_EQ(backends("pp-fill-model"), real.at("backends").get<int>());
}

// Exhausted: the library's own words, after its timeout.
TEST_F(PoolKinds, ExhaustionTimesOutInEachLibrarysWords) {
  need(have_hikari_ && have_psycopg_, "libhikaricp-java and python3-psycopg-pool");
  const auto cases = {
      std::tuple{json{{"kind", "hikaricp"}, {"maximumPoolSize", 2}, {"connectionTimeout", "500ms"}},
                 hikari("exhaust", "hk-ex-real"), "hk-ex-model"},
      std::tuple{json{{"kind", "psycopg_pool"}, {"min_size", 2}, {"timeout", "500ms"}},
                 psycopg("exhaust", "pp-ex-real"), "pp-ex-model"}};
  for (const auto& [settings, real, app] : cases) {
    SCOPED_TRACE(settings.dump());
    auto m = model(settings, app);
    auto a = m.pool->checkout(as(app));
    auto b = m.pool->checkout(as(app));
    const auto t0 = Clock::now();
    std::string message;
    try {
      m.pool->checkout(as(app));
    } catch (const pool::PoolTimeoutError& e) {
      message = e.what();
    }
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    const auto real_message = real.at("message").get<std::string>();
    const auto real_waited = real.at("waited_ms").get<int64_t>();
    EXPECT_NEAR(static_cast<double>(waited.count()), static_cast<double>(real_waited), 50.0);
    EXPECT_GE(waited, 500ms);
    if (millis_in(real_message) >= 0) {
      // HikariCP prints how long it waited: the same words, the number within 50 ms.
      EXPECT_EQ(std::regex_replace(message, std::regex{R"(\d+ms)"}, "Nms"),
                std::regex_replace(real_message, std::regex{R"(\d+ms)"}, "Nms"));
      EXPECT_NEAR(static_cast<double>(millis_in(message)),
                  static_cast<double>(millis_in(real_message)), 50.0);
    } else {
      EXPECT_EQ(message, real_message);
    }
  }
}

// A connection killed while idle: HikariCP validates one idle over 500 ms
// and replaces it, unseen; psycopg_pool hands it out and the client's first
// statement fails, then the pool replaces it once it is returned.
TEST_F(PoolKinds, AConnectionKilledWhileIdleIsSeenAsEachLibraryShowsIt) {
  need(have_hikari_ && have_psycopg_, "libhikaricp-java and python3-psycopg-pool");
  const auto cases = {std::tuple{json{{"kind", "hikaricp"}, {"maximumPoolSize", 1}},
                                 hikari("killed", "hk-k-real"), "hk-k-model"},
                      std::tuple{json{{"kind", "psycopg_pool"}, {"min_size", 1}},
                                 psycopg("killed", "pp-k-real"), "pp-k-model"}};
  for (const auto& [settings, real, app] : cases) {
    SCOPED_TRACE(settings.dump());
    auto m = model(settings, app);
    int first = 0;
    {
      auto c = m.pool->checkout(as(app));
      first = c->backend_pid();
    }
    terminate(first);
    std::this_thread::sleep_for(700ms);
    std::string seen = "ok";
    bool replaced = false;
    {
      auto c = m.pool->checkout(as(app));
      try {
        c->execute("SELECT 1");
        replaced = c->backend_pid() != first;
      } catch (const db::DbError&) {
        seen = "error";
        c.invalidate();
      }
    }
    if (seen == "error") {
      auto c = m.pool->checkout(as(app));
      c->execute("SELECT 1");
      replaced = c->backend_pid() != first;
    }
    EXPECT_EQ(seen, real.at("first_use").get<std::string>());
    EXPECT_EQ(replaced, real.at("then_replaced").get<bool>());
    EXPECT_TRUE(replaced);
  }
}

// Every connect refused (53300): neither library lets the client see it;
// both retry in the background and the client times out.
TEST_F(PoolKinds, ARefusedConnectReachesTheClientOnlyAsItsTimeout) {
  need(have_hikari_ && have_psycopg_, "libhikaricp-java and python3-psycopg-pool");
  const auto cases = {
      std::tuple{json{{"kind", "hikaricp"}, {"maximumPoolSize", 1}, {"connectionTimeout", "1s"}},
                 hikari("refused", "hk-r-real", true), "hk-r-model"},
      std::tuple{json{{"kind", "psycopg_pool"}, {"min_size", 1}, {"timeout", "1s"}},
                 psycopg("refused", "pp-r-real", true), "pp-r-model"}};
  for (const auto& [settings, real, app] : cases) {
    SCOPED_TRACE(settings.dump());
    auto m = model(settings, app, true);
    const auto t0 = Clock::now();
    std::string message;
    try {
      m.pool->checkout(as(app));
    } catch (const pool::PoolTimeoutError& e) {
      message = e.what();
    }
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    const auto real_message = real.at("message").get<std::string>();
    EXPECT_NEAR(static_cast<double>(waited.count()),
                static_cast<double>(real.at("waited_ms").get<int64_t>()), 50.0);
    EXPECT_EQ(std::regex_replace(message, std::regex{R"(\d+ms)"}, "Nms"),
              std::regex_replace(real_message, std::regex{R"(\d+ms)"}, "Nms"));
    EXPECT_GE(m.pool->stats().connect_failures, 1u);
  }
}

// Grown by clients waiting together, then idle: psycopg_pool closes one
// connection per max_idle while more than min_size are open.
TEST_F(PoolKinds, PsycopgShrinksOneConnectionPerMaxIdle) {
  need(have_psycopg_, "python3-psycopg-pool");
  const auto real = psycopg("shrink", "pp-s-real");
  const std::string app = "pp-s-model";
  auto m =
      model({{"kind", "psycopg_pool"}, {"min_size", 1}, {"max_size", 3}, {"max_idle", "1s"}}, app);
  settle(app, 1);
  std::vector<pool::PooledConnection> held(3);
  {
    std::vector<std::jthread> takers;
    for (auto& c : held) {
      takers.emplace_back([&] { c = m.pool->checkout(as(app)); });
    }
  }
  const int grown = backends(app);
  held.clear();
  std::vector<int> counts;
  for (int i = 0; i < 14; ++i) {
    std::this_thread::sleep_for(250ms);
    counts.push_back(backends(app));
  }
  EXPECT_EQ(grown, 3);
  EXPECT_EQ(real.at("grown"), grown);
  // 3, then 2 after the first max_idle that found one idle throughout, then
  // 1: the same steps, each within one sample (250 ms) of the library's.
  const auto real_counts = real.at("counts").get<std::vector<int>>();
  ASSERT_EQ(real_counts.size(), counts.size());
  EXPECT_EQ(counts.back(), 1);
  EXPECT_EQ(real_counts.back(), 1);
  for (size_t i = 1; i + 1 < counts.size(); ++i) {
    EXPECT_TRUE(std::abs(counts[i] - real_counts[i]) == 0 || counts[i] == real_counts[i - 1] ||
                counts[i] == real_counts[i + 1])
        << "sample " << i << ": model " << counts[i] << ", psycopg_pool " << real_counts[i];
  }
}

// max_lifetime is looked at when a connection is returned, never at checkout.
TEST_F(PoolKinds, PsycopgRetiresAConnectionPastItsLifeOnlyWhenItIsReturned) {
  need(have_psycopg_, "python3-psycopg-pool");
  const auto real = psycopg("lifetime", "pp-l-real");
  const std::string app = "pp-l-model";
  auto m = model({{"kind", "psycopg_pool"}, {"min_size", 1}, {"max_lifetime", "500ms"}}, app);
  int first = 0;
  {
    auto c = m.pool->checkout(as(app));
    first = c->backend_pid();
  }
  std::this_thread::sleep_for(700ms);
  bool same_after_expiry = false;
  {
    auto c = m.pool->checkout(as(app));
    same_after_expiry = c->backend_pid() == first;
  }
  auto c = m.pool->checkout(as(app));
  EXPECT_EQ(same_after_expiry, real.at("same_after_expiry").get<bool>());
  EXPECT_EQ(c->backend_pid() != first, real.at("replaced_after_return").get<bool>());
  EXPECT_TRUE(same_after_expiry);
}

// HikariCP's housekeeper (here every 250 ms) closes connections idle more
// than idleTimeout (10 s, its least) down to minimumIdle.
TEST_F(PoolKinds, HikariClosesIdleConnectionsDownToMinimumIdleAfterIdleTimeout) {
  need(have_hikari_, "libhikaricp-java with a JDK");
  const std::string app = "hk-i-model";
  auto real = std::async(std::launch::async, [this] { return hikari("idle", "hk-i-real"); });
  auto m = model({{"kind", "hikaricp"},
                  {"maximumPoolSize", 3},
                  {"minimumIdle", 1},
                  {"idleTimeout", "10s"},
                  {"housekeepingPeriod", "250ms"}},
                 app);
  {
    std::vector<pool::PooledConnection> held;
    for (int i = 0; i < 3; ++i) {
      held.push_back(m.pool->checkout(as(app)));
    }
  }
  std::vector<int> counts;
  for (int i = 0; i < 24; ++i) {
    std::this_thread::sleep_for(500ms);
    counts.push_back(backends(app));
  }
  const auto real_counts = real.get().at("counts").get<std::vector<int>>();
  ASSERT_EQ(real_counts.size(), counts.size());
  const auto first_at = [](const std::vector<int>& v, int n) {
    return std::find(v.begin(), v.end(), n) - v.begin();
  };
  EXPECT_EQ(counts.front(), 3);
  EXPECT_EQ(real_counts.front(), 3);
  EXPECT_EQ(counts.back(), 1);
  EXPECT_EQ(real_counts.back(), 1);
  // Down to 1 after 10 s idle and the next housekeeping: the same sample,
  // or the one beside it.
  EXPECT_LE(std::abs(first_at(counts, 1) - first_at(real_counts, 1)), 1)
      << ::testing::PrintToString(counts) << " vs " << ::testing::PrintToString(real_counts);
  EXPECT_GE(first_at(counts, 1), 19);  // not before 10 s
}

// leakDetectionThreshold: one warning for a connection held past it; the
// connection is not taken back.
TEST_F(PoolKinds, HikariWarnsOnceOfAConnectionHeldPastTheLeakThreshold) {
  need(have_hikari_, "libhikaricp-java with a JDK");
  const std::string app = "hk-leak-model";
  auto real = std::async(std::launch::async, [this] { return hikari("leak", "hk-leak-real"); });
  auto m =
      model({{"kind", "hikaricp"}, {"maximumPoolSize", 1}, {"leakDetectionThreshold", "2s"}}, app);
  auto c = m.pool->checkout(as(app));
  std::this_thread::sleep_for(2600ms);
  EXPECT_EQ(m.pool->stats().leak_warnings, real.get().at("leak_warnings").get<uint64_t>());
  EXPECT_EQ(m.pool->stats().leak_warnings, 1u);
  EXPECT_EQ(m.pool->outstanding().size(), 1u);  // still the application's
  c->execute("SELECT 1");
}

// The incident written for each stack (scenarios/pools/): the duplicate
// launchers' eager pools exhaust the server while the pools keep retrying in
// the background; the fixed one passes.
TEST_F(PoolKinds, TheIncidentOnEachStackFailsAndItsFixPasses) {
  need(true, "PostgreSQL");
  for (const std::string stack : {"hikaricp", "psycopg_pool"}) {
    SCOPED_TRACE(stack);
    const auto report = (scratch_->path() / (stack + ".json")).string();
    Subprocess before{
        {kBinary, "run",
         std::string{PGLEAK_SOURCE_DIR} + "/scenarios/pools/" + stack + "-before.json", "--report",
         report, "--quiet"}};
    ASSERT_EQ(before.wait_for(120s), 1) << before.err();
    std::ifstream in{report};
    const auto r = json::parse(in);
    EXPECT_EQ(r.at("verdict").at("diagnosis"), "server_limit") << r.at("verdict").dump();
    EXPECT_GT(r.at("summary").at("connect_failures").get<int>(), 0);
    EXPECT_GT(r.at("summary").at("pool_timeouts").get<int>(), 0);
    EXPECT_EQ(r.at("scenario").at("pool").at("kind"), stack);
    Subprocess after{{kBinary, "run",
                      std::string{PGLEAK_SOURCE_DIR} + "/scenarios/pools/" + stack + "-after.json",
                      "--report", report, "--quiet"}};
    EXPECT_EQ(after.wait_for(120s), 0) << after.err() << after.out();
  }
}

}  // namespace
}  // namespace pgleak::testing

#pragma once

// The fixture of the pool kinds' differential suite (pool_kinds_test.cpp,
// pool_kinds_caller_test.cpp): one server, the real libraries' case
// programs built or found once, and pgleak's model of a kind on demand.
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

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kCases = std::string{PGLEAK_SOURCE_DIR} + "/tests/differential/pools/";
const std::string kPython = "/usr/bin/python3";
const std::string kJars =
    "/usr/share/java/HikariCP.jar:/usr/share/java/postgresql.jar:/usr/share/java/slf4j-api.jar";

inline bool succeeds(std::vector<std::string> argv) {
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
    const auto scratch = scratch_->path().string();
    have_pgx_ = fs::exists("/usr/bin/go") &&
                succeeds({"/usr/bin/env", "GO111MODULE=off", "GOPATH=/usr/share/gocode",
                          "GOCACHE=" + scratch + "/gocache", "GOFLAGS=", "/usr/bin/go", "build",
                          "-o", scratch + "/pgx_cases", kCases + "pgx_cases.go"});
    have_node_ = fs::exists(kCases + "node/node_modules/pg/package.json") &&
                 succeeds({"/usr/bin/env", "node", "--version"});
    try {
      server::find_pg_bin_dir({});
    } catch (const std::exception&) {
      return;  // no PostgreSQL here: every test skips, saying so
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

  // Why a test cannot run here: no server, or no library `what` (`have`
  // false); empty when it can. Used through PGLEAK_NEED, which skips: a
  // skip must be the test body's own return.
  static std::string missing(bool have, const char* what) {
    if (server_ == nullptr) {
      return "no PostgreSQL server binaries here (scripts/setup.sh installs them)";
    }
    return have ? std::string{}
                : std::string{what} + " is not installed (scripts/setup.sh installs it)";
  }

  static db::ConnInfo refused_conninfo() {
    auto info = server_->app_conninfo();
    info.set("user", "pgleak_refused");
    return info;
  }

  // `app`'s backends (in `state`, when given).
  int backends(const std::string& app, const std::string& state = {}) {
    pqxx::connection admin{server_->superuser_conninfo().to_libpq()};
    return backends_over(admin, app, state);
  }
  static int backends_over(pqxx::connection& admin, const std::string& app,
                           const std::string& state = {}) {
    pqxx::nontransaction tx{admin};
    return tx
        .exec1("SELECT count(*)::int FROM pg_stat_activity WHERE application_name = " +
               tx.quote(app) + (state.empty() ? "" : " AND state = " + tx.quote(state)))[0]
        .as<int>();
  }
  // `n` counts of `app`'s backends on a fixed grid, one per `step` after
  // `from`, over one admin connection: a count that takes a while to read
  // must not shift the ones after it (the library's programs sample on the
  // same grid from the same moment of their own).
  std::vector<int> counts_on_grid(const std::string& app, Clock::time_point from,
                                  Clock::duration step, int n) {
    pqxx::connection admin{server_->superuser_conninfo().to_libpq()};
    std::vector<int> counts;
    for (int i = 0; i < n; ++i) {
      std::this_thread::sleep_until(from + (i + 1) * step);
      counts.push_back(backends_over(admin, app));
    }
    return counts;
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

  json pgx(const std::string& c, const std::string& app, bool refused = false) {
    const auto dsn = (refused ? refused_conninfo() : server_->app_conninfo()).to_libpq();
    Subprocess p{{(scratch_->path() / "pgx_cases").string(), dsn,
                  server_->superuser_conninfo().to_libpq(), c, app}};
    EXPECT_EQ(p.wait_for(120s), 0) << p.err();
    return json::parse(p.out());
  }
  static std::string url(const db::ConnInfo& info) {
    return "postgresql://" + *info.get("user") + "@127.0.0.1:" + *info.get("port") + "/" +
           *info.get("dbname");
  }
  json node(const std::string& c, const std::string& app, bool refused = false) {
    Subprocess p{{"/usr/bin/env", "node", kCases + "node/node_pg_cases.js",
                  url(refused ? refused_conninfo() : server_->app_conninfo()),
                  url(server_->superuser_conninfo()), c, app}};
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

  // The killed case on the model: a connection used and returned, its
  // backend terminated, 700 ms idle (past HikariCP's 500 ms bypass), then
  // used again; if that fails, returned broken and one more used. What the
  // case programs print: {"first_use": "ok" | "error", "then_replaced": bool}.
  json killed(const json& settings, const std::string& app) {
    auto m = model(settings, app);
    int first = 0;
    {
      auto c = m.pool->checkout(as(app));
      first = c->backend_pid();
    }
    terminate(first);
    std::this_thread::sleep_for(700ms);
    std::string seen = "ok";
    {
      auto c = m.pool->checkout(as(app));
      try {
        c->execute("SELECT 1");
      } catch (const db::DbError&) {
        seen = "error";
        c.invalidate();
      }
    }
    auto c = m.pool->checkout(as(app));
    c->execute("SELECT 1");
    return {{"first_use", seen}, {"then_replaced", c->backend_pid() != first}};
  }

  // One checkout that must time out: its message, and how long it waited.
  struct TimedOut {
    std::string message;
    std::chrono::milliseconds waited{0};
  };
  static TimedOut time_out(pool::Pool& pool, const std::string& app) {
    TimedOut out;
    const auto t0 = Clock::now();
    try {
      pool.checkout(as(app));
      ADD_FAILURE() << "the checkout did not time out";
    } catch (const pool::PoolTimeoutError& e) {
      out.message = e.what();
    }
    out.waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    return out;
  }

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
  static inline bool have_pgx_ = false;
  static inline bool have_node_ = false;
};

// A wait that ended at its timeout, measured by the model or by the
// library: not before it, and no later than a late wake-up on a busy machine
// (once, in a full run beside busy loops, the two differed by more than
// 50 ms, so they are not held to each other).
inline void waited_its_timeout(int64_t waited_ms, int64_t timeout_ms) {
  EXPECT_GE(waited_ms, timeout_ms - 10);
  EXPECT_LE(waited_ms, timeout_ms + 500);
}

// The number in "... after 517ms." (HikariCP), or -1.
inline int64_t millis_in(const std::string& message) {
  std::smatch m;
  return std::regex_search(message, m, std::regex{R"(after (\d+)ms)"}) ? std::stoll(m[1]) : -1;
}

// A pool closing idle connections, sampled on the same grid by the model and
// by the library (counts_on_grid): for every level from `top - 1` down to
// `floor`, the first sample at or below it is the same in both, or the one
// beside it (each acts on timers of its own). Below the floor counts as the
// floor: pgxpool's health check may close the last connection before it
// opens one again, and a sample may catch it at 0.
inline void steps_agree_within_a_sample(const std::vector<int>& model, const std::vector<int>& real,
                                        int top, int floor) {
  ASSERT_EQ(model.size(), real.size());
  const auto first_at_or_below = [](const std::vector<int>& v, int level) {
    return std::find_if(v.begin(), v.end(), [level](int n) { return n <= level; }) - v.begin();
  };
  for (int level = top - 1; level >= floor; --level) {
    const auto m = first_at_or_below(model, level);
    const auto r = first_at_or_below(real, level);
    EXPECT_LT(m, std::ssize(model)) << "never down to " << level;
    EXPECT_LE(std::abs(m - r), 1) << "down to " << level << ": model "
                                  << ::testing::PrintToString(model) << ", library "
                                  << ::testing::PrintToString(real);
  }
}

}  // namespace pgleak::testing

// Skips the calling test unless the server (and the library, when `have` is
// false, named by `what`) is here.
#define PGLEAK_NEED(have, what)                                                         \
  if (const auto why = ::pgleak::testing::PoolKinds::missing(have, what); !why.empty()) \
  GTEST_SKIP() << why

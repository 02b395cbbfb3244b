// The pool kinds' table (scenario/pool_kinds.hpp), how a scenario names a
// kind and its library's settings, what the budget counts of an eager pool,
// and the HikariCP and psycopg_pool models over fake connections. The models'
// behaviour against the real libraries is tests/integration/pool_kinds_test.cpp.
#include "scenario/pool_kinds.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <thread>

#include "analysis/budget.hpp"
#include "fake_connection.hpp"
#include "pool/make_pool.hpp"
#include "pool/psycopg_pool.hpp"
#include "scenario/loader.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::scenario {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

Scenario with_pool(const json& pool, const json& process_pool = nullptr,
                   const std::string& pattern = "scoped") {
  json process = {{"name", "p"}, {"workers", {{{"pattern", pattern}, {"count", 3}}}}};
  if (!process_pool.is_null()) {
    process["pool"] = process_pool;
  }
  const json doc = {
      {"name", "k"}, {"duration", "1s"}, {"pool", pool}, {"processes", json::array({process})}};
  return parse(doc.dump(), "k.json", workload::PatternRegistry::builtin().catalog());
}

std::vector<Problem> problems_of(const json& pool, const json& process_pool = nullptr) {
  try {
    with_pool(pool, process_pool);
  } catch (const ScenarioError& e) {
    return e.problems();
  }
  return {};
}

bool has_problem(const std::vector<Problem>& problems, const std::string& pointer,
                 const std::string& words) {
  return std::any_of(problems.begin(), problems.end(), [&](const Problem& p) {
    return p.pointer == pointer && p.message.find(words) != std::string::npos;
  });
}

TEST(PoolKinds, EveryKindsDefaultsAreValidSettings) {
  for (const auto& kind : pool_kinds()) {
    if (kind.name == kSqlAlchemyKind) {
      continue;
    }
    SCOPED_TRACE(std::string{kind.name});
    const auto sc = with_pool({{"kind", kind.name}});
    EXPECT_EQ(sc.processes[0].pool.kind, kind.name);
    EXPECT_EQ(sc.processes[0].pool.own.size(), kind.settings.size());
    for (const auto& s : kind.settings) {
      if (s.type == KindSetting::Type::kDuration) {
        const auto parsed = util::parse_duration(s.default_value, nullptr);
        ASSERT_TRUE(parsed.has_value()) << s.name << " " << s.default_value;
        EXPECT_EQ(sc.pool.own_duration(s.name).nominal, *parsed) << s.name;
      }
    }
    for (const auto& [name, why] : kind.check(sc.pool)) {
      ADD_FAILURE() << name << ": " << why;
    }
    EXPECT_GT(kind.capacity(sc.pool), 0);
  }
}

// HikariCP's defaults: maximumPoolSize 10, minimumIdle the same, 30 s.
TEST(PoolKinds, HikariDefaultsAreHikariCPs) {
  const auto sc = with_pool({{"kind", "hikaricp"}});
  const auto& kind = kind_of(sc.pool);
  EXPECT_EQ(kind.capacity(sc.pool), 10);
  EXPECT_EQ(kind.eager(sc.pool), 10);
  EXPECT_EQ(sc.pool.own_duration("connectionTimeout").nominal, 30s);
  EXPECT_EQ(sc.pool.own_duration("maxLifetime").nominal, 30min);
  EXPECT_EQ(sc.pool.own_duration("idleTimeout").nominal, 10min);
}

TEST(PoolKinds, SettingsAreTheLibrarysOwnAndEveryProblemHasItsPointer) {
  const auto hikari = problems_of({{"kind", "hikaricp"},
                                   {"pool_size", 5},
                                   {"connectionTimeout", "100ms"},
                                   {"maximumPoolSize", 4},
                                   {"minimumIdle", 6}});
  EXPECT_TRUE(has_problem(hikari, "/pool/pool_size", "is a SQLAlchemy setting; a hikaricp pool"));
  EXPECT_TRUE(has_problem(hikari, "/pool/connectionTimeout", "at least 250ms"));
  EXPECT_TRUE(has_problem(hikari, "/pool/minimumIdle", "at most maximumPoolSize"));
  EXPECT_EQ(hikari.size(), 3u);

  const auto psycopg = problems_of(nullptr, {{"kind", "psycopg_pool"}, {"max_size", 2}});
  EXPECT_TRUE(has_problem(psycopg, "/processes/0/pool/max_size", "at least min_size"));
  EXPECT_TRUE(has_problem(problems_of({{"kind", "c3p0"}}), "/pool/kind", "\"hikaricp\""));
  // 0 turns idleTimeout off; anything else under 10 s is refused.
  EXPECT_TRUE(problems_of({{"kind", "hikaricp"}, {"idleTimeout", "0s"}}).empty());
  EXPECT_TRUE(has_problem(problems_of({{"kind", "hikaricp"}, {"idleTimeout", "5s"}}),
                          "/pool/idleTimeout", "at least 10000ms (or 0: off)"));
}

TEST(PoolKinds, AProcessRefinesTheScenariosKindOrStartsAnotherFromItsDefaults) {
  const auto refined =
      with_pool({{"kind", "hikaricp"}, {"connectionTimeout", "5s"}}, {{"maximumPoolSize", 3}});
  EXPECT_EQ(refined.processes[0].pool.own_number("maximumPoolSize"), 3);
  EXPECT_EQ(refined.processes[0].pool.own_duration("connectionTimeout").nominal, 5s);

  const auto other =
      with_pool({{"kind", "hikaricp"}, {"connectionTimeout", "5s"}}, {{"kind", "psycopg_pool"}});
  EXPECT_EQ(other.processes[0].pool.kind, "psycopg_pool");
  EXPECT_EQ(other.processes[0].pool.own_number("min_size"), 4);
  EXPECT_FALSE(other.processes[0].pool.own.contains("connectionTimeout"));
}

// An eager pool holds its minimum even when every worker is pool-less.
TEST(PoolKinds, TheBudgetCountsAnEagerPoolsMinimumAtStart) {
  const auto sc = with_pool({{"kind", "hikaricp"}, {"maximumPoolSize", 6}, {"minimumIdle", 2}},
                            nullptr, "connection_per_task");
  probe::ServerLimits limits;
  limits.max_connections = 100;
  limits.superuser_reserved_connections = 3;
  const auto b = analysis::compute_budget(sc, limits);
  ASSERT_EQ(b.processes.size(), 1u);
  EXPECT_EQ(b.processes[0].kind, "hikaricp");
  EXPECT_EQ(b.processes[0].eager, 2);
  EXPECT_EQ(b.processes[0].per_replica, 2 + 3);
  const auto pooled = analysis::compute_budget(
      with_pool({{"kind", "hikaricp"}, {"maximumPoolSize", 6}, {"minimumIdle", 2}}), limits);
  EXPECT_EQ(pooled.processes[0].per_replica, 6);
}

TEST(PoolKinds, PsycopgWritesItsTimeoutAsPythonPrintsAFloat) {
  EXPECT_EQ(pool::python_float(30.0), "30.0");
  EXPECT_EQ(pool::python_float(0.5), "0.5");
  EXPECT_EQ(pool::python_float(0.25), "0.25");
}

// Polls, for at most 5 s, until the pool has `n` connections open.
bool opens(const pool::Pool& p, int n) {
  for (int i = 0; i < 500 && p.stats().open != n; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  return p.stats().open == n;
}

TEST(HikariModel, FillsToMinimumIdleThenTimesOutInHikariCPsWords) {
  testing::FakeServer server;
  testing::FakeFactory factory{server};
  const auto sc =
      with_pool({{"kind", "hikaricp"}, {"maximumPoolSize", 2}, {"connectionTimeout", "250ms"}});
  auto p = pool::make_pool(sc.pool, 1.0, factory);
  EXPECT_EQ(p->stats().open, 0);  // nothing before its life begins
  p->begin_life("app", std::chrono::steady_clock::now());
  ASSERT_TRUE(opens(*p, 2));
  auto a = p->checkout({"app", "w.0"});
  auto b = p->checkout({"app", "w.1"});
  const auto t0 = std::chrono::steady_clock::now();
  try {
    p->checkout({"app", "w.2"});
    FAIL() << "a third checkout of two";
  } catch (const pool::PoolTimeoutError& e) {
    EXPECT_TRUE(std::regex_match(
        e.what(),
        std::regex{
            R"(HikariPool-1 - Connection is not available, request timed out after \d+ms\.)"}))
        << e.what();
    EXPECT_GE(e.waited(), 250ms);
  }
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 250ms);
  EXPECT_EQ(p->stats().timeouts, 1u);
  EXPECT_EQ(p->stats().open, 2);  // never more than maximumPoolSize
}

// A refused connect never reaches the client; the pool keeps knocking.
TEST(HikariModel, ARefusedPoolRetriesInTheBackgroundWhileTheClientWaits) {
  testing::FakeServer server;
  server.refuse_connections = true;
  testing::FakeFactory factory{server};
  const auto sc =
      with_pool({{"kind", "hikaricp"}, {"maximumPoolSize", 1}, {"connectionTimeout", "1s"}});
  auto p = pool::make_pool(sc.pool, 1.0, factory);
  p->begin_life("app", std::chrono::steady_clock::now());
  EXPECT_THROW(p->checkout({"app", "w.0"}), pool::PoolTimeoutError);
  // At 0, 250 and 625 ms (each delay 1.5 times the last; the next at
  // 1.19 s), one after the other: HikariCP adds on one thread.
  EXPECT_GE(p->stats().connect_failures, 3u);
  EXPECT_LE(p->stats().connect_failures, 4u);
}

// A connect the run's stop cut short is no failed connect (the pool's
// slot is given back all the same): only kinds whose callers connect.
TEST(PoolModels, AConnectCutShortByTheRunsStopIsNotCountedAsFailed) {
  for (const json& settings : {json{{"kind", "sqlalchemy"}}, json{{"kind", "node_postgres"}},
                               json{{"kind", "pgx"}, {"LazyConnect", true}}}) {
    SCOPED_TRACE(settings.dump());
    testing::FakeServer server;
    testing::FakeFactory factory{server};
    const auto sc = with_pool(settings);
    auto p = pool::make_pool(sc.pool, 1.0, factory);
    p->begin_life("app", std::chrono::steady_clock::now());
    server.interrupt_connections = true;
    EXPECT_THROW(p->checkout({"app", "w.0"}), db::ConnectInterrupted);
    EXPECT_EQ(p->stats().connect_failures, 0u);
    server.refuse_connections = true;
    server.interrupt_connections = false;
    EXPECT_THROW(p->checkout({"app", "w.0"}), db::DbError);
    EXPECT_EQ(p->stats().connect_failures, 1u);  // a refusal still counts
  }
}

TEST(PsycopgModel, OpensMinSizeAtStartAndReplacesABrokenConnectionOnReturn) {
  testing::FakeServer server;
  testing::FakeFactory factory{server};
  const auto sc = with_pool({{"kind", "psycopg_pool"}, {"min_size", 2}});
  auto p = pool::make_pool(sc.pool, 1.0, factory);
  p->begin_life("app", std::chrono::steady_clock::now());
  ASSERT_TRUE(opens(*p, 2));
  {
    auto c = p->checkout({"app", "w.0"});
    c.invalidate();  // broke in the client's hands
  }
  // Closed on return, and a new one opened in its place.
  for (int i = 0; i < 500 && p->stats().connects != 3; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(p->stats().connects, 3u);
  EXPECT_TRUE(opens(*p, 2));
}

}  // namespace
}  // namespace pgleak::scenario

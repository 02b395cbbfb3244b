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
#include "pool_kinds_fixture.hpp"

namespace pgleak::testing {
namespace {

TEST_F(PoolKinds, HikariFillsToMinimumIdleAtStart) {
  PGLEAK_NEED(have_hikari_, "libhikaricp-java with a JDK");
  const auto real = hikari("fill", "hk-fill-real");
  auto m = model({{"kind", "hikaricp"}, {"maximumPoolSize", 4}}, "hk-fill-model");
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(real.at("backends"), 4);
  EXPECT_EQ(backends("hk-fill-model"), real.at("backends").get<int>());
}

TEST_F(PoolKinds, PsycopgFillsToMinSizeAtStart) {
  PGLEAK_NEED(have_psycopg_, "python3-psycopg-pool");
  const auto real = psycopg("fill", "pp-fill-real");
  auto m = model({{"kind", "psycopg_pool"}, {"min_size", 3}, {"max_size", 5}}, "pp-fill-model");
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(real.at("backends"), 3);
  EXPECT_EQ(backends("pp-fill-model"), real.at("backends").get<int>());
}

// Exhausted: the library's own words, after its timeout.
TEST_F(PoolKinds, ExhaustionTimesOutInEachLibrarysWords) {
  PGLEAK_NEED(have_hikari_ && have_psycopg_, "libhikaricp-java and python3-psycopg-pool");
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
    const auto [message, waited] = time_out(*m.pool, app);
    const auto real_message = real.at("message").get<std::string>();
    const auto real_waited = real.at("waited_ms").get<int64_t>();
    waited_its_timeout(waited.count(), 500);
    waited_its_timeout(real_waited, 500);
    if (millis_in(real_message) >= 0) {
      // HikariCP prints how long it waited: the same words, and a wait each
      // at its timeout.
      EXPECT_EQ(std::regex_replace(message, std::regex{R"(\d+ms)"}, "Nms"),
                std::regex_replace(real_message, std::regex{R"(\d+ms)"}, "Nms"));
      waited_its_timeout(millis_in(message), 500);
      waited_its_timeout(millis_in(real_message), 500);
    } else {
      EXPECT_EQ(message, real_message);
    }
  }
}

// A connection killed while idle: HikariCP validates one idle over 500 ms
// and replaces it, unseen; psycopg_pool hands it out and the client's first
// statement fails, then the pool replaces it once it is returned.
TEST_F(PoolKinds, AConnectionKilledWhileIdleIsSeenAsEachLibraryShowsIt) {
  PGLEAK_NEED(have_hikari_ && have_psycopg_, "libhikaricp-java and python3-psycopg-pool");
  const auto cases = {std::tuple{json{{"kind", "hikaricp"}, {"maximumPoolSize", 1}},
                                 hikari("killed", "hk-k-real"), "hk-k-model"},
                      std::tuple{json{{"kind", "psycopg_pool"}, {"min_size", 1}},
                                 psycopg("killed", "pp-k-real"), "pp-k-model"}};
  for (const auto& [settings, real, app] : cases) {
    SCOPED_TRACE(settings.dump());
    const auto seen = killed(settings, app);
    EXPECT_EQ(seen.at("first_use"), real.at("first_use"));
    EXPECT_EQ(seen.at("then_replaced"), real.at("then_replaced"));
    EXPECT_TRUE(seen.at("then_replaced").get<bool>());
  }
}

// Every connect refused (53300): neither library lets the client see it;
// both retry in the background and the client times out.
TEST_F(PoolKinds, ARefusedConnectReachesTheClientOnlyAsItsTimeout) {
  PGLEAK_NEED(have_hikari_ && have_psycopg_, "libhikaricp-java and python3-psycopg-pool");
  const auto cases = {
      std::tuple{json{{"kind", "hikaricp"}, {"maximumPoolSize", 1}, {"connectionTimeout", "1s"}},
                 hikari("refused", "hk-r-real", true), "hk-r-model"},
      std::tuple{json{{"kind", "psycopg_pool"}, {"min_size", 1}, {"timeout", "1s"}},
                 psycopg("refused", "pp-r-real", true), "pp-r-model"}};
  for (const auto& [settings, real, app] : cases) {
    SCOPED_TRACE(settings.dump());
    auto m = model(settings, app, true);
    const auto [message, waited] = time_out(*m.pool, app);
    const auto real_message = real.at("message").get<std::string>();
    waited_its_timeout(waited.count(), 1000);
    waited_its_timeout(real.at("waited_ms").get<int64_t>(), 1000);
    EXPECT_EQ(std::regex_replace(message, std::regex{R"(\d+ms)"}, "Nms"),
              std::regex_replace(real_message, std::regex{R"(\d+ms)"}, "Nms"));
    EXPECT_GE(m.pool->stats().connect_failures, 1u);
  }
}

// Grown by clients waiting together, then idle: psycopg_pool closes one
// connection per max_idle while more than min_size are open.
TEST_F(PoolKinds, PsycopgShrinksOneConnectionPerMaxIdle) {
  PGLEAK_NEED(have_psycopg_, "python3-psycopg-pool");
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
  const auto counts = counts_on_grid(app, Clock::now(), 250ms, 14);
  EXPECT_EQ(grown, 3);
  EXPECT_EQ(real.at("grown"), grown);
  // 3, then 2 after the first max_idle that found one idle throughout, then
  // 1: the same steps, each within one sample (250 ms) of the library's.
  const auto real_counts = real.at("counts").get<std::vector<int>>();
  EXPECT_EQ(counts.back(), 1);
  EXPECT_EQ(real_counts.back(), 1);
  steps_agree_within_a_sample(counts, real_counts, 3, 1);
}

// max_lifetime is looked at when a connection is returned, never at checkout.
TEST_F(PoolKinds, PsycopgRetiresAConnectionPastItsLifeOnlyWhenItIsReturned) {
  PGLEAK_NEED(have_psycopg_, "python3-psycopg-pool");
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
  PGLEAK_NEED(have_hikari_, "libhikaricp-java with a JDK");
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
  // Samples on a fixed 500 ms grid from the return, each with the moment its
  // count was read: a count query that takes a while must not shift them.
  const auto returned = std::chrono::steady_clock::now();
  std::vector<int> counts;
  std::vector<std::chrono::steady_clock::duration> read_at;
  for (int i = 0; i < 24; ++i) {
    std::this_thread::sleep_until(returned + (i + 1) * 500ms);
    counts.push_back(backends(app));
    read_at.push_back(std::chrono::steady_clock::now() - returned);
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
  const auto down = first_at(counts, 1);
  EXPECT_LE(std::abs(down - first_at(real_counts, 1)), 1)
      << ::testing::PrintToString(counts) << " vs " << ::testing::PrintToString(real_counts);
  // Not before 10 s idle: the count that first read 1 was read after that.
  ASSERT_LT(down, std::ssize(counts));
  EXPECT_GE(read_at[down], 10s) << ::testing::PrintToString(counts);
}

// leakDetectionThreshold: one warning for a connection held past it; the
// connection is not taken back.
TEST_F(PoolKinds, HikariWarnsOnceOfAConnectionHeldPastTheLeakThreshold) {
  PGLEAK_NEED(have_hikari_, "libhikaricp-java with a JDK");
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

}  // namespace
}  // namespace pgleak::testing

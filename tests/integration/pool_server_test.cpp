// QueuePool rules observed on a real server: what pg_stat_activity shows.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <thread>

#include "db/db_error.hpp"
#include "db/pg_connection.hpp"
#include "pg_environment.hpp"
#include "pool/queue_pool.hpp"

namespace pgleak::pool {
namespace {

using namespace std::chrono_literals;
using testing::PgEnvironment;

PoolConfig config(int size, int overflow) {
  PoolConfig c;
  c.pool_size = size;
  c.max_overflow = overflow;
  c.timeout = 100ms;
  return c;
}

struct ManualClock {
  std::shared_ptr<std::chrono::steady_clock::time_point> now =
      std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  QueuePool::AgeClock fn() const {
    return [now = now] { return *now; };
  }
};

TEST(PoolOnServer, OverflowIsClosedOnTheServerAtCheckin) {
  auto& env = PgEnvironment::get();
  db::PgConnectionFactory factory{env.app(), {}};
  QueuePool pool{config(2, 3), factory};
  const CheckoutRequest req{"ptest/overflow", "t"};
  {
    std::vector<PooledConnection> held;
    for (int i = 0; i < 5; ++i) {
      held.push_back(pool.checkout(req));
    }
    EXPECT_EQ(env.backends("ptest/overflow"), 5);
    try {
      pool.checkout(req);
      FAIL() << "expected a pool timeout";
    } catch (const PoolTimeoutError& e) {
      EXPECT_STREQ(
          e.what(),
          "QueuePool limit of size 2 overflow 3 reached, connection timed out, timeout 0.10");
    }
  }
  // pool_size kept, overflow closed (backends exit a moment after their client).
  EXPECT_EQ(env.wait_backends("ptest/overflow", 2), 2);
  pool.dispose();
  EXPECT_EQ(env.wait_backends("ptest/overflow", 0), 0);
}

TEST(PoolOnServer, RollbackOnReturnEndsIdleInTransaction) {
  auto& env = PgEnvironment::get();
  db::PgConnectionFactory factory{env.app(), {}};
  QueuePool pool{config(1, 0), factory};
  auto conn = pool.checkout({"ptest/reset", "t"});
  conn->begin();
  conn->execute("SELECT 1");
  EXPECT_EQ(env.backends("ptest/reset", "idle in transaction"), 1);
  conn.release();
  EXPECT_EQ(env.backends("ptest/reset", "idle"), 1);
  EXPECT_EQ(env.backends("ptest/reset", "idle in transaction"), 0);
}

TEST(PoolOnServer, RecycleReplacesTheBackendAtCheckout) {
  auto& env = PgEnvironment::get();
  db::PgConnectionFactory factory{env.app(), {}};
  ManualClock clock;
  auto c = config(1, 0);
  c.recycle = 900s;
  QueuePool pool{c, factory, clock.fn()};
  int old_pid = 0;
  {
    auto conn = pool.checkout({"ptest/recycle", "t"});
    old_pid = conn->backend_pid();
  }
  *clock.now += 901s;
  auto conn = pool.checkout({"ptest/recycle", "t"});
  EXPECT_NE(conn->backend_pid(), old_pid);
  int old_left = 1;
  for (int i = 0; i < 1000 && old_left != 0; ++i) {  // the old backend exits a moment later
    old_left = env.admin_int(
        fmt::format("SELECT count(*)::int FROM pg_stat_activity WHERE pid = {}", old_pid));
    std::this_thread::sleep_for(old_left != 0 ? 10ms : 0ms);
  }
  EXPECT_EQ(old_left, 0);
  EXPECT_EQ(pool.stats().recycled, 1u);
}

TEST(PoolOnServer, PrePingSurvivesTerminatedBackends) {
  auto& env = PgEnvironment::get();
  db::PgConnectionFactory factory{env.app(), {}};
  auto c = config(2, 0);
  c.pre_ping = true;
  QueuePool pool{c, factory};
  const CheckoutRequest req{"ptest/preping", "t"};
  {
    auto a = pool.checkout(req);
    auto b = pool.checkout(req);
  }
  EXPECT_EQ(env.admin_int("SELECT count(pg_terminate_backend(pid))::int FROM pg_stat_activity "
                          "WHERE application_name = 'ptest/preping'"),
            2);
  // Terminated backends exit asynchronously: only a gone one fails its ping.
  ASSERT_EQ(env.wait_backends("ptest/preping", 0), 0);
  auto a = pool.checkout(req);
  EXPECT_NO_THROW(a->execute("SELECT 1"));
  auto b = pool.checkout(req);
  EXPECT_NO_THROW(b->execute("SELECT 1"));
  EXPECT_EQ(pool.stats().pre_ping_failures, 1u);  // the second was replaced without a ping
  EXPECT_EQ(pool.stats().pre_pings, 1u);
  EXPECT_EQ(pool.stats().invalidated, 1u);
}

TEST(PoolOnServer, WithoutPrePingTheFirstUseFails) {
  auto& env = PgEnvironment::get();
  db::PgConnectionFactory factory{env.app(), {}};
  QueuePool pool{config(1, 0), factory};
  const CheckoutRequest req{"ptest/noping", "t"};
  pool.checkout(req).release();
  env.admin_int(
      "SELECT count(pg_terminate_backend(pid))::int FROM pg_stat_activity WHERE "
      "application_name = 'ptest/noping'");
  ASSERT_EQ(env.wait_backends("ptest/noping", 0), 0);
  {
    auto conn = pool.checkout(req);
    try {
      conn->execute("SELECT 1");
      FAIL() << "a dead connection was handed out without pre-ping: its first use must fail";
    } catch (const db::DbError& e) {
      EXPECT_TRUE(e.disconnected());
      conn.invalidate();
    }
  }
  auto conn = pool.checkout(req);
  EXPECT_NO_THROW(conn->execute("SELECT 1"));
}

}  // namespace
}  // namespace pgleak::pool

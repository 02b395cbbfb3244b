// One test per QueuePool rule, each checked against SQLAlchemy's pool/impl.py
// and pool/base.py (2.0): see the comment on each test.
#include "pool/queue_pool.hpp"

#include <gtest/gtest.h>

#include <future>
#include <latch>
#include <mutex>
#include <numeric>
#include <thread>

#include "fake_connection.hpp"

namespace pgleak::pool {
namespace {

using namespace std::chrono_literals;
using testing::FakeFactory;
using testing::FakeServer;

PoolConfig config(int size, int overflow, util::Micros timeout = 50ms) {
  PoolConfig c;
  c.pool_size = size;
  c.max_overflow = overflow;
  c.timeout = timeout;
  return c;
}

CheckoutRequest req(const std::string& app = "app") {
  return {app, "test"};
}

// A clock for connection ages that tests move by hand.
struct ManualClock {
  std::shared_ptr<std::chrono::steady_clock::time_point> now =
      std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  QueuePool::AgeClock fn() const {
    return [now = now] { return *now; };
  }
  void advance(util::Micros d) const { *now += d; }
};

void check_invariants(const QueuePool& pool) {
  const auto s = pool.stats();
  EXPECT_EQ(s.checkouts, s.checkins + pool.outstanding().size());
  EXPECT_EQ(s.checked_out + s.retired_out, static_cast<int>(pool.outstanding().size()));
}

// "the pool begins with no connections" (pooling.rst): nothing opens until a checkout.
TEST(QueuePool, OpensConnectionsLazily) {
  FakeServer server;
  FakeFactory factory{server};
  QueuePool pool{config(3, 2), factory};
  EXPECT_EQ(server.count("open"), 0u);
  auto c = pool.checkout(req());
  EXPECT_EQ(server.count("open"), 1u);
  EXPECT_EQ(pool.stats().checked_out, 1);
  check_invariants(pool);
}

// _do_get: up to pool_size + max_overflow connections exist at once.
TEST(QueuePool, AllowsPoolSizePlusOverflowAtOnce) {
  FakeServer server;
  FakeFactory factory{server};
  QueuePool pool{config(2, 3), factory};
  std::vector<PooledConnection> held;
  for (int i = 0; i < 5; ++i) {
    held.push_back(pool.checkout(req()));
  }
  const auto s = pool.stats();
  EXPECT_EQ(s.checked_out, 5);
  EXPECT_EQ(s.overflow, 3);
  EXPECT_EQ(server.open, 5);
  EXPECT_THROW(pool.checkout(req()), PoolTimeoutError);
}

// _do_get raises TimeoutError with this exact text, "%0.2f" for the timeout and
// overflow() (the current overflow) for "overflow".
TEST(QueuePool, TimeoutMessageMatchesSqlalchemyExactly) {
  FakeServer server;
  FakeFactory factory{server};
  QueuePool pool{config(3, 5, 25ms), factory};
  std::vector<PooledConnection> held;
  for (int i = 0; i < 8; ++i) {
    held.push_back(pool.checkout(req()));
  }
  try {
    pool.checkout(req());
    FAIL() << "expected a timeout";
  } catch (const PoolTimeoutError& e) {
    EXPECT_STREQ(
        e.what(),
        "QueuePool limit of size 3 overflow 5 reached, connection timed out, timeout 0.03");
    EXPECT_GE(e.waited(), 25ms);  // it waited the whole timeout first
  }
  EXPECT_EQ(pool.stats().timeouts, 1u);
  EXPECT_EQ(timeout_message(5, 10, 30s),
            "QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00");
}

// A waiter is served by the next check-in rather than timing out.
TEST(QueuePool, WaiterGetsReturnedConnection) {
  FakeServer server;
  FakeFactory factory{server};
  QueuePool pool{config(1, 0, 10s), factory};
  auto first = pool.checkout(req());
  const int pid = first->backend_pid();
  auto waiter = std::async(std::launch::async, [&] { return pool.checkout(req()); });
  // Wait for the waiter to block (an observable event), then return the connection.
  while (pool.stats().waiting == 0) {
    std::this_thread::yield();
  }
  first.release();
  auto second = waiter.get();
  EXPECT_EQ(second->backend_pid(), pid);
  EXPECT_EQ(server.count("open"), 1u);
}

// sqlalchemy.util.queue.Queue.get() waits on a threading.Condition, whose
// notify() wakes the waiter at the head of its deque: waiters are served in
// the order they began to wait, one per check-in.
TEST(QueuePool, WaitersAreServedOldestFirst) {
  FakeServer server;
  FakeFactory factory{server};
  QueuePool pool{config(1, 0, 30s), factory};
  auto held = pool.checkout(req());
  constexpr int kWaiters = 8;
  std::mutex mutex;
  std::vector<int> served;
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&, i] {
      auto conn = pool.checkout(req());
      std::lock_guard lock{mutex};
      served.push_back(i);
    });  // conn is returned here, which serves the next waiter
    // Waiter i is queued before waiter i + 1 starts (an observable event).
    while (pool.stats().waiting < i + 1) {
      std::this_thread::yield();
    }
  }
  held.release();
  for (auto& t : waiters) {
    t.join();
  }
  std::vector<int> in_order(kWaiters);
  std::iota(in_order.begin(), in_order.end(), 0);
  EXPECT_EQ(served, in_order);
  EXPECT_EQ(pool.stats().timeouts, 0u);
}

// A waiter that gives up (a stop, or its timeout) leaves the queue, as
// Condition.wait removes its lock: the next check-in serves the next waiter.
TEST(QueuePool, AWaiterThatGivesUpLeavesTheQueue) {
  FakeServer server;
  FakeFactory factory{server};
  QueuePool pool{config(1, 0, 30s), factory};
  auto held = pool.checkout(req());
  std::stop_source cancel;
  auto first = std::async(std::launch::async, [&] {
    try {
      pool.checkout(req(), cancel.get_token());
      return false;
    } catch (const CheckoutCancelled&) {
      return true;
    }
  });
  while (pool.stats().waiting < 1) {
    std::this_thread::yield();
  }
  auto second = std::async(std::launch::async, [&] { return pool.checkout(req()); });
  while (pool.stats().waiting < 2) {
    std::this_thread::yield();
  }
  cancel.request_stop();
  EXPECT_TRUE(first.get());
  EXPECT_EQ(pool.stats().waiting, 1);
  held.release();  // must reach the second waiter, not the departed first
  EXPECT_TRUE(second.get().valid());
  EXPECT_EQ(pool.stats().waiting, 0);
}

// _do_return_conn: put(record, block=False) into a queue of maxsize pool_size;
// on Full the connection is closed and overflow decremented.
TEST(QueuePool, ClosesOverflowOnCheckinWhenPoolSizeIdleAreKept) {
  FakeServer server;
  FakeFactory factory{server};
  QueuePool pool{config(2, 3), factory};
  std::vector<PooledConnection> held;
  for (int i = 0; i < 5; ++i) {
    held.push_back(pool.checkout(req()));
  }
  held.clear();  // all five returned
  const auto s = pool.stats();
  EXPECT_EQ(s.idle, 2);
  EXPECT_EQ(s.overflow, 0);
  EXPECT_EQ(s.overflow_closed, 3u);
  EXPECT_EQ(server.open, 2);
  check_invariants(pool);
}

// Queue.get pops from the left (FIFO) unless use_lifo pops from the right.
TEST(QueuePool, HandsOutFifoByDefaultAndLifoWithUseLifo) {
  for (const bool lifo : {false, true}) {
    FakeServer server;
    FakeFactory factory{server};
    auto c = config(3, 0);
    c.use_lifo = lifo;
    QueuePool pool{c, factory};
    std::vector<PooledConnection> held;
    for (int i = 0; i < 3; ++i) {
      held.push_back(pool.checkout(req()));
    }
    std::vector<int> returned_order;
    for (auto& h : held) {
      returned_order.push_back(h->backend_pid());
      h.release();
    }
    auto next = pool.checkout(req());
    EXPECT_EQ(next->backend_pid(), lifo ? returned_order.back() : returned_order.front())
        << (lifo ? "LIFO" : "FIFO");
  }
}

// _ConnectionFairy._reset: reset_on_return="rollback" rolls back on check-in.
TEST(QueuePool, RollsBackOnReturn) {
  FakeServer server;
  FakeFactory factory{server};
  QueuePool pool{config(1, 0), factory};
  {
    auto c = pool.checkout(req());
    c->begin();
    c->execute("UPDATE t SET x = 1");
  }
  EXPECT_EQ(server.count("rollback"), 1u);
  auto again = pool.checkout(req());
  EXPECT_EQ(again->tx_state(), db::TxState::kIdle);
}

TEST(QueuePool, ResetOnReturnNoneLeavesTransactionOpen) {
  FakeServer server;
  FakeFactory factory{server};
  auto c = config(1, 0);
  c.reset_on_return = false;
  QueuePool pool{c, factory};
  {
    auto conn = pool.checkout(req());
    conn->begin();
  }
  EXPECT_EQ(server.count("rollback"), 0u);
  EXPECT_EQ(pool.checkout(req())->tx_state(), db::TxState::kInTransaction);
}

// _ConnectionRecord.get_connection: recycle when time.time() - starttime > recycle,
// i.e. age since the connection was opened, checked at checkout only.
TEST(QueuePool, RecyclesAtCheckoutByAgeSinceOpened) {
  FakeServer server;
  FakeFactory factory{server};
  ManualClock clock;
  auto c = config(1, 0);
  c.recycle = 900s;
  QueuePool pool{c, factory, clock.fn()};
  int first_pid = 0;
  {
    auto conn = pool.checkout(req());
    first_pid = conn->backend_pid();
    clock.advance(1000s);  // ages while checked out: never replaced under the holder
    EXPECT_EQ(conn->backend_pid(), first_pid);
  }
  auto conn = pool.checkout(req());
  EXPECT_NE(conn->backend_pid(), first_pid);
  EXPECT_EQ(pool.stats().recycled, 1u);
  EXPECT_EQ(server.count("close " + std::to_string(first_pid)), 1u);
}

TEST(QueuePool, DoesNotRecycleYoungConnections) {
  FakeServer server;
  FakeFactory factory{server};
  ManualClock clock;
  auto c = config(1, 0);
  c.recycle = 900s;
  QueuePool pool{c, factory, clock.fn()};
  int pid = pool.checkout(req())->backend_pid();
  clock.advance(900s);  // "greater than", not "at least"
  EXPECT_EQ(pool.checkout(req())->backend_pid(), pid);
  EXPECT_EQ(pool.stats().recycled, 0u);
}

// _ConnectionFairy._checkout with pre_ping: a fresh connection is not pinged;
// an existing one is; a disconnect invalidates the pool (every connection
// started before now) and the checkout gets a new connection.
TEST(QueuePool, PrePingSkipsFreshConnectionsAndPingsReusedOnes) {
  FakeServer server;
  FakeFactory factory{server};
  auto c = config(2, 0);
  c.pre_ping = true;
  QueuePool pool{c, factory};
  pool.checkout(req()).release();
  EXPECT_EQ(server.count("ping"), 0u);
  pool.checkout(req()).release();
  EXPECT_EQ(server.count("ping"), 1u);
}

TEST(QueuePool, PrePingReplacesDeadConnectionAndInvalidatesOlderOnes) {
  FakeServer server;
  FakeFactory factory{server};
  ManualClock clock;
  auto c = config(2, 0);
  c.pre_ping = true;
  QueuePool pool{c, factory, clock.fn()};
  {
    auto a = pool.checkout(req());
    auto b = pool.checkout(req());
  }
  clock.advance(1s);
  server.kill_all();  // e.g. pg_terminate_backend on both
  auto first = pool.checkout(req());
  EXPECT_EQ(first->backend_pid(), 3);  // transparently replaced
  EXPECT_EQ(pool.stats().pre_ping_failures, 1u);
  clock.advance(1s);
  // The other dead connection is older than the invalidation: replaced without a ping.
  const auto pings_before = server.count("ping");
  auto second = pool.checkout(req());
  EXPECT_EQ(second->backend_pid(), 4);
  EXPECT_EQ(server.count("ping"), pings_before);
  EXPECT_EQ(pool.stats().invalidated, 1u);
}

// Without pre_ping the dead connection is handed out; its first use fails, the
// holder invalidates it (as the engine does on a disconnect error) and the
// pool's older connections are replaced at their next checkout.
TEST(QueuePool, WithoutPrePingFirstUseFailsThenPoolReplacesOlder) {
  FakeServer server;
  FakeFactory factory{server};
  ManualClock clock;
  QueuePool pool{config(2, 0), factory, clock.fn()};
  {
    auto a = pool.checkout(req());
    auto b = pool.checkout(req());
  }
  clock.advance(1s);
  server.kill_all();
  {
    auto conn = pool.checkout(req());
    try {
      conn->execute("SELECT 1");
      FAIL() << "expected the dead connection to fail";
    } catch (const db::DbError& e) {
      EXPECT_TRUE(e.disconnected());
      conn.invalidate();
    }
  }
  clock.advance(1s);
  auto next = pool.checkout(req());
  EXPECT_NO_THROW(next->execute("SELECT 1"));
  EXPECT_EQ(pool.stats().invalidated, 1u);
}

// _do_get: a failed connect gives back the overflow slot (_dec_overflow).
TEST(QueuePool, FailedConnectReleasesItsSlot) {
  FakeServer server;
  FakeFactory factory{server};
  QueuePool pool{config(1, 0), factory};
  server.refuse_connections = true;
  EXPECT_THROW(pool.checkout(req()), db::DbError);
  EXPECT_EQ(pool.stats().connect_failures, 1u);
  server.refuse_connections = false;
  EXPECT_NO_THROW(pool.checkout(req()));  // the slot is free again, no timeout
}

// QueuePool.__init__: pool_size=0 means no limit (max_overflow forced to -1).
TEST(QueuePool, PoolSizeZeroMeansNoLimit) {
  FakeServer server;
  FakeFactory factory{server};
  QueuePool pool{config(0, 0), factory};
  std::vector<PooledConnection> held;
  for (int i = 0; i < 20; ++i) {
    held.push_back(pool.checkout(req()));
  }
  EXPECT_EQ(server.open, 20);
  held.clear();
  EXPECT_EQ(pool.stats().idle, 20);  // nothing is closed on check-in either
}

TEST(QueuePool, MaxOverflowMinusOneIsUnbounded) {
  FakeServer server;
  FakeFactory factory{server};
  QueuePool pool{config(1, -1), factory};
  std::vector<PooledConnection> held;
  for (int i = 0; i < 12; ++i) {
    held.push_back(pool.checkout(req()));
  }
  EXPECT_EQ(pool.stats().overflow, 11);
}

TEST(QueuePool, CheckoutIsCancelledByStop) {
  FakeServer server;
  FakeFactory factory{server};
  QueuePool pool{config(1, 0, 60s), factory};
  auto held = pool.checkout(req());
  std::stop_source stop;
  auto waiter =
      std::async(std::launch::async, [&] { return pool.checkout(req(), stop.get_token()); });
  while (pool.stats().waiting == 0) {
    std::this_thread::yield();
  }
  stop.request_stop();
  EXPECT_THROW(waiter.get(), CheckoutCancelled);
}

// Checked-out connections are attributed to their holder until returned.
TEST(QueuePool, TracksOutstandingCheckouts) {
  FakeServer server;
  FakeFactory factory{server};
  QueuePool pool{config(2, 0), factory};
  auto a = pool.checkout({"app", "driver.1"});
  ASSERT_EQ(pool.outstanding().size(), 1u);
  EXPECT_EQ(pool.outstanding()[0].holder, "driver.1");
  EXPECT_EQ(pool.outstanding()[0].backend_pid, a->backend_pid());
  a.release();
  EXPECT_TRUE(pool.outstanding().empty());
}

// A connection re-tagged for a new holder's pattern carries the new name.
TEST(QueuePool, RetagsApplicationNameForANewPattern) {
  FakeServer server;
  FakeFactory factory{server};
  QueuePool pool{config(1, 0), factory};
  pool.checkout(req("p/abcdef/proc.0/scoped")).release();
  auto c = pool.checkout(req("p/abcdef/proc.0/outside_loop"));
  EXPECT_EQ(c->application_name(), "p/abcdef/proc.0/outside_loop");
  EXPECT_EQ(server.count("open"), 1u);
}

// Many threads hammering a small pool keep the books straight.
TEST(QueuePool, ConcurrentCheckoutsKeepInvariants) {
  FakeServer server;
  FakeFactory factory{server};
  QueuePool pool{config(3, 2, 5s), factory};
  constexpr int kThreads = 8;
  constexpr int kRounds = 200;
  std::latch go{kThreads};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      go.arrive_and_wait();
      for (int i = 0; i < kRounds; ++i) {
        auto c = pool.checkout(req());
        c->execute("SELECT 1");
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  const auto s = pool.stats();
  EXPECT_EQ(s.checkouts, static_cast<uint64_t>(kThreads * kRounds));
  EXPECT_EQ(s.checkins, s.checkouts);
  EXPECT_EQ(s.checked_out, 0);
  EXPECT_LE(s.connects, static_cast<uint64_t>(5 + s.overflow_closed));
  EXPECT_EQ(static_cast<int>(s.connects - s.closes), server.open);
  EXPECT_LE(s.idle, 3);
}

// NullPool (pool/impl.py): _do_get() always creates a connection and
// _do_return_conn() closes it; there is no limit and nothing waits.
TEST(NullPool, OpensAConnectionPerCheckoutAndClosesItAtCheckin) {
  FakeServer server;
  FakeFactory factory{server};
  auto c = config(1, 0);
  c.null_pool = true;
  QueuePool pool{c, factory};
  std::vector<PooledConnection> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(pool.checkout(req()));  // past pool_size + max_overflow: no limit
  }
  EXPECT_EQ(server.open, 4);
  EXPECT_EQ(pool.stats().checked_out, 4);
  held.pop_back();
  EXPECT_EQ(server.open, 3);
  EXPECT_EQ(pool.stats().idle, 0);
  held.clear();
  EXPECT_EQ(server.open, 0);
  EXPECT_EQ(pool.stats().timeouts, 0u);
  check_invariants(pool);
}

// Engine.dispose() (engine/base.py): self.pool.dispose(); self.pool =
// self.pool.recreate(). The new pool has a fresh overflow budget, so leaked
// checkouts plus the new pool's exceed pool_size + max_overflow; returned to
// the old pool they stay open in its queue (up to its size) until the garbage
// collector frees it. Measured with SQLAlchemy 1.4.46 on pool_size=2,
// max_overflow=1: 3 leaked + 3 new = 6 backends; 2 kept after the leaked
// closed, 0 after gc.collect().
TEST(QueuePool, EngineDisposeStartsANewPoolBesideTheCheckedOutConnections) {
  FakeServer server;
  FakeFactory factory{server};
  QueuePool pool{config(2, 1), factory};
  std::vector<PooledConnection> leaked;
  for (int i = 0; i < 3; ++i) {
    leaked.push_back(pool.checkout(req()));
  }
  EXPECT_THROW(pool.checkout(req()), PoolTimeoutError);
  pool.engine_dispose();
  EXPECT_EQ(pool.stats().checked_out, 0);
  EXPECT_EQ(pool.stats().retired_out, 3);
  std::vector<PooledConnection> fresh;
  for (int i = 0; i < 3; ++i) {
    fresh.push_back(pool.checkout(req()));
  }
  EXPECT_EQ(server.open, 6);
  EXPECT_THROW(pool.checkout(req()), PoolTimeoutError);
  check_invariants(pool);
  leaked.clear();
  EXPECT_EQ(pool.stats().retired_out, 0);
  EXPECT_EQ(pool.stats().retired_idle, 2);
  EXPECT_EQ(server.open, 5);
  EXPECT_EQ(pool.stats().checked_out, 3);  // the new pool's count is untouched
  EXPECT_EQ(pool.collect_garbage(), 2);
  EXPECT_EQ(server.open, 3);
  fresh.clear();
  EXPECT_EQ(server.open, 2);  // the new pool keeps its pool_size
  EXPECT_EQ(pool.stats().disposals, 1u);
  check_invariants(pool);
}

}  // namespace
}  // namespace pgleak::pool

// session::Session against the fake connection: the state machine of
// SQLAlchemy's orm.Session (sqlalchemy/orm/session.py, 1.4) with its default
// autobegin, as observed on a real server by tests/differential/.
#include "session/session.hpp"

#include <gtest/gtest.h>

#include "fake_connection.hpp"
#include "pool/queue_pool.hpp"

namespace pgleak::session {
namespace {

using namespace std::chrono_literals;
using testing::FakeFactory;
using testing::FakeServer;

pool::PoolConfig config(int size, int overflow) {
  pool::PoolConfig c;
  c.pool_size = size;
  c.max_overflow = overflow;
  c.timeout = 100ms;
  return c;
}

pool::CheckoutRequest req() {
  return {"app/t", "w.0"};
}

// Session._autobegin_t / _connection_for_bind: nothing is checked out until
// the first statement, which begins the transaction.
TEST(Session, ChecksOutAtItsFirstStatementAndReturnsAtCommit) {
  FakeServer server;
  FakeFactory factory{server};
  pool::QueuePool pool{config(2, 0), factory};
  Session db{pool, req()};
  EXPECT_FALSE(db.holds_connection());
  EXPECT_EQ(pool.stats().checked_out, 0);
  db.commit();  // nothing begun: nothing to commit, nothing checked out
  EXPECT_EQ(server.count("open"), 0u);
  db.execute("SELECT 1");
  EXPECT_TRUE(db.holds_connection());
  EXPECT_EQ(pool.stats().checked_out, 1);
  EXPECT_EQ(server.count("begin"), 1u);
  db.execute("SELECT 2");  // same transaction, same connection
  EXPECT_EQ(server.count("begin"), 1u);
  db.commit();
  EXPECT_FALSE(db.holds_connection());
  EXPECT_EQ(pool.stats().checked_out, 0);
  EXPECT_EQ(server.count("commit"), 1u);
  db.execute("SELECT 3");  // autobegin again: a new checkout (the pooled connection)
  EXPECT_EQ(pool.stats().checkouts, 2u);
  EXPECT_EQ(server.count("open"), 1u);
  db.rollback();
  EXPECT_EQ(pool.stats().checked_out, 0);
  db.execute("SELECT 4");
  db.close();
  EXPECT_EQ(pool.stats().checked_out, 0);
  EXPECT_EQ(server.count("rollback"), 2u);
}

TEST(Session, EachSessionHasItsOwnConnection) {
  FakeServer server;
  FakeFactory factory{server};
  pool::QueuePool pool{config(2, 0), factory};
  Session a{pool, req()};
  Session b{pool, req()};
  a.execute("SELECT 1");
  b.execute("SELECT 1");
  EXPECT_EQ(pool.stats().checked_out, 2);
  Session c{pool, req()};
  EXPECT_THROW(c.execute("SELECT 1"), pool::PoolTimeoutError);  // a third would wait
  a.commit();
  c.execute("SELECT 1");  // a's connection, back in the pool
  EXPECT_EQ(server.count("open"), 2u);
}

// A DBAPI error from the server does not end the transaction: PostgreSQL has
// aborted it, and every statement fails with 25P02 until rollback().
TEST(Session, AServerErrorLeavesTheTransactionAbortedUntilRollback) {
  FakeServer server;
  FakeFactory factory{server};
  pool::QueuePool pool{config(1, 0), factory};
  Session db{pool, req()};
  db.execute("SELECT 1");
  try {
    db.execute("SELECT 1/0");
    FAIL();
  } catch (const db::DbError& e) {
    EXPECT_EQ(e.sqlstate(), "22012");
    EXPECT_FALSE(e.disconnected());
  }
  EXPECT_TRUE(db.holds_connection());
  EXPECT_FALSE(db.needs_rollback());
  try {
    db.execute("SELECT 1");
    FAIL();
  } catch (const db::DbError& e) {
    EXPECT_EQ(e.sqlstate(), "25P02");
  }
  db.rollback();
  EXPECT_FALSE(db.holds_connection());
  EXPECT_NO_THROW(db.execute("SELECT 1"));
}

// Connection._handle_dbapi_exception with is_disconnect: the connection is
// invalidated (and given back at once); the SessionTransaction is then
// inactive, and Session._connection_for_bind raises PendingRollbackError
// ("Can't reconnect until invalid transaction is rolled back") until rollback().
TEST(Session, ALostConnectionNeedsRollbackBeforeAnythingElse) {
  FakeServer server;
  FakeFactory factory{server};
  pool::QueuePool pool{config(1, 0), factory};
  Session db{pool, req()};
  db.execute("SELECT 1");
  server.kill_all();
  try {
    db.execute("SELECT 1");
    FAIL();
  } catch (const db::DbError& e) {
    EXPECT_TRUE(e.disconnected());
  }
  EXPECT_FALSE(db.holds_connection());
  EXPECT_TRUE(db.needs_rollback());
  EXPECT_EQ(pool.stats().checked_out, 0);  // invalidated and back, as checkedout() shows
  for (int i = 0; i < 3; ++i) {
    try {
      db.execute("SELECT 1");
      FAIL();
    } catch (const PendingRollbackError& e) {
      EXPECT_STREQ(e.what(), "Can't reconnect until invalid transaction is rolled back.");
    }
  }
  EXPECT_THROW(db.commit(), PendingRollbackError);
  EXPECT_EQ(server.count("open"), 1u);  // nothing reconnected meanwhile
  db.rollback();
  EXPECT_FALSE(db.needs_rollback());
  db.execute("SELECT 1");  // a fresh connection
  EXPECT_EQ(server.count("open"), 2u);
  EXPECT_EQ(pool.stats().invalidated + pool.stats().closes, 1u);
}

// SQLAlchemy 1.4 closes such a session without complaint (observed on a real
// server: tests/differential/), and the session is usable afterwards.
TEST(Session, CloseAfterALostConnectionClearsTheSession) {
  FakeServer server;
  FakeFactory factory{server};
  pool::QueuePool pool{config(1, 0), factory};
  Session db{pool, req()};
  db.execute("SELECT 1");
  server.kill_all();
  EXPECT_THROW(db.execute("SELECT 1"), db::DbError);
  EXPECT_NO_THROW(db.close());
  EXPECT_FALSE(db.needs_rollback());
  EXPECT_NO_THROW(db.execute("SELECT 1"));
}

// Session.close() -> SessionTransaction.close() -> Connection rollback on a
// connection the server ended while the session sat idle in transaction:
// SQLAlchemy 1.4 invalidates the connection and re-raises psycopg2's
// OperationalError (seen on a real server for 12 of 12 such sessions:
// tests/differential/); the session is closed and works again afterwards.
TEST(Session, CloseOnAConnectionTheServerEndedRaisesAndDiscardsIt) {
  FakeServer server;
  FakeFactory factory{server};
  pool::QueuePool pool{config(1, 0), factory};
  Session db{pool, req()};
  db.execute("SELECT 1");
  server.kill_all();  // 25P03 ends the backend; the session does not know yet
  EXPECT_THROW(db.close(), db::DbError);
  EXPECT_FALSE(db.holds_connection());
  EXPECT_FALSE(db.needs_rollback());
  EXPECT_EQ(pool.stats().checked_out, 0);
  EXPECT_EQ(server.count("close"), 1u);     // discarded, not pooled
  EXPECT_NO_THROW(db.execute("SELECT 1"));  // a new connection
  EXPECT_EQ(server.count("open"), 2u);
  // rollback() raises the same way; discard(), a collection's close, never does.
  server.kill_all();
  EXPECT_THROW(db.rollback(), db::DbError);
  db.execute("SELECT 1");
  server.kill_all();
  EXPECT_NO_THROW(db.discard());
  EXPECT_EQ(pool.stats().checked_out, 0);
  EXPECT_EQ(server.count("close"), 3u);
}

// _ConnectionFairy._checkin via the garbage collector: a Session dropped
// without close() gives its connection back, rolled back.
TEST(Session, ASessionDroppedWithoutCloseGivesItsConnectionBack) {
  FakeServer server;
  FakeFactory factory{server};
  pool::QueuePool pool{config(1, 0), factory};
  {
    Session leaked{pool, req()};
    leaked.execute("SELECT 1");
    EXPECT_EQ(pool.stats().checked_out, 1);
  }
  EXPECT_EQ(pool.stats().checked_out, 0);
  EXPECT_EQ(server.count("rollback"), 1u);
  // Moved-from sessions hold nothing and do nothing when dropped.
  Session a{pool, req()};
  a.execute("SELECT 1");
  Session b{std::move(a)};
  EXPECT_TRUE(b.holds_connection());
  EXPECT_EQ(pool.stats().checked_out, 1);
  Session c{pool, req()};
  c = std::move(b);
  EXPECT_EQ(pool.stats().checked_out, 1);
  c.close();
  EXPECT_EQ(pool.stats().checked_out, 0);
}

TEST(Session, AConnectFailureIsToldApartFromAStatementFailure) {
  FakeServer server;
  server.refuse_connections = true;
  FakeFactory factory{server};
  pool::QueuePool pool{config(1, 0), factory};
  Session db{pool, req()};
  try {
    db.execute("SELECT 1");
    FAIL();
  } catch (const ConnectFailed& e) {
    EXPECT_EQ(e.sqlstate(), "53300");
  }
  EXPECT_FALSE(db.needs_rollback());  // nothing had begun
  server.refuse_connections = false;
  EXPECT_NO_THROW(db.execute("SELECT 1"));
}

}  // namespace
}  // namespace pgleak::session

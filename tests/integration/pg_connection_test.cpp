// PgConnection against a real server: settings reach the server, errors carry
// the server's SQLSTATE (or one recovered from libpq's text).
#include "db/pg_connection.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <vector>

#include "db/db_error.hpp"
#include "pg_environment.hpp"
#include "pool/queue_pool.hpp"
#include "silent_listener.hpp"

namespace pgleak::db {
namespace {

using namespace std::chrono_literals;
using testing::PgEnvironment;

std::string error_state(const std::function<void()>& f) {
  try {
    f();
  } catch (const DbError& e) {
    return e.sqlstate();
  }
  return "no error";
}

TEST(PgConnection, ConnectsAsOrdinaryRoleWithItsApplicationName) {
  auto& env = PgEnvironment::get();
  PgConnection conn{env.app(), {}, "itest/aaaaaa/proc.0/scoped"};
  EXPECT_GT(conn.backend_pid(), 0);
  EXPECT_EQ(env.admin_text(fmt::format("SELECT usename FROM pg_stat_activity WHERE pid = {}",
                                       conn.backend_pid())),
            "pgleak_app");
  EXPECT_EQ(
      env.admin_int(fmt::format("SELECT rolsuper::int FROM pg_roles r JOIN pg_stat_activity a "
                                "ON a.usename = r.rolname WHERE a.pid = {}",
                                conn.backend_pid())),
      0);
  EXPECT_EQ(env.backends("itest/aaaaaa/"), 1);
}

TEST(PgConnection, SessionSettingsReachTheServer) {
  auto& env = PgEnvironment::get();
  SessionSettings s;
  s.statement_timeout = 1500ms;
  s.idle_in_transaction_session_timeout = 60s;
  PgConnection conn{env.app(), s, "itest/settings"};
  // A statement that fails unless the server applied the settings to this session.
  EXPECT_NO_THROW(
      conn.execute("DO $$ BEGIN IF current_setting('statement_timeout') <> '1500ms' OR "
                   "current_setting('idle_in_transaction_session_timeout') <> '1min' THEN "
                   "RAISE EXCEPTION 'settings not applied'; END IF; END $$"));
}

TEST(PgConnection, StatementTimeoutIs57014AndAbortsTheTransaction) {
  auto& env = PgEnvironment::get();
  SessionSettings s;
  s.statement_timeout = 50ms;
  PgConnection conn{env.app(), s, "itest/stmt"};
  conn.begin();
  try {
    conn.execute("SELECT pg_sleep(5)");
    FAIL() << "expected statement_timeout";
  } catch (const DbError& e) {
    EXPECT_EQ(e.sqlstate(), "57014");
    EXPECT_FALSE(e.disconnected());
  }
  EXPECT_EQ(conn.tx_state(), TxState::kFailed);
  EXPECT_EQ(error_state([&] { conn.execute("SELECT 1"); }), "25P02");
  conn.rollback();
  EXPECT_NO_THROW(conn.execute("SELECT 1"));
}

TEST(PgConnection, TerminatedBackendIsADisconnect) {
  auto& env = PgEnvironment::get();
  PgConnection conn{env.app(), {}, "itest/term"};
  EXPECT_EQ(env.admin_int(fmt::format("SELECT pg_terminate_backend({})::int", conn.backend_pid())),
            1);
  ASSERT_EQ(env.wait_backends("itest/term", 0), 0);  // the backend exits a moment later
  try {
    conn.execute("SELECT 1");
    FAIL() << "expected a broken connection";
  } catch (const DbError& e) {
    EXPECT_TRUE(e.disconnected());
    // psycopg2 shows a terminated session as lost, with pgcode None: so does pgleak.
    EXPECT_EQ(e.sqlstate(), "") << e.what();
    EXPECT_EQ(e.source(), CodeSource::kNone);
  }
}

TEST(PgConnection, ServerLimitIs53300ForOrdinaryRoles) {
  auto& env = PgEnvironment::get();
  std::vector<std::unique_ptr<PgConnection>> held;
  std::string state;
  std::string message;
  for (int i = 0; i < PgEnvironment::kMaxConnections + 5 && state.empty(); ++i) {
    try {
      held.push_back(std::make_unique<PgConnection>(env.app(), SessionSettings{}, "itest/limit"));
    } catch (const DbError& e) {
      state = e.sqlstate();
      message = e.what();
    }
  }
  EXPECT_EQ(state, "53300");
  EXPECT_NE(message.find("reserved for"), std::string::npos) << message;
  // Ordinary roles stop short of the reserved slots (other tests' sessions may hold some).
  EXPECT_LE(static_cast<int>(held.size()),
            PgEnvironment::kMaxConnections - PgEnvironment::kReserved);
  // The superuser can still get in: that is what the reserved slots are for.
  EXPECT_GE(env.admin_int("SELECT 1"), 1);
  held.clear();
  EXPECT_TRUE(env.wait_backends_gone("itest/limit"));
}

TEST(PgConnection, RetagRidesOnTheNextStatement) {
  auto& env = PgEnvironment::get();
  PgConnection conn{env.app(), {}, "itest/old"};
  conn.set_application_name("itest/new");
  EXPECT_EQ(env.backends("itest/new"), 0);  // nothing sent yet: no extra round trip
  conn.execute("SELECT 1");
  EXPECT_EQ(env.backends("itest/new"), 1);
  // A tag sent inside a transaction that rolls back is sent again.
  conn.set_application_name("itest/rolled");
  conn.begin();
  conn.execute("SELECT 1");
  conn.rollback();
  conn.execute("SELECT 1");
  EXPECT_EQ(env.backends("itest/rolled"), 1);
}

TEST(PgConnection, ConnectTimeoutFiresToTheMillisecondAgainstASilentServer) {
  testing::SilentListener silent;
  ConnInfo target;
  target.set("host", "127.0.0.1");
  target.set("port", std::to_string(silent.port()));
  target.set("user", "nobody");
  SessionSettings s;
  s.connect_timeout = 150ms;  // libpq alone would wait at least 2 s
  const auto started = std::chrono::steady_clock::now();
  try {
    PgConnection conn{target, s, "itest/silent"};
    FAIL() << "the silent server cannot have answered";
  } catch (const DbError& e) {
    const auto waited = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(e.sqlstate(), "08001") << e.what();
    EXPECT_NE(std::string{e.what()}.find("timeout expired"), std::string::npos) << e.what();
    EXPECT_GE(waited, 150ms);
    // And well before libpq's own minimum of 2 s, however loaded the machine.
    EXPECT_LT(waited, 1500ms);
    ::testing::Test::RecordProperty(
        "late_ms",
        std::to_string(std::chrono::duration<double, std::milli>(waited - 150ms).count()));
  }
}

TEST(PgConnection, PoolGivesBackTheSlotOfATimedOutConnect) {
  testing::SilentListener silent;
  ConnInfo target;
  target.set("host", "127.0.0.1");
  target.set("port", std::to_string(silent.port()));
  SessionSettings s;
  s.connect_timeout = 50ms;
  PgConnectionFactory factory{target, s};
  pool::PoolConfig config;
  config.pool_size = 1;
  config.max_overflow = 0;
  pool::QueuePool pool{config, factory};
  for (int i = 0; i < 2;
       ++i) {  // the second attempt connects again instead of timing out in the pool
    EXPECT_THROW(pool.checkout({"itest/silent", "t"}), DbError);
  }
  EXPECT_EQ(pool.stats().connect_failures, 2u);
  EXPECT_EQ(pool.stats().timeouts, 0u);
}

}  // namespace
}  // namespace pgleak::db

#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <string>
#include <thread>

#include "db/conninfo.hpp"
#include "server/embedded_server.hpp"

namespace pgleak::testing {

// One real PostgreSQL for a whole test binary, started by pgleak's own
// EmbeddedServer (so every integration test also exercises it), with a small
// max_connections so limits are reached quickly.
class PgEnvironment : public ::testing::Environment {
 public:
  static constexpr int kMaxConnections = 20;
  static constexpr int kReserved = 3;

  void SetUp() override {
    try {
      server::find_pg_bin_dir({});
    } catch (const std::exception& e) {
      GTEST_SKIP() << "no PostgreSQL server binaries here, so no server tests: " << e.what();
    }
    server::EmbeddedServerOptions options;
    options.max_connections = kMaxConnections;
    options.superuser_reserved_connections = kReserved;
    server_ = server::EmbeddedServer::start(options);
    instance_ = this;
  }
  void TearDown() override {
    server_.reset();
    instance_ = nullptr;
  }

  static PgEnvironment& get() { return *instance_; }
  server::EmbeddedServer& server() { return *server_; }
  db::ConnInfo app() const { return server_->app_conninfo(); }
  db::ConnInfo admin() const { return server_->superuser_conninfo(); }

  // Runs a superuser query returning one integer (counts from pg_stat_activity).
  int admin_int(const std::string& sql) {
    pqxx::connection conn{admin().to_libpq()};
    pqxx::nontransaction tx{conn};
    return tx.exec1(sql)[0].as<int>();
  }
  std::string admin_text(const std::string& sql) {
    pqxx::connection conn{admin().to_libpq()};
    pqxx::nontransaction tx{conn};
    const auto row = tx.exec1(sql);
    return row[0].is_null() ? std::string{} : row[0].as<std::string>();
  }
  // Client backends whose application_name starts with `prefix`, optionally in `state`.
  int backends(const std::string& prefix, const std::string& state = {}) {
    std::string sql =
        "SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'client backend' AND "
        "starts_with(application_name, '" +
        prefix + "')";
    if (!state.empty()) {
      sql += " AND state = '" + state + "'";
    }
    return admin_int(sql);
  }

  // Backends exit a moment after their client disconnects (and a terminated
  // one a moment after pg_terminate_backend): polls the server, for at most
  // 10 s, until exactly `expected` with `prefix` (in `state`) are there, and
  // returns the last count seen, for the test to assert on.
  int wait_backends(const std::string& prefix, int expected, const std::string& state = {}) {
    int seen = -1;
    for (int i = 0; i < 1000; ++i) {
      seen = backends(prefix, state);
      if (seen == expected) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    return seen;
  }
  bool wait_backends_gone(const std::string& prefix) { return wait_backends(prefix, 0) == 0; }

 private:
  std::unique_ptr<server::EmbeddedServer> server_;
  static inline PgEnvironment* instance_ = nullptr;
};

}  // namespace pgleak::testing

#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "db/connection.hpp"
#include "db/conninfo.hpp"
#include "db/db_error.hpp"
#include "db/socket_registry.hpp"

struct pg_conn;

namespace pgleak::db {

// Settings sent to the server with every connection of a pool, the way
// SQLAlchemy's connect_args do: libpq's connect_timeout, and "-c" options.
struct SessionSettings {
  // Enforced by pgleak to the millisecond (libpq's own is whole seconds, >= 2).
  std::optional<std::chrono::milliseconds> connect_timeout;
  std::optional<std::chrono::milliseconds> statement_timeout;
  std::optional<std::chrono::milliseconds> idle_in_transaction_session_timeout;
  // libpq's own TCP parameters (keepalives, keepalives_idle, _interval,
  // _count, tcp_user_timeout), passed to it as they are.
  std::vector<std::pair<std::string, std::string>> libpq_tcp;
};

// A session over libpq in non-blocking mode: on a fiber, a statement
// suspends on the socket instead of blocking its thread (fiber/sync.hpp).
// Errors become DbError as psycopg2 reports them: the server's SQLSTATE, or
// libpq's text for a session that is gone.
class PgConnection final : public Connection {
 public:
  // Throws DbError when the server refuses or cannot be reached, and
  // ConnectInterrupted when `stop` is requested while connecting. With
  // `sockets`, the session's socket is registered there while it is open (a
  // forced stop cuts it).
  PgConnection(const ConnInfo& base, const SessionSettings& settings,
               const std::string& application_name, SocketRegistry* sockets = nullptr,
               std::stop_token stop = {});
  ~PgConnection() override;
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  void execute(std::string_view sql) override;
  void begin() override;
  void commit() override;
  void rollback() override;
  void ping() override;
  void set_application_name(const std::string& name) override;

  TxState tx_state() const noexcept override { return tx_state_; }
  int backend_pid() const noexcept override { return backend_pid_; }
  const std::string& application_name() const noexcept override { return application_name_; }
  void close() noexcept override;
  bool broken_while_idle() noexcept override;

  // The conninfo this connection would use (for tests of the settings); the
  // connect timeout is enforced apart from it, to the millisecond.
  static ConnInfo effective_conninfo(const ConnInfo& base, const SessionSettings& settings,
                                     const std::string& application_name);

 private:
  // Sends sql (with a pending application_name change in front). `transactional`
  // says the statement runs inside a transaction block, where the change would be
  // undone by a rollback.
  void run(std::string_view sql, bool transactional);

  // The session went away: what the caller sees (libpq's text, the server's
  // FATAL from `said` or a notice), the socket forgotten.
  DbError lost_error(const std::string& said);

  pg_conn* conn_ = nullptr;
  // libpq's notices go nowhere; the last FATAL is kept (see DbError::server_fatal).
  std::string last_fatal_;
  TxState tx_state_ = TxState::kIdle;
  int backend_pid_ = 0;
  std::string application_name_;
  SocketRegistry* sockets_ = nullptr;
  int socket_ = -1;
  std::string pending_tag_sql_;      // "SET application_name = ...; " not yet sent
  std::string uncommitted_tag_sql_;  // sent inside the open transaction: a rollback undoes it
};

// Opens PgConnections with one pool's settings against one target. Within a
// run, `sockets` and `stop` are the run's (see PgConnection).
class PgConnectionFactory final : public ConnectionFactory {
 public:
  PgConnectionFactory(ConnInfo target, SessionSettings settings, SocketRegistry* sockets = nullptr,
                      std::stop_token stop = {})
      : target_(std::move(target)),
        settings_(settings),
        sockets_(sockets),
        stop_(std::move(stop)) {}
  std::unique_ptr<Connection> open(const ConnectRequest& request) override;

 private:
  const ConnInfo target_;
  const SessionSettings settings_;
  SocketRegistry* const sockets_;
  const std::stop_token stop_;
};

}  // namespace pgleak::db

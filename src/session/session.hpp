#pragma once

#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>

#include "db/db_error.hpp"
#include "pool/pool.hpp"

namespace pgleak::session {

// SQLAlchemy's PendingRollbackError: a statement (or commit) on a Session
// whose connection was lost inside its transaction, before rollback().
class PendingRollbackError : public std::runtime_error {
 public:
  PendingRollbackError();
  // SQLAlchemy 1.4's text, without its "Background on this error" link.
  static constexpr const char* kMessage =
      "Can't reconnect until invalid transaction is rolled back.";
};

// The Session's first statement could not get a connection from the pool:
// the server refused or could not be reached (what SQLAlchemy raises as an
// OperationalError from engine.connect()).
class ConnectFailed : public db::DbError {
 public:
  explicit ConnectFailed(const db::DbError& cause) : db::DbError(cause) {}
};

// A model of SQLAlchemy's Session with default settings (autobegin,
// sessionmaker(bind=engine)) over one QueuePool, checked against SQLAlchemy
// 1.4 with psycopg2 and PostgreSQL 15 (tests/differential/):
//  - a new Session holds nothing; its first statement checks a connection out
//    and begins a transaction (psycopg2 sends BEGIN before it);
//  - commit(), rollback() and close() end the transaction and give the
//    connection back to the pool; the next statement checks out again, so a
//    Session that commits after each use holds nothing between uses, and one
//    that never commits sits "idle in transaction" holding its connection;
//  - an error from the server leaves the transaction open (aborted, 25P02 on
//    the next statement) until rollback();
//  - a lost connection inside the transaction invalidates it (SQLAlchemy's
//    is_disconnect: the pool replaces it) and gives it back at once; every
//    statement and commit() then fails with PendingRollbackError until
//    rollback() or close(), after which the next statement checks out anew;
//  - rollback() and close() on a connection the server ended while the
//    session did not know (idle in transaction past
//    idle_in_transaction_session_timeout, a terminated backend) raise what
//    psycopg2 raises for the ROLLBACK (OperationalError, libpq's lost
//    connection text), after invalidating the connection: the pool discards
//    it, and the session is closed and can be used again, as SQLAlchemy
//    1.4's Session.close() does;
//  - destroying a Session that was never closed is its garbage collection
//    (discard()): the connection goes back to the pool, rolled back, and a
//    failure is swallowed, as SQLAlchemy's pool does for a collected
//    connection. When that collection happens is the caller's model
//    (workload::ProcessReplica's collector).
//
// Several Sessions may exist at once (a = SessionLocal(); b = SessionLocal()),
// each with its own connection. Move-only; one thread at a time.
class Session {
 public:
  Session(pool::Pool& pool, pool::CheckoutRequest request, std::stop_token stop = {});
  ~Session();
  Session(Session&& other) noexcept;
  Session& operator=(Session&& other) noexcept;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Runs a statement in the session's transaction, checking out first if it
  // holds no connection. Throws PendingRollbackError, pool::PoolTimeoutError,
  // pool::CheckoutCancelled, ConnectFailed, or db::DbError from the statement.
  void execute(std::string_view sql);
  // COMMIT and give the connection back; nothing to do when none is held.
  void commit();
  // ROLLBACK (when a transaction is open) and give the connection back;
  // clears the pending-rollback state. A connection found lost by the
  // ROLLBACK is invalidated and given back, then its db::DbError is thrown.
  void rollback();
  // As rollback(): the session can be used again afterwards, even when it threw.
  void close();
  // close() that swallows every failure: a destructor's, a collector's, or
  // a late release's close, which no application code sees.
  void discard() noexcept;

  // Who uses the session now: a process-wide session is shared by workers,
  // each attributed the checkouts it makes.
  void use_as(pool::CheckoutRequest request, std::stop_token stop);

  // A connection is checked out (a transaction is open).
  bool holds_connection() const { return conn_.has_value(); }
  // The connection was lost inside the transaction; rollback() is due.
  bool needs_rollback() const { return needs_rollback_; }

 private:
  // A lost connection: invalidate it (the pool replaces it) and give it back.
  void lose_connection();
  // Runs `work` on the held connection; a lost connection leaves the session
  // needing rollback().
  template <typename Work>
  void on_connection(Work work);

  pool::Pool* pool_;
  pool::CheckoutRequest request_;
  std::stop_token stop_;
  std::optional<pool::PooledConnection> conn_;
  bool needs_rollback_ = false;
};

}  // namespace pgleak::session

#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace pgleak::db {

// Where the transaction of a session stands, as the client tracks it.
enum class TxState { kIdle, kInTransaction, kFailed, kUnknown };

// One database session: the seam between the pool and the server. The pool and
// the patterns see only this; unit tests substitute a fake, integration tests
// and runs use PgConnection.
//
// Not thread-safe: one thread uses a connection at a time (the pool hands it
// over under its mutex, which orders the accesses).
class Connection {
 public:
  virtual ~Connection() = default;

  // Runs SQL; throws DbError (with SQLSTATE when known, and whether the session is gone).
  virtual void execute(std::string_view sql) = 0;
  virtual void begin() = 0;
  virtual void commit() = 0;
  // Rolls back an open (or failed) transaction; a no-op when none is open,
  // as psycopg2's rollback() is.
  virtual void rollback() = 0;
  // The cheap round trip of pool_pre_ping; throws DbError.
  virtual void ping() = 0;
  // Changes application_name on the server (the pattern tag, see workload/).
  // Takes effect with the next statement, sent in the same round trip, so
  // re-tagging a pooled connection costs nothing and fails where its first use would.
  virtual void set_application_name(const std::string& name) = 0;

  virtual TxState tx_state() const noexcept = 0;
  // The server process id, for attribution; 0 once closed.
  virtual int backend_pid() const noexcept = 0;
  virtual const std::string& application_name() const noexcept = 0;
  // Closes the session; safe to call twice.
  virtual void close() noexcept = 0;
  // Without blocking: has the session ended while nobody used it (the
  // server terminated it, or the socket closed)? An event loop such as
  // node-postgres' sees this as the idle client's error event.
  virtual bool broken_while_idle() noexcept { return false; }
};

// What a new connection is opened for: pgleak tags every backend so that
// pg_stat_activity and the server log can be traced back to a pattern.
struct ConnectRequest {
  std::string application_name;
};

// Opens sessions with one fixed set of connection arguments (one per pool, as
// SQLAlchemy's create_engine(connect_args=...)). Thread-safe.
class ConnectionFactory {
 public:
  virtual ~ConnectionFactory() = default;
  // Throws DbError (e.g. 53300 at the server's limit, 08001 unreachable).
  virtual std::unique_ptr<Connection> open(const ConnectRequest& request) = 0;
};

}  // namespace pgleak::db

#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pgleak::db {

// What a SQLSTATE means for a connection-pool harness. One pure function, so
// the mapping is tested without a server (as pgbench's getSQLErrorStatus).
enum class ErrorKind {
  kTooManyConnections,        // 53300, both "too many clients" and "reserved slots"
  kStatementTimeout,          // 57014 (statement_timeout or a cancel)
  kIdleInTransactionTimeout,  // 25P03
  kAdminShutdown,             // 57P01..57P03: terminated, server shutting down
  kInFailedTransaction,       // 25P02: statement in an aborted transaction
  kConnectionFailure,         // class 08
  kOther,
};

ErrorKind classify_sqlstate(std::string_view sqlstate);

// libpq gives no SQLSTATE for errors raised while connecting or for a FATAL
// that ends the session (it surfaces as a broken connection). PostgreSQL's
// messages for those are fixed English texts (lc_messages is C on the embedded
// server), so the SQLSTATE is recovered from the text.
std::optional<std::string> sqlstate_from_message(std::string_view message);

// libpq's words for a session that is gone ("server closed the connection
// unexpectedly", "no connection to the server", ...): no SQLSTATE goes with them.
bool is_lost_connection(std::string_view message);

// The reason PgBouncer gave, when `message` is one of its errors (it sends
// them all as SQLSTATE 08P01, which psycopg2 does not show at connect, so the
// text is what tells them apart): "max_client_conn", "query_wait_timeout",
// "idle_transaction_timeout", "server_login_retry", "no_such_database",
// "unsupported_startup_parameter", ... Empty when the message holds none of
// the texts PgBouncer 1.18 uses.
std::string pgbouncer_error_key(std::string_view message);

// True for SQLSTATEs after which the session is gone (the pool must replace it).
bool ends_session(std::string_view sqlstate);

}  // namespace pgleak::db

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

// True for SQLSTATEs after which the session is gone (the pool must replace it).
bool ends_session(std::string_view sqlstate);

}  // namespace pgleak::db

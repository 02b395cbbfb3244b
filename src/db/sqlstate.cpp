#include "db/sqlstate.hpp"

#include <array>
#include <utility>

namespace pgleak::db {

ErrorKind classify_sqlstate(std::string_view s) {
  if (s == "53300") {
    return ErrorKind::kTooManyConnections;
  }
  if (s == "57014") {
    return ErrorKind::kStatementTimeout;
  }
  if (s == "25P03") {
    return ErrorKind::kIdleInTransactionTimeout;
  }
  if (s == "57P01" || s == "57P02" || s == "57P03") {
    return ErrorKind::kAdminShutdown;
  }
  if (s == "25P02") {
    return ErrorKind::kInFailedTransaction;
  }
  if (s.size() == 5 && s.substr(0, 2) == "08") {
    return ErrorKind::kConnectionFailure;
  }
  return ErrorKind::kOther;
}

std::optional<std::string> sqlstate_from_message(std::string_view message) {
  // Texts from PostgreSQL 15's backend (postinit.c, postgres.c, proc.c).
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 10> kTexts{{
      {"sorry, too many clients already", "53300"},
      {"remaining connection slots are reserved for", "53300"},
      {"too many connections for role", "53300"},
      {"too many connections for database", "53300"},
      {"terminating connection due to idle-in-transaction timeout", "25P03"},
      {"terminating connection due to administrator command", "57P01"},
      {"the database system is shutting down", "57P03"},
      {"the database system is starting up", "57P03"},
      {"canceling statement due to statement timeout", "57014"},
      {"canceling statement due to user request", "57014"},
  }};
  for (const auto& [text, state] : kTexts) {
    if (message.find(text) != std::string_view::npos) {
      return std::string{state};
    }
  }
  // Could not connect at all: 08001 (pgleak's classification, marked as
  // such). A lost established session gets none: see is_lost_connection().
  if (message.find("Connection refused") != std::string_view::npos ||
      message.find("timeout expired") != std::string_view::npos ||
      message.find("could not connect") != std::string_view::npos) {
    return std::string{"08001"};
  }
  return std::nullopt;
}

bool is_lost_connection(std::string_view message) {
  for (const std::string_view text :
       {"server closed the connection unexpectedly", "no connection to the server", "not connected",
        "Connection reset by peer", "Broken pipe", "Lost connection"}) {
    if (message.find(text) != std::string_view::npos) {
      return true;
    }
  }
  return false;
}

bool ends_session(std::string_view sqlstate) {
  const auto kind = classify_sqlstate(sqlstate);
  return kind == ErrorKind::kIdleInTransactionTimeout || kind == ErrorKind::kAdminShutdown ||
         kind == ErrorKind::kConnectionFailure || kind == ErrorKind::kTooManyConnections;
}

namespace {

// PgBouncer 1.18's texts for the errors it sends clients, and the reason each
// is counted under. Checked in order: the first fragment found wins.
constexpr std::pair<std::string_view, std::string_view> kPgBouncerErrors[] = {
    {"no more connections allowed (max_client_conn)", "max_client_conn"},
    {"query_wait_timeout", "query_wait_timeout"},
    {"idle transaction timeout", "idle_transaction_timeout"},
    {"server_login_retry", "server_login_retry"},
    {"client_login_timeout", "client_login_timeout"},
    {"client_idle_timeout", "client_idle_timeout"},
    {"query_timeout", "query_timeout"},
    {"no such database", "no_such_database"},
    {"unsupported startup parameter", "unsupported_startup_parameter"},
    {"pgbouncer cannot connect to server", "server_connect_failed"},
    {"server conn crashed?", "server_conn_crashed"},
    {"long transactions not allowed", "statement_mode_transaction"},
    {"database configuration changed", "database_configuration_changed"},
};

}  // namespace

std::string pgbouncer_error_key(std::string_view message) {
  for (const auto& [fragment, key] : kPgBouncerErrors) {
    if (message.find(fragment) != std::string_view::npos) {
      return std::string{key};
    }
  }
  return {};
}

}  // namespace pgleak::db

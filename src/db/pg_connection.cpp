#include "db/pg_connection.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "db/db_error.hpp"
#include "db/libpq_connect.hpp"
#include "db/sqlstate.hpp"
#include "fiber/sync.hpp"

namespace pgleak::db {
namespace {

// libpq's report of a session the server closed (fe-misc.c,
// pqReadData), which psycopg2 shows whole as the OperationalError's text.
constexpr std::string_view kLibpqLostConnection = "server closed the connection unexpectedly";
constexpr std::string_view kLibpqLostConnectionText =
    "server closed the connection unexpectedly\n"
    "\tThis probably means the server terminated abnormally\n"
    "\tbefore or while processing the request.";

// What psycopg2 shows for a session found gone: libpq's own words. A report
// that names no cause (a server's FATAL alone, a session already known to be
// gone) becomes libpq's text for a server that closed the session; libpq's
// other reports of a lost session (a reset, a failed send) are kept as libpq
// wrote them.
std::string as_libpq_lost_text(const std::string& what) {
  if (const auto at = what.find(kLibpqLostConnection); at != std::string::npos) {
    return at == 0 ? what : what.substr(at);
  }
  for (const std::string_view libpq :
       {"could not receive data from server", "could not send data to server",
        "no connection to the server", "SSL SYSCALL error", "SSL error"}) {
    if (what.find(libpq) != std::string::npos) {
      return what;
    }
  }
  return std::string{kLibpqLostConnectionText};
}

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

// psycopg2's text of a server error: libpq's result message without its
// severity word ("ERROR:  division by zero" is shown as "division by zero"),
// the detail and LINE lines kept.
std::string without_severity(std::string text) {
  for (const std::string_view severity : {"ERROR:  ", "FATAL:  ", "PANIC:  "}) {
    if (text.size() > severity.size() && text.starts_with(severity)) {
      return text.substr(severity.size());
    }
  }
  return text;
}

std::string millis(std::chrono::milliseconds d) {
  return std::to_string(d.count());
}

// The FATAL in a lost connection's error text, if the server's words are there.
std::string fatal_in(std::string_view text) {
  const auto at = text.find("FATAL:");
  if (at == std::string_view::npos) {
    return {};
  }
  const auto end = text.find('\n', at);
  return std::string{text.substr(at, end == std::string_view::npos ? end : end - at)};
}

// One statement's outcome, read from libpq's results without blocking the
// thread: a fiber suspends on the socket (fiber::wait_fd).
struct Outcome {
  bool lost = false;         // the session is gone
  bool failed = false;       // an error result came
  std::string message;       // its text, as libpq wrote it
  std::string sqlstate;      // its SQLSTATE, if the server sent one
  std::string all_messages;  // every error's text, and libpq's own for the session
};

bool wait_socket(PGconn* conn, short events) {
  const int fd = PQsocket(conn);
  return fd >= 0 && fiber::wait_fd(fd, events, nullptr, nullptr) > 0;
}

// Sends the query in non-blocking mode, flushing as the socket allows.
bool send_query(PGconn* conn, const std::string& sql) {
  if (PQsendQuery(conn, sql.c_str()) == 0) {
    return false;
  }
  int pending = 0;
  while ((pending = PQflush(conn)) == 1) {
    if (!wait_socket(conn, POLLOUT | POLLIN) || PQconsumeInput(conn) == 0) {
      return false;
    }
  }
  return pending == 0;
}

Outcome exec(PGconn* conn, const std::string& sql) {
  Outcome out;
  const auto note_lost = [&] {
    out.lost = true;
    out.all_messages += PQerrorMessage(conn);
  };
  if (PQstatus(conn) == CONNECTION_BAD) {
    out.lost = true;  // known gone before: libpq's words for it
    return out;
  }
  if (!send_query(conn, sql)) {
    note_lost();
    return out;
  }
  while (true) {
    // Read before waiting, as pgbench does: a server woken by the query on
    // this core often answers before the client gets back to its loop, and
    // then the answer is taken without suspending or sleeping.
    while (PQisBusy(conn) != 0) {
      if (PQconsumeInput(conn) == 0) {
        note_lost();
        return out;
      }
      if (PQisBusy(conn) == 0) {
        break;
      }
      if (!wait_socket(conn, POLLIN)) {
        note_lost();
        return out;
      }
    }
    PGresult* result = PQgetResult(conn);
    if (result == nullptr) {
      break;
    }
    if (PQresultStatus(result) == PGRES_FATAL_ERROR) {
      const char* text = PQresultErrorMessage(result);
      out.all_messages += text;
      if (!out.failed) {  // the first error is the statement's (later ones follow from it)
        out.failed = true;
        out.message = text;
        const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
        out.sqlstate = state != nullptr ? state : "";
      }
    }
    PQclear(result);
  }
  if (PQstatus(conn) == CONNECTION_BAD) {
    note_lost();
  }
  return out;
}

// libpq's notices (a FATAL that comes between statements is one) go nowhere,
// but the last FATAL is kept, at most 4 KiB of it.
void keep_fatal(void* arg, const char* message) {
  try {
    const std::string_view text{message};
    if (text.starts_with("FATAL:")) {
      static_cast<std::string*>(arg)->assign(text.substr(0, 4096));
    }
  } catch (...) {
    // keeping it is best effort
  }
}

}  // namespace

ConnInfo PgConnection::effective_conninfo(const ConnInfo& base, const SessionSettings& settings,
                                          const std::string& application_name) {
  ConnInfo info = base;
  info.set("application_name", application_name);
  for (const auto& [key, value] : settings.libpq_tcp) {
    info.set(key, value);
  }
  if (settings.statement_timeout) {
    info.add_server_option("statement_timeout", millis(*settings.statement_timeout));
  }
  if (settings.idle_in_transaction_session_timeout) {
    info.add_server_option("idle_in_transaction_session_timeout",
                           millis(*settings.idle_in_transaction_session_timeout));
  }
  return info;
}

PgConnection::PgConnection(const ConnInfo& base, const SessionSettings& settings,
                           const std::string& application_name, SocketRegistry* sockets,
                           std::stop_token stop)
    : application_name_(application_name), sockets_(sockets) {
  // libpq's connect_timeout counts whole seconds and treats anything below 2
  // as 2, so a time-compressed "10s x 0.01" could not be honoured: pgleak's
  // connect keeps a deadline to the millisecond that the run's stop cuts
  // short (db/libpq_connect.hpp).
  std::string error;
  conn_ = connect_with_deadline(effective_conninfo(base, settings, application_name).to_libpq(),
                                settings.connect_timeout.value_or(std::chrono::milliseconds{0}),
                                stop, error);
  if (conn_ == nullptr) {
    if (stop.stop_requested()) {
      throw ConnectInterrupted{};
    }
    // While connecting, a SQLSTATE is read from the refusal's text (53300,
    // 57P03, 08001), marked as classified.
    const auto state = sqlstate_from_message(error);
    throw DbError(trim(error), state.value_or(""), true, CodeSource::kClassified);
  }
  PQsetNoticeProcessor(conn_, &keep_fatal, &last_fatal_);
  PQsetnonblocking(conn_, 1);
  backend_pid_ = PQbackendPID(conn_);
  if (sockets_ != nullptr) {
    socket_ = PQsocket(conn_);
    sockets_->add(socket_);
  }
}

PgConnection::~PgConnection() {
  close();
}

DbError PgConnection::lost_error(const std::string& said) {
  tx_state_ = TxState::kUnknown;
  // libpq closes a lost connection's socket: its number may be reused by any
  // file, which a crash's shutdown_all() must never touch.
  if (sockets_ != nullptr && socket_ >= 0) {
    sockets_->remove(socket_);
    socket_ = -1;
  }
  // The server closed the session (after a FATAL such as 57P01 or 25P03, or
  // without a word): psycopg2 shows libpq's words for it and no SQLSTATE,
  // whatever the server sent before closing.
  DbError lost(as_libpq_lost_text(trim(PQerrorMessage(conn_))), "", true, CodeSource::kNone);
  auto fatal = fatal_in(said);
  if (fatal.empty()) {
    fatal = fatal_in(last_fatal_);
  }
  if (!fatal.empty()) {
    const auto state = sqlstate_from_message(fatal);
    lost.set_server_fatal(trim(fatal), state.value_or(""));
  }
  return lost;
}

void PgConnection::run(std::string_view sql, bool transactional) {
  if (conn_ == nullptr) {
    throw DbError("connection already closed", "", true, CodeSource::kNone);
  }
  const bool tagged = !pending_tag_sql_.empty();
  const auto out = exec(conn_, tagged ? pending_tag_sql_ + std::string{sql} : std::string{sql});
  if (!out.lost && !out.failed) {
    if (tagged) {
      if (transactional) {
        uncommitted_tag_sql_ = pending_tag_sql_;
      }
      pending_tag_sql_.clear();
    }
    return;
  }
  // As psycopg2 reports it: the server's SQLSTATE when a result carried one;
  // for a session that is gone, libpq's text and no SQLSTATE at all.
  if (out.lost || (!out.sqlstate.empty() && ends_session(out.sqlstate)) ||
      (out.sqlstate.empty() && is_lost_connection(out.message))) {
    throw lost_error(out.all_messages);
  }
  if (tx_state_ == TxState::kInTransaction) {
    tx_state_ = TxState::kFailed;
  }
  if (!out.sqlstate.empty()) {
    throw DbError(without_severity(trim(out.message)), out.sqlstate, false, CodeSource::kServer);
  }
  const auto state = sqlstate_from_message(out.message);
  throw DbError(trim(out.message), state.value_or(""), false, CodeSource::kClassified);
}

void PgConnection::execute(std::string_view sql) {
  run(sql, tx_state_ != TxState::kIdle);
}

void PgConnection::begin() {
  run("BEGIN", true);
  tx_state_ = TxState::kInTransaction;
}

void PgConnection::commit() {
  run("COMMIT", false);
  tx_state_ = TxState::kIdle;
  uncommitted_tag_sql_.clear();
}

void PgConnection::rollback() {
  if (tx_state_ == TxState::kIdle) {
    return;
  }
  // A tag change never rides on ROLLBACK, which would undo it.
  std::string pending = std::exchange(pending_tag_sql_, {});
  if (pending.empty()) {
    pending = std::exchange(uncommitted_tag_sql_, {});
  }
  try {
    run("ROLLBACK", false);
  } catch (...) {
    pending_tag_sql_ = std::move(pending);
    throw;
  }
  tx_state_ = TxState::kIdle;
  uncommitted_tag_sql_.clear();
  pending_tag_sql_ = std::move(pending);
}

void PgConnection::ping() {
  run("SELECT 1", tx_state_ != TxState::kIdle);
}

void PgConnection::set_application_name(const std::string& name) {
  if (conn_ == nullptr) {
    throw DbError("connection already closed", "", true, CodeSource::kNone);
  }
  char* quoted = PQescapeLiteral(conn_, name.data(), name.size());
  if (quoted == nullptr) {
    throw DbError(trim(PQerrorMessage(conn_)), "", false, CodeSource::kNone);
  }
  pending_tag_sql_ = std::string{"SET application_name = "} + quoted + "; ";
  PQfreemem(quoted);
  application_name_ = name;
}

bool PgConnection::broken_while_idle() noexcept {
  if (conn_ == nullptr || PQstatus(conn_) == CONNECTION_BAD) {
    return true;
  }
  // A terminated backend sends its FATAL (which libpq takes, between
  // queries, as a notice) and then closes: reading the end of the stream
  // is what ends the session. A few reads of what is already there.
  for (int i = 0; i < 4; ++i) {
    pollfd p{PQsocket(conn_), POLLIN, 0};
    if (p.fd < 0) {
      return true;
    }
    if (::poll(&p, 1, 0) <= 0) {
      return false;  // nothing (more) came: still there
    }
    if (PQconsumeInput(conn_) == 0 || PQstatus(conn_) == CONNECTION_BAD) {
      return true;
    }
    while (PGnotify* n = PQnotifies(conn_)) {
      PQfreemem(n);
    }
  }
  return false;
}

void PgConnection::close() noexcept {
  if (sockets_ != nullptr && socket_ >= 0) {
    sockets_->remove(socket_);  // before the descriptor can be reused
    socket_ = -1;
  }
  if (conn_ != nullptr) {
    PQfinish(conn_);
    conn_ = nullptr;
  }
  backend_pid_ = 0;
}

std::unique_ptr<Connection> PgConnectionFactory::open(const ConnectRequest& request) {
  return std::make_unique<PgConnection>(target_, settings_, request.application_name, sockets_,
                                        stop_);
}

}  // namespace pgleak::db

#include "db/pg_connection.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <pqxx/connection>
#include <pqxx/errorhandler>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <utility>

#include "db/db_error.hpp"
#include "db/libpq_connect.hpp"
#include "db/sqlstate.hpp"

namespace pgleak::db {
namespace {

// libpq's report of a session the server closed (fe-misc.c,
// pqReadData), which psycopg2 shows whole as the OperationalError's text.
constexpr std::string_view kLibpqLostConnection = "server closed the connection unexpectedly";
constexpr std::string_view kLibpqLostConnectionText =
    "server closed the connection unexpectedly\n"
    "\tThis probably means the server terminated abnormally\n"
    "\tbefore or while processing the request.";

// What psycopg2 shows for a session found gone: libpq's own words. libpqxx
// can notice first and say it in words of its own ("Could not obtain client
// encoding: not connected.", "Lost connection to the database server."),
// which no Python application ever sees: those become libpq's text for a
// server that closed the session. libpq's other reports of a lost session
// (a reset, a failed send) are kept as libpq wrote them.
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

// As psycopg2 reports it: the server's SQLSTATE when a result carried one;
// for a session that is gone, libpq's text and no SQLSTATE at all; while
// connecting, a SQLSTATE pgleak reads from the refusal's text (53300, 57P03,
// 08001), marked as classified.
[[noreturn]] void rethrow_as_db_error(bool connecting) {
  const auto classified = [](const std::string& message, bool gone) {
    const auto state = sqlstate_from_message(message);
    return DbError(trim(message), state.value_or(""), gone || (state && ends_session(*state)),
                   CodeSource::kClassified);
  };
  try {
    throw;
  } catch (const pqxx::sql_error& e) {
    if (!e.sqlstate().empty()) {
      throw DbError(without_severity(trim(e.what())), e.sqlstate(), ends_session(e.sqlstate()),
                    CodeSource::kServer);
    }
    if (is_lost_connection(e.what())) {
      throw DbError(trim(e.what()), "", true, CodeSource::kNone);
    }
    throw classified(e.what(), false);
  } catch (const pqxx::broken_connection& e) {
    if (connecting) {
      throw classified(e.what(), true);
    }
    throw DbError(trim(e.what()), "", true, CodeSource::kNone);
  } catch (const pqxx::failure& e) {
    // libpqxx raises plain failures for a lost connection in some paths.
    if (is_lost_connection(e.what())) {
      throw DbError(trim(e.what()), "", true, CodeSource::kNone);
    }
    throw classified(e.what(), false);
  }
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

}  // namespace

// libpq's notices (a FATAL that comes between statements is one) go nowhere,
// but the last FATAL is kept, at most 4 KiB of it.
class FatalNotices final : public pqxx::errorhandler {
 public:
  explicit FatalNotices(pqxx::connection_base& conn) : pqxx::errorhandler(conn) {}
  bool operator()(const char message[]) noexcept override {
    try {
      const std::string_view text{message};
      if (text.starts_with("FATAL:")) {
        last_fatal.assign(text.substr(0, 4096));
      }
    } catch (...) {
      // keeping it is best effort
    }
    return false;  // no other handler: quiet
  }
  std::string last_fatal;
};

// What the thread constructing a PgConnection hands to its connection policy:
// libpqxx builds the policy from an options string alone.
struct ConnectContext {
  std::chrono::milliseconds deadline{0};
  std::stop_token stop;
};
thread_local const ConnectContext* t_connect_context = nullptr;

// libpq's connect_timeout counts whole seconds and treats anything below 2 as 2,
// so a time-compressed "10s x 0.01" could not be honoured. This connection
// policy (libpqxx's extension point for how a connection is opened) opens
// with a millisecond deadline that the run's stop cuts short
// (db/libpq_connect.hpp).
class DeadlineConnect final : public pqxx::connectionpolicy {
 public:
  explicit DeadlineConnect(const std::string& opts) : pqxx::connectionpolicy{opts} {}

  handle do_startconnect(handle orig) override {
    if (orig != nullptr) {
      return orig;
    }
    static const ConnectContext kNone;
    const auto* context = t_connect_context != nullptr ? t_connect_context : &kNone;
    std::string error;
    PGconn* conn = connect_with_deadline(options(), context->deadline, context->stop, error);
    if (conn == nullptr) {
      throw pqxx::broken_connection{error};
    }
    return conn;
  }
};

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
  const ConnectContext context{settings.connect_timeout.value_or(std::chrono::milliseconds{0}),
                               std::move(stop)};
  t_connect_context = &context;
  struct Reset {
    ~Reset() { t_connect_context = nullptr; }
  } reset;
  try {
    conn_ = std::make_unique<pqxx::basic_connection_base<DeadlineConnect>>(
        effective_conninfo(base, settings, application_name).to_libpq());
    // libpqxx 6 silently reconnects a broken session on next use; a pool
    // harness must see the break, as psycopg2 does.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    conn_->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    notices_ = std::make_unique<FatalNotices>(*conn_);
    backend_pid_ = conn_->backendpid();
    if (sockets_ != nullptr) {
      socket_ = conn_->sock();
      sockets_->add(socket_);
    }
  } catch (...) {
    rethrow_as_db_error(/*connecting=*/true);
  }
}

PgConnection::~PgConnection() {
  close();
}

void PgConnection::run(std::string_view sql, bool transactional) {
  if (!conn_) {
    throw DbError("connection already closed", "", true, CodeSource::kNone);
  }
  try {
    pqxx::nontransaction tx{*conn_};
    if (pending_tag_sql_.empty()) {
      tx.exec(std::string{sql});
    } else {
      tx.exec(pending_tag_sql_ + std::string{sql});
      if (transactional) {
        uncommitted_tag_sql_ = pending_tag_sql_;
      }
      pending_tag_sql_.clear();
    }
  } catch (...) {
    try {
      rethrow_as_db_error(/*connecting=*/false);
    } catch (const DbError& e) {
      if (e.disconnected() || !conn_->is_open()) {
        tx_state_ = TxState::kUnknown;
        // libpq closes a lost connection's socket: its number may be reused
        // by any file, which a crash's shutdown_all() must never touch.
        if (sockets_ != nullptr && socket_ >= 0) {
          sockets_->remove(socket_);
          socket_ = -1;
        }
        // The server closed the session (after a FATAL such as 57P01 or
        // 25P03, or without a word): psycopg2 shows libpq's words for it and
        // no SQLSTATE, whatever the server sent before closing.
        DbError lost(as_libpq_lost_text(e.what()), "", true, CodeSource::kNone);
        auto fatal = fatal_in(e.what());
        if (fatal.empty() && notices_) {
          fatal = fatal_in(notices_->last_fatal);
        }
        if (!fatal.empty()) {
          const auto state = sqlstate_from_message(fatal);
          lost.set_server_fatal(trim(fatal), state.value_or(""));
        }
        throw lost;
      } else if (tx_state_ == TxState::kInTransaction) {
        tx_state_ = TxState::kFailed;
      }
      throw;
    }
  }
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
  if (!conn_) {
    throw DbError("connection already closed", "", true, CodeSource::kNone);
  }
  pending_tag_sql_ = "SET application_name = " + conn_->quote(name) + "; ";
  application_name_ = name;
}

bool PgConnection::broken_while_idle() noexcept {
  if (!conn_) {
    return true;
  }
  try {
    // A terminated backend sends its FATAL (which libpq takes, between
    // queries, as a notice) and then closes: reading the end of the stream
    // is what ends the session. A few reads of what is already there.
    for (int i = 0; i < 4; ++i) {
      pollfd p{conn_->sock(), POLLIN, 0};
      if (p.fd < 0) {
        return true;
      }
      if (::poll(&p, 1, 0) <= 0) {
        return false;  // nothing (more) came: still there
      }
      conn_->get_notifs();  // the end of the stream throws broken_connection
      if (!conn_->is_open()) {
        return true;
      }
    }
    return false;
  } catch (const std::exception&) {
    return true;
  }
}

void PgConnection::close() noexcept {
  if (sockets_ != nullptr && socket_ >= 0) {
    sockets_->remove(socket_);  // before the descriptor can be reused
    socket_ = -1;
  }
  notices_.reset();
  conn_.reset();
  backend_pid_ = 0;
}

std::unique_ptr<Connection> PgConnectionFactory::open(const ConnectRequest& request) {
  return std::make_unique<PgConnection>(target_, settings_, request.application_name, sockets_,
                                        stop_);
}

}  // namespace pgleak::db

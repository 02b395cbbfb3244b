#include "db/pg_connection.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <pqxx/connection>
#include <pqxx/errorhandler>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <utility>

#include "db/db_error.hpp"
#include "db/sqlstate.hpp"

namespace pgleak::db {
namespace {

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

// Where libpq reports a failure without a SQLSTATE, recover it from the text;
// a broken session without a recognisable text is 08006 (connection failure).
[[noreturn]] void rethrow_as_db_error() {
  try {
    throw;
  } catch (const pqxx::sql_error& e) {
    std::string state = e.sqlstate();
    if (state.empty()) {
      state = sqlstate_from_message(e.what()).value_or("");
    }
    throw DbError(trim(e.what()), state, ends_session(state));
  } catch (const pqxx::broken_connection& e) {
    throw DbError(trim(e.what()), sqlstate_from_message(e.what()).value_or("08006"), true);
  } catch (const pqxx::failure& e) {
    // libpqxx raises plain failures for a lost connection in some paths.
    const auto state = sqlstate_from_message(e.what());
    throw DbError(trim(e.what()), state.value_or(""), state.has_value() && ends_session(*state));
  }
}

std::string millis(std::chrono::milliseconds d) {
  return std::to_string(d.count());
}

}  // namespace

// libpq's connect_timeout counts whole seconds and treats anything below 2 as 2,
// so a time-compressed "10s x 0.01" could not be honoured. This connection
// policy (libpqxx's extension point for how a connection is opened) drives
// libpq's non-blocking connect with a millisecond deadline instead. The
// deadline travels in front of the conninfo: "<ms>\n<conninfo>" (0 = none).
class DeadlineConnect final : public pqxx::connectionpolicy {
 public:
  explicit DeadlineConnect(const std::string& opts) : pqxx::connectionpolicy{opts} {}

  static std::string encode(std::chrono::milliseconds deadline, const std::string& conninfo) {
    return std::to_string(deadline.count()) + "\n" + conninfo;
  }

  handle do_startconnect(handle orig) override {
    if (orig != nullptr) {
      return orig;
    }
    const auto& opts = options();
    const auto nl = opts.find('\n');
    const long long budget_ms = std::stoll(opts.substr(0, nl));
    const std::string conninfo = opts.substr(nl + 1);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{budget_ms};
    const auto timed_out = "timeout expired (connect_timeout " + std::to_string(budget_ms) + "ms)";

    PGconn* conn = PQconnectStart(conninfo.c_str());
    if (conn == nullptr) {
      throw pqxx::broken_connection{"out of memory"};
    }
    auto fail = [&](const std::string& why) {
      PQfinish(conn);
      throw pqxx::broken_connection{why};
    };
    PostgresPollingStatusType status = PGRES_POLLING_WRITING;
    while (status != PGRES_POLLING_OK) {
      if (status == PGRES_POLLING_FAILED || PQstatus(conn) == CONNECTION_BAD) {
        fail(PQerrorMessage(conn));
      }
      int wait_ms = -1;  // no deadline: as long as libpq takes
      if (budget_ms > 0) {
        const auto left = deadline - std::chrono::steady_clock::now();
        if (left <= std::chrono::steady_clock::duration::zero()) {
          fail(timed_out);
        }
        // poll() counts whole milliseconds: round up, never fire early.
        wait_ms = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
      }
      const auto events = status == PGRES_POLLING_READING ? POLLIN : POLLOUT;
      pollfd p{PQsocket(conn), static_cast<short>(events), 0};
      const int ready = ::poll(&p, 1, wait_ms);
      if (ready < 0 && errno != EINTR) {
        fail("poll failed while connecting");
      }
      if (ready > 0) {
        status = PQconnectPoll(conn);
      }  // else: the deadline is checked at the top of the loop
    }
    return conn;
  }
};

ConnInfo PgConnection::effective_conninfo(const ConnInfo& base, const SessionSettings& settings,
                                          const std::string& application_name) {
  ConnInfo info = base;
  info.set("application_name", application_name);
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
                           const std::string& application_name)
    : application_name_(application_name) {
  const std::string conninfo =
      DeadlineConnect::encode(settings.connect_timeout.value_or(std::chrono::milliseconds{0}),
                              effective_conninfo(base, settings, application_name).to_libpq());
  try {
    conn_ = std::make_unique<pqxx::basic_connection_base<DeadlineConnect>>(conninfo);
    // libpqxx 6 silently reconnects a broken session on next use; a pool
    // harness must see the break, as psycopg2 does.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    conn_->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    quiet_ = std::make_unique<pqxx::quiet_errorhandler>(*conn_);
    backend_pid_ = conn_->backendpid();
  } catch (...) {
    rethrow_as_db_error();
  }
}

PgConnection::~PgConnection() {
  close();
}

void PgConnection::run(std::string_view sql, bool transactional) {
  if (!conn_) {
    throw DbError("connection is closed", "08003", true);
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
      rethrow_as_db_error();
    } catch (const DbError& e) {
      if (e.disconnected()) {
        tx_state_ = TxState::kUnknown;
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
    throw DbError("connection is closed", "08003", true);
  }
  pending_tag_sql_ = "SET application_name = " + conn_->quote(name) + "; ";
  application_name_ = name;
}

void PgConnection::close() noexcept {
  quiet_.reset();
  conn_.reset();
  backend_pid_ = 0;
}

std::unique_ptr<Connection> PgConnectionFactory::open(const ConnectRequest& request) {
  return std::make_unique<PgConnection>(target_, settings_, request.application_name);
}

}  // namespace pgleak::db

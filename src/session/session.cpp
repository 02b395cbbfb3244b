#include "session/session.hpp"

#include <utility>

namespace pgleak::session {

PendingRollbackError::PendingRollbackError() : std::runtime_error(kMessage) {}

Session::Session(pool::Pool& pool, pool::CheckoutRequest request, std::stop_token stop)
    : pool_(&pool), request_(std::move(request)), stop_(std::move(stop)) {}

Session::Session(Session&& other) noexcept
    : pool_(other.pool_),
      request_(std::move(other.request_)),
      stop_(std::move(other.stop_)),
      conn_(std::move(other.conn_)),
      needs_rollback_(std::exchange(other.needs_rollback_, false)) {
  other.conn_.reset();  // a moved-from optional still holds a (moved-from) value
}

Session::~Session() {
  discard();
}

Session& Session::operator=(Session&& other) noexcept {
  if (this != &other) {
    discard();
    pool_ = other.pool_;
    request_ = std::move(other.request_);
    stop_ = std::move(other.stop_);
    conn_ = std::move(other.conn_);
    other.conn_.reset();
    needs_rollback_ = std::exchange(other.needs_rollback_, false);
  }
  return *this;
}

void Session::use_as(pool::CheckoutRequest request, std::stop_token stop) {
  request_ = std::move(request);
  stop_ = std::move(stop);
}

void Session::lose_connection() {
  if (conn_) {
    conn_->invalidate();
    conn_.reset();  // back to the pool, closed: the pool opens a new one later
  }
}

template <typename Work>
void Session::on_connection(Work work) {
  try {
    work(**conn_);
  } catch (const db::DbError& e) {
    if (e.disconnected()) {
      lose_connection();
      needs_rollback_ = true;  // inside the transaction: rollback() is due
    }
    throw;
  }
}

void Session::execute(std::string_view sql) {
  if (needs_rollback_) {
    throw PendingRollbackError{};
  }
  if (!conn_) {
    try {
      conn_ = pool_->checkout(request_, stop_);  // autobegin
    } catch (const db::DbError& e) {
      throw ConnectFailed{e};
    }
  }
  on_connection([&](db::Connection& c) {
    if (c.tx_state() == db::TxState::kIdle) {
      c.begin();
    }
    c.execute(sql);
  });
}

void Session::commit() {
  if (needs_rollback_) {
    throw PendingRollbackError{};
  }
  if (!conn_) {
    return;
  }
  on_connection([](db::Connection& c) { c.commit(); });
  conn_.reset();  // back to the pool; its reset-on-return has nothing to undo
}

void Session::rollback() {
  needs_rollback_ = false;
  if (!conn_) {
    return;
  }
  try {
    (*conn_)->rollback();
  } catch (const db::DbError& e) {
    if (e.disconnected()) {
      lose_connection();  // invalidated: the pool discards it
    }
    throw;  // SQLAlchemy re-raises the DBAPI error (OperationalError)
  }
  conn_.reset();
}

void Session::close() {
  try {
    rollback();
  } catch (...) {
    lose_connection();  // SQLAlchemy invalidates a connection whose reset fails
    needs_rollback_ = false;
    throw;
  }
}

void Session::discard() noexcept {
  try {
    close();
  } catch (...) {
    // Collected, or closed by no application code: nobody sees the error.
  }
}

}  // namespace pgleak::session

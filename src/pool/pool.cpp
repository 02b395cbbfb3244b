#include "pool/pool.hpp"

#include <utility>

namespace pgleak::pool {

PooledConnection Pool::hand_out(std::unique_ptr<Slot> slot) {
  return PooledConnection{this, std::move(slot)};
}

PooledConnection::PooledConnection(PooledConnection&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), slot_(std::move(other.slot_)) {}

PooledConnection& PooledConnection::operator=(PooledConnection&& other) noexcept {
  if (this != &other) {
    release();
    pool_ = std::exchange(other.pool_, nullptr);
    slot_ = std::move(other.slot_);
  }
  return *this;
}

PooledConnection::~PooledConnection() {
  release();
}

void PooledConnection::invalidate() {
  if (slot_) {
    pool_->invalidate(*slot_);
  }
}

void PooledConnection::release() noexcept {
  if (slot_) {
    pool_->checkin(std::move(slot_));
  }
}

}  // namespace pgleak::pool

#pragma once

#include <optional>

#include "util/duration.hpp"

namespace pgleak::pool {

// The knobs of SQLAlchemy's QueuePool, with its meanings and defaults.
struct PoolConfig {
  // Connections kept open while idle. 0 means no limit (and then, as in
  // SQLAlchemy, max_overflow is ignored).
  int pool_size = 5;
  // Extra connections beyond pool_size; -1 means no limit.
  int max_overflow = 10;
  // How long checkout waits once pool_size + max_overflow are out.
  util::Micros timeout = std::chrono::seconds{30};
  // Connections older than this (since opened) are replaced at checkout.
  std::optional<util::Micros> recycle;
  // Round trip at checkout; a dead connection is replaced.
  bool pre_ping = false;
  // Hand out the most recently returned connection first.
  bool use_lifo = false;
  // Roll back on return (SQLAlchemy's reset_on_return="rollback").
  bool reset_on_return = true;
  // SQLAlchemy's NullPool instead of a QueuePool: every checkout opens a new
  // connection and every check-in closes it; nothing is kept, nothing waits,
  // and there is no limit (pool_size and max_overflow do not apply).
  bool null_pool = false;
};

}  // namespace pgleak::pool

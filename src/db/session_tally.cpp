#include "db/session_tally.hpp"

namespace pgleak::db {

void SessionTally::opened() {
  const int now_open = open_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (now_open <= peak_open_.load(std::memory_order_relaxed)) {
    return;
  }
  // Two sessions opening at once may take the lock in either order: the
  // higher count each saw is kept, with the moment its own session set it.
  std::lock_guard lock{mutex_};
  if (now_open > peak_.open) {
    peak_ = {now_open, Clock::now()};
    peak_open_.store(now_open, std::memory_order_relaxed);
  }
}

void SessionTally::closed() {
  open_.fetch_sub(1, std::memory_order_relaxed);
}

SessionTally::Peak SessionTally::peak() const {
  std::lock_guard lock{mutex_};
  return peak_;
}

}  // namespace pgleak::db

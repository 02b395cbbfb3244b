#include "db/session_tally.hpp"

namespace pgleak::db {

void SessionTally::opened() {
  std::lock_guard lock{mutex_};
  if (++open_ > peak_.open) {
    peak_ = {open_, Clock::now()};
  }
}

void SessionTally::closed() {
  std::lock_guard lock{mutex_};
  --open_;
}

int SessionTally::open() const {
  std::lock_guard lock{mutex_};
  return open_;
}

SessionTally::Peak SessionTally::peak() const {
  std::lock_guard lock{mutex_};
  return peak_;
}

}  // namespace pgleak::db

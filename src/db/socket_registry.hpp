#pragma once

#include <mutex>
#include <set>

#include "db/session_tally.hpp"

namespace pgleak::db {

// The sockets of one run's worker sessions, so that a forced stop can cut
// every one of them at once (shutdown(2)): a worker blocked in a statement on
// a server that no longer answers then returns with a broken connection
// instead of hanging the run. Only the sessions' own descriptors are ever
// touched, and only while registered (a session unregisters before it closes).
//
// Each socket added and removed is also counted in the run's SessionTally,
// where one is given.
//
// Thread-safety: every member may be called from any thread, but count_in()
// only before the first add().
class SocketRegistry {
 public:
  void count_in(SessionTally* tally) { tally_ = tally; }
  void add(int fd);
  void remove(int fd);
  // shutdown(SHUT_RDWR) on every registered socket; returns how many.
  int shutdown_all();

 private:
  std::mutex mutex_;
  std::multiset<int> fds_;
  SessionTally* tally_ = nullptr;
};

}  // namespace pgleak::db

#pragma once

#include <mutex>
#include <set>

namespace pgleak::db {

// The sockets of one run's worker sessions, so that a forced stop can cut
// every one of them at once (shutdown(2)): a worker blocked in a statement on
// a server that no longer answers then returns with a broken connection
// instead of hanging the run. Only the sessions' own descriptors are ever
// touched, and only while registered (a session unregisters before it closes).
//
// Thread-safety: every member may be called from any thread.
class SocketRegistry {
 public:
  void add(int fd);
  void remove(int fd);
  // shutdown(SHUT_RDWR) on every registered socket; returns how many.
  int shutdown_all();

 private:
  std::mutex mutex_;
  std::multiset<int> fds_;
};

}  // namespace pgleak::db

#include "db/socket_registry.hpp"

#include <sys/socket.h>

namespace pgleak::db {

void SocketRegistry::add(int fd) {
  if (fd >= 0) {
    std::lock_guard lock{mutex_};
    fds_.insert(fd);
  }
}

void SocketRegistry::remove(int fd) {
  std::lock_guard lock{mutex_};
  if (const auto it = fds_.find(fd); it != fds_.end()) {
    fds_.erase(it);
  }
}

int SocketRegistry::shutdown_all() {
  std::lock_guard lock{mutex_};
  for (const int fd : fds_) {
    ::shutdown(fd, SHUT_RDWR);
  }
  return static_cast<int>(fds_.size());
}

}  // namespace pgleak::db

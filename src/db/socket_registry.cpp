#include "db/socket_registry.hpp"

#include <sys/socket.h>

namespace pgleak::db {

void SocketRegistry::add(int fd) {
  if (fd < 0) {
    return;
  }
  {
    std::lock_guard lock{mutex_};
    fds_.insert(fd);
  }
  if (tally_ != nullptr) {
    tally_->opened();
  }
}

void SocketRegistry::remove(int fd) {
  {
    std::lock_guard lock{mutex_};
    const auto it = fds_.find(fd);
    if (it == fds_.end()) {
      return;
    }
    fds_.erase(it);
  }
  if (tally_ != nullptr) {
    tally_->closed();
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

#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <vector>

namespace pgleak::testing {

// A TCP listener on 127.0.0.1 that never accepts and never answers: the
// kernel completes the handshake into the backlog, the client sends its
// startup packet, and nothing comes back. What connect_timeout is for.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 64) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("cannot set up the silent listener");
    }
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() {
    for (const int c : clients_) {
      ::close(c);
    }
    ::close(fd_);
  }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;

  int port() const { return port_; }

  // Waits until a client's connection sits in the queue (the kernel completed
  // its handshake), takes it and keeps it open, unanswered; false on timeout.
  bool wait_for_client(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) {
      return false;
    }
    const int client = ::accept(fd_, nullptr, nullptr);
    if (client < 0) {
      return false;
    }
    clients_.push_back(client);
    return true;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::vector<int> clients_;
};

}  // namespace pgleak::testing

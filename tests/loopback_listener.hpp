#pragma once

// A TCP listener on 127.0.0.1 at a free port, for tests that stand a server
// of their own behind what they test (the relay).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace pgleak::test_support {

struct LoopbackListener {
  int fd = -1;
  int port = 0;
};

// -1 in fd when it could not listen.
inline LoopbackListener listen_on_loopback(int backlog) {
  LoopbackListener l;
  l.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (l.fd < 0 || ::bind(l.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(l.fd, backlog) != 0 ||
      ::getsockname(l.fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (l.fd >= 0) {
      ::close(l.fd);
    }
    return {};
  }
  l.port = ntohs(a.sin_port);
  return l;
}

}  // namespace pgleak::test_support

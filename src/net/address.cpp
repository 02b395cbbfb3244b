#include "net/address.hpp"

#include <fmt/format.h>
#include <netdb.h>
#include <sys/un.h>

#include <cstring>

#include "util/errors.hpp"

namespace pgleak::net {

// The target's address: a socket directory's .s.PGSQL.<port>, or the first
// address `host` resolves to.
void resolve_target(const std::string& host, int port, sockaddr_storage& out, socklen_t& len) {
  if (!host.empty() && host.front() == '/') {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    const auto path = fmt::format("{}/.s.PGSQL.{}", host, port);
    if (path.size() >= sizeof un.sun_path) {
      throw util::InfrastructureError("the target's socket path is too long");
    }
    std::memcpy(un.sun_path, path.c_str(), path.size() + 1);
    std::memcpy(&out, &un, sizeof un);
    len = sizeof un;
    return;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    throw util::InfrastructureError(
        fmt::format("cannot resolve the target's host: {}", ::gai_strerror(rc)));
  }
  std::memcpy(&out, found->ai_addr, found->ai_addrlen);
  len = found->ai_addrlen;
  ::freeaddrinfo(found);
}

}  // namespace pgleak::net

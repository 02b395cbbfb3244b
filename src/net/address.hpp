#pragma once

// Where a libpq-style host and port lead, as a socket address.
//
// Thread-safety: a pure function (getaddrinfo is thread-safe).

#include <sys/socket.h>

#include <string>

namespace pgleak::net {

// A host that starts with '/' is a socket directory (its .s.PGSQL.<port>),
// as in libpq; anything else is resolved, and its first address taken.
// Throws util::InfrastructureError when it cannot be.
void resolve_target(const std::string& host, int port, sockaddr_storage& out, socklen_t& len);

}  // namespace pgleak::net

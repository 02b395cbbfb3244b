#include "server/plumbing.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/errors.hpp"

namespace pgleak::server {

namespace fs = std::filesystem;

db::ConnInfo local_conninfo(const std::string& host, int port, const std::string& dbname,
                            const std::string& user) {
  db::ConnInfo info;
  info.set("host", host);
  info.set("port", std::to_string(port));
  info.set("dbname", dbname);
  info.set("user", user);
  return info;
}

void check_socket_dir(const std::filesystem::path& dir) {
  if ((dir / ".s.PGSQL.65535").string().size() >= 107) {
    throw util::InfrastructureError("temp dir path too long for a unix socket: " + dir.string() +
                                    " (set TMPDIR to a shorter path)");
  }
}

int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw util::InfrastructureError("cannot create a socket to find a free port");
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  if (port == 0) {
    throw util::InfrastructureError("cannot find a free port on 127.0.0.1");
  }
  return port;
}

std::string read_file(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return {};
  }
  std::string text;
  char buf[8192];
  ssize_t n = 0;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 && text.size() < (1u << 20)) {
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

void write_new_file(const fs::path& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) {
    throw util::InfrastructureError("cannot write " + path.string() + ": " + std::strerror(errno));
  }
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok) {
    throw util::InfrastructureError("cannot write " + path.string());
  }
}

}  // namespace pgleak::server

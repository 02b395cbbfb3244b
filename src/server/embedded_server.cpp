#include "server/embedded_server.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <sstream>

#include "db/own_session.hpp"
#include "util/errors.hpp"

namespace fs = std::filesystem;

namespace pgleak::server {
namespace {

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

fs::path temp_base() {
  const char* tmp = std::getenv("TMPDIR");
  return (tmp != nullptr && *tmp != '\0') ? fs::path{tmp} : fs::path{"/tmp"};
}

std::string read_file(const fs::path& path) {
  std::ifstream in{path};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

std::string find_pg_bin_dir(const std::string& hint) {
  std::string dir = hint;
  if (dir.empty()) {
    if (const char* env = std::getenv("PGLEAK_PG_BIN"); env != nullptr) {
      dir = env;
    }
  }
  if (dir.empty()) {
    int best = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator{"/usr/lib/postgresql", ec}) {
      const int major = std::atoi(entry.path().filename().c_str());
      if (major > best && fs::exists(entry.path() / "bin" / "initdb")) {
        best = major;
        dir = (entry.path() / "bin").string();
      }
    }
  }
  if (dir.empty() || !fs::exists(fs::path{dir} / "initdb") ||
      !fs::exists(fs::path{dir} / "pg_ctl")) {
    throw util::InfrastructureError(
        "cannot find initdb and pg_ctl (looked in $PGLEAK_PG_BIN and /usr/lib/postgresql/*/bin); "
        "install postgresql-15 or set PGLEAK_PG_BIN");
  }
  return dir;
}

std::string EmbeddedServer::tool(const char* name) const {
  return bin_dir_ + "/" + name;
}

int EmbeddedServer::pg_ctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{tool("pg_ctl"), "-D", data_dir().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(argv, (dir_ / "pg_ctl.log").string(), run_as_, dir_.string());
}

std::string EmbeddedServer::log_tail() const {
  std::string all = read_file(log_path()) + read_file(dir_ / "pg_ctl.log");
  constexpr size_t kTail = 1500;
  return all.size() > kTail ? "..." + all.substr(all.size() - kTail) : all;
}

std::unique_ptr<EmbeddedServer> EmbeddedServer::start(const EmbeddedServerOptions& options) {
  std::unique_ptr<EmbeddedServer> server{new EmbeddedServer};
  server->bin_dir_ = find_pg_bin_dir(options.bin_dir);
  server->run_as_ = server_account();

  std::string pattern = (temp_base() / "pgleak-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw util::InfrastructureError("cannot create a temp dir under " + temp_base().string() +
                                    ": " + std::strerror(errno));
  }
  server->dir_ = pattern;
  // From here on the destructor removes the directory whatever fails.
  std::ofstream{server->dir_ / "pgleak.pid"} << ::getpid() << "\n";
  if (server->run_as_) {
    if (::chown(server->dir_.c_str(), server->run_as_->uid, server->run_as_->gid) != 0) {
      throw util::InfrastructureError("cannot give " + server->dir_.string() +
                                      " to postgres: " + std::strerror(errno));
    }
  }
  const auto socket_path = server->dir_ / ".s.PGSQL.65535";
  if (socket_path.string().size() >= 107) {
    throw util::InfrastructureError("temp dir path too long for a unix socket: " +
                                    server->dir_.string() + " (set TMPDIR to a shorter path)");
  }

  const int init =
      run_program({server->tool("initdb"), "-D", server->data_dir().string(), "-A", "trust", "-N",
                   "-U", "pgleak", "-E", "UTF8", "--locale=C"},
                  (server->dir_ / "initdb.log").string(), server->run_as_, server->dir_.string());
  if (init != 0) {
    throw util::InfrastructureError(
        fmt::format("initdb failed (exit {}):\n{}", init, read_file(server->dir_ / "initdb.log")));
  }

  for (int attempt = 0; attempt < 5; ++attempt) {
    server->port_ = free_loopback_port();
    {
      // postgresql.auto.conf is read after postgresql.conf and is ours alone.
      std::ofstream conf{server->data_dir() / "postgresql.auto.conf", std::ios::trunc};
      conf << "listen_addresses = '127.0.0.1'\n"
           << "port = " << server->port_ << "\n"
           << "unix_socket_directories = '" << server->dir_.string() << "'\n"
           << "max_connections = " << options.max_connections << "\n"
           << "superuser_reserved_connections = " << options.superuser_reserved_connections
           << "\n"
           // Throwaway data: durability costs time and nothing here needs it.
           << "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
           << "shared_buffers = '32MB'\n"
           // Fixed English messages: 53300's text is how libpq reports it.
           << "lc_messages = 'C'\n"
           << "log_line_prefix = '%m [%p] %q%a '\n"
           // The structured log carries SQLSTATE, pid and application_name per line.
           << "logging_collector = on\nlog_destination = 'stderr,jsonlog'\n"
           << "log_directory = '" << (server->dir_ / "log").string() << "'\n"
           << "log_filename = 'postgresql.log'\nlog_rotation_age = 0\nlog_rotation_size = 0\n";
    }
    const int rc = server->pg_ctl({"-l", server->log_path().string(), "-w", "-t", "60", "start"});
    if (rc == 0) {
      server->running_ = true;
      break;
    }
    const auto tail = server->log_tail();
    if (tail.find("could not bind") == std::string::npos &&
        tail.find("Address already in use") == std::string::npos) {
      throw util::InfrastructureError(
          fmt::format("PostgreSQL did not start (pg_ctl exit {}):\n{}", rc, tail));
    }
  }
  if (!server->running_) {
    throw util::InfrastructureError("PostgreSQL did not start: no free port after 5 attempts");
  }

  try {
    const auto admin = db::open_own_session(server->superuser_conninfo(), "pgleak-setup");
    pqxx::nontransaction tx{*admin};
    tx.exec("CREATE ROLE pgleak_app LOGIN NOSUPERUSER");
  } catch (const std::exception& e) {
    throw util::InfrastructureError(std::string{"cannot prepare the embedded server: "} + e.what());
  }
  return server;
}

db::ConnInfo EmbeddedServer::superuser_conninfo() const {
  db::ConnInfo info;
  info.set("host", "127.0.0.1");
  info.set("port", std::to_string(port_));
  info.set("dbname", "postgres");
  info.set("user", "pgleak");
  return info;
}

db::ConnInfo EmbeddedServer::app_conninfo() const {
  db::ConnInfo info = superuser_conninfo();
  info.set("user", "pgleak_app");
  return info;
}

void EmbeddedServer::restart() {
  const int rc = pg_ctl({"-l", log_path().string(), "-m", "fast", "-w", "-t", "60", "restart"});
  if (rc != 0) {
    throw util::InfrastructureError(
        fmt::format("pg_ctl restart failed (exit {}):\n{}", rc, log_tail()));
  }
}

void EmbeddedServer::stop() noexcept {
  if (dir_.empty()) {
    return;
  }
  try {
    if (running_ && pg_ctl({"-m", "fast", "-w", "-t", "30", "stop"}) != 0) {
      if (pg_ctl({"-m", "immediate", "-w", "-t", "30", "stop"}) != 0) {
        // Last resort: the postmaster's pid is the first line of postmaster.pid.
        std::ifstream pidfile{data_dir() / "postmaster.pid"};
        pid_t pid = 0;
        if (pidfile >> pid && pid > 0) {
          ::kill(pid, SIGKILL);
        }
      }
    }
  } catch (...) {
  }
  running_ = false;
  std::error_code ec;
  fs::remove_all(dir_, ec);
  dir_.clear();
}

EmbeddedServer::~EmbeddedServer() {
  stop();
}

int EmbeddedServer::reap_orphans(const std::string& bin_dir_hint) {
  int reaped = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator{temp_base(), ec}) {
    const auto name = entry.path().filename().string();
    if (name.rfind("pgleak-", 0) != 0 || !fs::exists(entry.path() / "pgleak.pid")) {
      continue;
    }
    std::ifstream in{entry.path() / "pgleak.pid"};
    pid_t owner = 0;
    if (!(in >> owner) || owner <= 0 || ::kill(owner, 0) == 0 || errno != ESRCH) {
      continue;  // its pgleak is alive (or we cannot tell): not ours to touch
    }
    try {
      EmbeddedServer orphan;
      orphan.dir_ = entry.path();
      orphan.bin_dir_ = find_pg_bin_dir(bin_dir_hint);
      orphan.run_as_ = server_account();
      orphan.running_ = fs::exists(orphan.data_dir() / "postmaster.pid");
      orphan.stop();
      ++reaped;
    } catch (...) {
    }
  }
  return reaped;
}

}  // namespace pgleak::server

#include "server/pgbouncer.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "server/embedded_server.hpp"
#include "server/plumbing.hpp"
#include "util/errors.hpp"

namespace pgleak::server {
namespace fs = std::filesystem;

namespace {

std::string seconds(const util::ScaledDuration& d) {
  return fmt::format("{:.3f}", util::to_seconds(d.applied));
}

std::string tail_of(const std::string& text, size_t lines) {
  size_t at = text.size();
  for (size_t n = 0; n <= lines && at > 0; ++n) {
    at = text.rfind('\n', at - 1);
    if (at == std::string::npos) {
      return text;
    }
  }
  return text.substr(at + 1);
}

}  // namespace

std::string find_pgbouncer() {
  const char* env = std::getenv("PGLEAK_PGBOUNCER");
  const std::string path = env != nullptr && *env != '\0' ? env : "/usr/sbin/pgbouncer";
  if (::access(path.c_str(), X_OK) != 0) {
    throw util::InfrastructureError(
        "the scenario puts PgBouncer in the path, but " + path +
        " is not there (install Debian's pgbouncer package, or set PGLEAK_PGBOUNCER)");
  }
  return path;
}

std::string pgbouncer_pool_settings(const scenario::PgBouncerSettings& b) {
  std::string ignored;
  for (const auto& p : b.ignore_startup_parameters) {
    ignored += (ignored.empty() ? "" : ",") + p;
  }
  return fmt::format(
      "pool_mode = {}\n"
      "default_pool_size = {}\n"
      "min_pool_size = {}\n"
      "reserve_pool_size = {}\n"
      "reserve_pool_timeout = {}\n"
      "max_client_conn = {}\n"
      "max_db_connections = {}\n"
      "server_idle_timeout = {}\n"
      "server_lifetime = {}\n"
      "query_wait_timeout = {}\n"
      "idle_transaction_timeout = {}\n"
      "ignore_startup_parameters = {}\n",
      scenario::to_string(b.pool_mode), b.default_pool_size, b.min_pool_size, b.reserve_pool_size,
      seconds(b.reserve_pool_timeout), b.max_client_conn, b.max_db_connections,
      seconds(b.server_idle_timeout), seconds(b.server_lifetime), seconds(b.query_wait_timeout),
      seconds(b.idle_transaction_timeout), ignored);
}

std::string EmbeddedPgBouncer::server_host(const EmbeddedServer& server) {
  // Across the run's network (and its faults) when the server has one.
  return server.in_namespace() ? server.listen_address() : server.pg_dir().string();
}

std::unique_ptr<EmbeddedPgBouncer> EmbeddedPgBouncer::start(
    const EmbeddedServer& server, const scenario::PgBouncerSettings& settings,
    std::optional<int> via) {
  const std::string binary = find_pgbouncer();
  std::unique_ptr<EmbeddedPgBouncer> b{new EmbeddedPgBouncer};
  const auto as = server_account();
  b->dir_ = server.dir() / "pgbouncer";
  if (::mkdir(b->dir_.c_str(), 0700) != 0 ||
      (as && ::lchown(b->dir_.c_str(), as->uid, as->gid) != 0)) {
    throw util::InfrastructureError("cannot prepare " + b->dir_.string() + ": " +
                                    std::strerror(errno));
  }
  check_socket_dir(b->dir_);  // PgBouncer would cut the path and never answer
  // Users log in without a password, as they do on the embedded server.
  const auto users = b->dir_ / "users.txt";
  write_new_file(users, "\"pgleak_app\" \"\"\n\"pgleak\" \"\"\n", 0600);
  std::string why;
  for (int attempt = 0; attempt < 5; ++attempt) {
    b->port_ = free_loopback_port();
    b->config_ = fmt::format(
        "[databases]\n"
        "postgres = host={} port={} dbname=postgres\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        "listen_port = {}\n"
        "unix_socket_dir = {}\n"
        "auth_type = trust\n"
        "auth_file = {}\n"
        "admin_users = pgleak\n"
        "stats_users = pgleak\n"
        "logfile = {}\n"
        "{}",
        via ? std::string{"127.0.0.1"} : server_host(server), via.value_or(server.port()), b->port_,
        b->dir_.string(), users.string(), b->log_path().string(),
        pgbouncer_pool_settings(settings));
    const auto ini = b->dir_ / "pgbouncer.ini";
    write_new_file(ini, b->config_, 0600);
    if (as) {
      for (const auto& f : {ini, users}) {
        if (::lchown(f.c_str(), as->uid, as->gid) != 0) {
          throw util::InfrastructureError("cannot give " + f.string() + " to " + as->name);
        }
      }
    }
    b->child_ = std::make_unique<KeptChild>();
    // SIGTERM, should pgleak die: PgBouncer's immediate shutdown.
    const uint64_t generation =
        b->child_->spawn({binary, ini.string()},
                         {(b->dir_ / "stderr.log").string(), as, b->dir_.string(), SIGTERM, {}});
    const auto socket = b->dir_ / fmt::format(".s.PGSQL.{}", b->port_);
    const bool up = b->child_->wait_ready(
        generation,
        [&] {
          struct stat st {};
          return ::lstat(socket.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
        },
        std::chrono::seconds{30});
    if (up) {
      return b;
    }
    why = tail_of(read_file(b->log_path()) + read_file(b->dir_ / "stderr.log"), 8);
    b->child_.reset();
    if (why.find("Address already in use") == std::string::npos) {
      break;
    }
  }
  throw util::InfrastructureError("PgBouncer did not start:\n" + why);
}

db::ConnInfo EmbeddedPgBouncer::app_conninfo() const {
  return local_conninfo("127.0.0.1", port_, "postgres", "pgleak_app");
}

db::ConnInfo EmbeddedPgBouncer::admin_conninfo() const {
  return local_conninfo(dir_.string(), port_, "pgbouncer", "pgleak");
}

void EmbeddedPgBouncer::stop() noexcept {
  if (child_) {
    child_->signal_and_wait(SIGTERM, std::chrono::seconds{5}) ||
        child_->signal_and_wait(SIGKILL, std::chrono::seconds{5});
    child_.reset();
  }
}

EmbeddedPgBouncer::~EmbeddedPgBouncer() {
  stop();
}

}  // namespace pgleak::server

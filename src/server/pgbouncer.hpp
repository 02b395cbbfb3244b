#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "db/conninfo.hpp"
#include "scenario/scenario.hpp"
#include "server/child_process.hpp"
#include "server/kept_child.hpp"

namespace pgleak::server {

class EmbeddedServer;

// A PgBouncer of the run's own, between the workers and the embedded server,
// with the scenario's settings: it listens on a free 127.0.0.1 port and on a
// unix socket in `pgbouncer/` inside the server's private directory (owned by
// the server's account, mode 0700), reaches the server over its unix socket,
// and logs to `pgbouncer/pgbouncer.log`. Users "pgleak_app" (the workers) and
// "pgleak" (its admin console) log in without a password, as on the server.
//
// Like the postmaster, it is pgleak's own child, forked by a KeptChild with
// SIGTERM (PgBouncer's immediate shutdown) as its parent-death signal: it
// cannot outlive pgleak. stop() (and the destructor) end it: SIGTERM, then
// SIGKILL, each bounded. Its directory goes with the server's.
//
// Thread-safety: start/stop from one thread; the accessors from any.
class EmbeddedPgBouncer {
 public:
  // Throws util::InfrastructureError, with the log's tail, when PgBouncer is
  // missing or does not start. `via`: reach the server through this
  // 127.0.0.1 port instead (the run's relay, for latency and bandwidth
  // faults between PgBouncer and the server).
  static std::unique_ptr<EmbeddedPgBouncer> start(const EmbeddedServer& server,
                                                  const scenario::PgBouncerSettings& settings,
                                                  std::optional<int> via = std::nullopt);
  // Where PgBouncer (or anything standing where it would) reaches `server`:
  // across the run's network when it has one, else its unix socket.
  static std::string server_host(const EmbeddedServer& server);
  ~EmbeddedPgBouncer();
  EmbeddedPgBouncer(const EmbeddedPgBouncer&) = delete;
  EmbeddedPgBouncer& operator=(const EmbeddedPgBouncer&) = delete;

  // What the workers connect to: 127.0.0.1:port(), database postgres, user pgleak_app.
  db::ConnInfo app_conninfo() const;
  // Its admin console (database "pgbouncer", user pgleak), over its unix socket.
  db::ConnInfo admin_conninfo() const;
  int port() const { return port_; }
  std::filesystem::path log_path() const { return dir_ / "pgbouncer.log"; }
  // The configuration it runs with, as written.
  const std::string& config() const { return config_; }
  pid_t pid() const { return child_ ? child_->pid() : 0; }
  void stop() noexcept;

 private:
  EmbeddedPgBouncer() = default;

  std::filesystem::path dir_;
  std::string config_;
  int port_ = 0;
  std::unique_ptr<KeptChild> child_;
};

// pgbouncer.ini for `settings` (the [pgbouncer] section's pool settings, in
// seconds with three decimals). Exposed for tests.
std::string pgbouncer_pool_settings(const scenario::PgBouncerSettings& settings);

// The PgBouncer executable: $PGLEAK_PGBOUNCER, else /usr/sbin/pgbouncer
// (Debian's package). Throws util::InfrastructureError when missing.
std::string find_pgbouncer();

}  // namespace pgleak::server

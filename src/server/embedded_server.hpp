#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "db/conninfo.hpp"
#include "server/child_process.hpp"
#include "server/kept_child.hpp"

namespace pgleak::server {

struct EmbeddedServerOptions {
  int max_connections = 100;
  int superuser_reserved_connections = 3;
  // The workers' role "pgleak_app": SUPERUSER, CONNECTION LIMIT; and the
  // CONNECTION LIMIT of their database, "postgres".
  bool app_role_superuser = false;
  std::optional<int> role_connection_limit;
  std::optional<int> database_connection_limit;
  // Directory of initdb/postgres; empty = $PGLEAK_PG_BIN, else Debian's newest
  // /usr/lib/postgresql/<major>/bin.
  std::string bin_dir;
  // The network namespace the postmaster runs in (a run with network faults:
  // net::Namespace) and the address it listens on there. Empty: 127.0.0.1 in
  // pgleak's own; the superuser then connects over the unix socket, which no
  // network fault touches.
  std::string netns_path;
  std::string listen_address = "127.0.0.1";
  // tcp_keepalives_idle, _interval (s), _count and tcp_user_timeout (ms); 0:
  // the kernel's, as PostgreSQL's own default.
  int tcp_keepalives_idle_s = 0;
  int tcp_keepalives_interval_s = 0;
  int tcp_keepalives_count = 0;
  int tcp_user_timeout_ms = 0;
};

// A throwaway PostgreSQL cluster, started on a free 127.0.0.1 port with its
// unix socket in a private directory, run as the postgres account when pgleak
// is root, stopped and deleted by stop() or the destructor.
//
// Nothing it starts can outlive pgleak, and nothing it reaps can be someone
// else's:
//  - the postmaster is pgleak's own child (no pg_ctl daemon in between),
//    forked by a keeper thread that lives as long as the server, with a
//    parent-death signal (SIGQUIT: immediate shutdown) set by the kernel, so a
//    SIGKILL'd pgleak takes its server down with it;
//  - its directory `$TMPDIR/pgleak-XXXXXX` belongs to pgleak's user (mode
//    0700, or 0711 when the server runs as postgres in `pg/` inside it) and
//    holds a `lock` file that the live run keeps flock()ed;
//  - reap_orphans() removes only such directories whose lock nobody holds,
//    never follows a symlink, and signals a leftover postmaster only after
//    proving it is that directory's (its working directory is the cluster's
//    data directory, and it runs as the server account).
//
// Workers connect as the ordinary role "pgleak_app", as a real application
// does, so the server's limits (superuser_reserved_connections) apply to them
// as in production; the sampler connects as the superuser "pgleak".
//
// Thread-safety: restart() may run on another thread than the owner's
// (the fault schedule); everything else from the owning thread.
class EmbeddedServer {
 public:
  // Throws util::InfrastructureError with the log tail when the server fails.
  static std::unique_ptr<EmbeddedServer> start(const EmbeddedServerOptions& options);
  ~EmbeddedServer();
  EmbeddedServer(const EmbeddedServer&) = delete;
  EmbeddedServer& operator=(const EmbeddedServer&) = delete;

  db::ConnInfo superuser_conninfo() const;
  db::ConnInfo app_conninfo() const;
  int port() const { return port_; }
  const std::string& listen_address() const { return listen_address_; }
  bool in_namespace() const { return !netns_path_.empty(); }
  // The run's private directory; the cluster lives in pg_dir().
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path pg_dir() const { return dir_ / "pg"; }
  std::filesystem::path data_dir() const { return pg_dir() / "data"; }
  std::filesystem::path log_path() const { return pg_dir() / "server.log"; }
  // The structured log (jsonlog) that server-log attribution reads.
  std::filesystem::path json_log_path() const { return pg_dir() / "log" / "postgresql.json"; }
  // The running postmaster's pid, 0 when none.
  pid_t postmaster_pid() const;
  // Whether its data directory was copied from the initdb template
  // (server/initdb_template.hpp) rather than made by initdb.
  bool from_template() const { return from_template_; }

  // Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL, each
  // bounded; `immediate` skips the fast step. Then the directory is deleted.
  // Safe to call more than once; never throws.
  void stop(bool immediate = false) noexcept;
  // Fast shutdown and a new postmaster on the same port and settings. Throws
  // InfrastructureError.
  void restart();

  // Removes clusters that pgleak runs left in the temp dir when they were
  // killed (see the class comment for what is proven first). Returns how many.
  static int reap_orphans();

 private:
  EmbeddedServer() = default;
  // start()'s steps, in order: a locked directory of its own, mode and owner
  // set for the server's account; the cluster in it (a copy of the cached
  // initdb template, or initdb); a postmaster on a free loopback port (five
  // tries); the workers' role with the scenario's limits.
  void make_private_dir();
  void init_cluster();
  void launch_on_a_free_port(const EmbeddedServerOptions& options);
  void create_app_role(const EmbeddedServerOptions& options) const;
  std::string tool(const char* name) const;
  std::string log_tail() const;
  void write_settings(const EmbeddedServerOptions& options) const;
  // Asks the keeper for a postmaster and waits until it accepts connections;
  // false (with the log tail in `why`) when it exited instead.
  bool launch(std::string& why);
  // Signals the postmaster if one runs and waits up to `timeout` for it to exit.
  bool signal_and_wait(int sig, std::chrono::milliseconds timeout);

  std::filesystem::path dir_;
  std::string bin_dir_;
  bool from_template_ = false;
  std::optional<RunAs> run_as_;
  int port_ = 0;
  std::string listen_address_ = "127.0.0.1";
  std::string netns_path_;
  int lock_fd_ = -1;

  // Forks each postmaster from a thread that lives as long as it, and waits for it.
  std::unique_ptr<KeptChild> child_;
};

// The directory holding initdb and postgres (see EmbeddedServerOptions::bin_dir).
std::string find_pg_bin_dir(const std::string& hint);

}  // namespace pgleak::server

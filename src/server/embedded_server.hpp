#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "db/conninfo.hpp"
#include "server/child_process.hpp"

namespace pgleak::server {

struct EmbeddedServerOptions {
  int max_connections = 100;
  int superuser_reserved_connections = 3;
  // Directory of initdb/pg_ctl; empty = $PGLEAK_PG_BIN, else Debian's newest
  // /usr/lib/postgresql/<major>/bin.
  std::string bin_dir;
};

// A throwaway PostgreSQL cluster: initdb into a private temp dir, started on a
// free 127.0.0.1 port with its unix socket in that dir, run as the postgres
// account when pgleak is root, stopped and deleted by the destructor (or stop()).
//
// Workers connect as the ordinary role "pgleak_app", as a real application
// does, so the server's limits (superuser_reserved_connections) apply to them
// as in production; the sampler connects as the superuser "pgleak".
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
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path data_dir() const { return dir_ / "data"; }
  std::filesystem::path log_path() const { return dir_ / "server.log"; }
  // The structured log (jsonlog) that server-log attribution reads.
  std::filesystem::path json_log_path() const { return dir_ / "log" / "postgresql.json"; }

  // Fast shutdown (immediate if that fails), then the directory is deleted.
  // Safe to call more than once; never throws.
  void stop() noexcept;
  // pg_ctl restart -m fast, keeping port and settings. Throws InfrastructureError.
  void restart();

  // Removes clusters left in the temp dir by pgleak runs whose process is gone
  // (killed with SIGKILL, say). Returns how many were removed.
  static int reap_orphans(const std::string& bin_dir_hint = {});

 private:
  EmbeddedServer() = default;
  std::string tool(const char* name) const;
  int pg_ctl(const std::vector<std::string>& args) const;
  std::string log_tail() const;

  std::filesystem::path dir_;
  std::string bin_dir_;
  std::optional<RunAs> run_as_;
  int port_ = 0;
  bool running_ = false;
};

// The directory holding initdb and pg_ctl (see EmbeddedServerOptions::bin_dir).
std::string find_pg_bin_dir(const std::string& hint);

}  // namespace pgleak::server

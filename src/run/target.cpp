#include "run/target.hpp"

#include <fmt/format.h>

#include "probe/server_info.hpp"
#include "util/errors.hpp"
#include "util/text.hpp"

namespace pgleak::run {
namespace {

using namespace std::chrono_literals;

// Those still there after 5 s are terminated and counted; a count or a
// termination that fails is said, with its reason, and never read as none.
void check_nothing_left(probe::RunBackends& backends, record::Recorder& recorder,
                        record::RunResult& result) {
  int left = backends.wait_gone(5s);
  if (left > 0) {
    left = backends.terminate();
    result.leftover_backends_terminated = std::max(left, 0);
  }
  if (left < 0) {
    result.cleanup_checked = false;
    result.cleanup_note = fmt::format("could not check that no backend of the run was left: {}",
                                      backends.last_error());
    record::Event ev;
    ev.kind = record::kCheckFailed;
    ev.message = result.cleanup_note;
    recorder.add_event(std::move(ev));
  }
}

// The embedded server's settings, from the scenario's "server".
server::EmbeddedServerOptions server_options(const scenario::Scenario& sc) {
  server::EmbeddedServerOptions so;
  so.max_connections = sc.server.max_connections;
  so.superuser_reserved_connections = sc.server.superuser_reserved_connections;
  so.app_role_superuser = sc.server.app_role_superuser;
  so.role_connection_limit = sc.server.role_connection_limit;
  so.database_connection_limit = sc.server.database_connection_limit;
  using std::chrono::duration_cast;
  const auto whole_s = [](const std::optional<util::ScaledDuration>& d) {
    return d ? static_cast<int>(duration_cast<std::chrono::seconds>(d->applied).count()) : 0;
  };
  so.tcp_keepalives_idle_s = whole_s(sc.server.tcp_keepalives_idle);
  so.tcp_keepalives_interval_s = whole_s(sc.server.tcp_keepalives_interval);
  so.tcp_keepalives_count = sc.server.tcp_keepalives_count.value_or(0);
  so.tcp_user_timeout_ms = sc.server.tcp_user_timeout
                               ? static_cast<int>(duration_cast<std::chrono::milliseconds>(
                                                      sc.server.tcp_user_timeout->applied)
                                                      .count())
                               : 0;
  return so;
}

}  // namespace

void log(const RunOptions& options, const std::string& line) {
  if (options.log != nullptr) {
    *options.log << "pgleak: " << line << std::endl;
  }
}

namespace {

// pgleak's own PgBouncer in front of the embedded server, and the relay
// between them when the scenario has latency or bandwidth faults.
void start_pgbouncer(Target& t, const scenario::PgBouncerSettings& settings, bool with_relay,
                     const RunOptions& options) {
  std::optional<int> via;
  if (with_relay) {  // the relay's faults go between PgBouncer and the server
    t.relay =
        net::Relay::start(server::EmbeddedPgBouncer::server_host(*t.embedded), t.embedded->port());
    via = t.relay->port();
    log(options, fmt::format("relay on 127.0.0.1:{} between PgBouncer and the server, for the "
                             "latency and bandwidth faults",
                             *via));
  }
  t.pgbouncer = server::EmbeddedPgBouncer::start(*t.embedded, settings, via);
  t.app = t.pgbouncer->app_conninfo();
  t.pgbouncer_console = t.pgbouncer->admin_conninfo();
  t.description.pgbouncer = true;
  t.description.pgbouncer_embedded = true;
  t.description.pgbouncer_console = t.pgbouncer_console->redacted();
  log(options, fmt::format("embedded PgBouncer on 127.0.0.1:{} ({} pooling, {} server "
                           "connections at most)",
                           t.pgbouncer->port(), scenario::to_string(settings.pool_mode),
                           settings.server_connections()));
}

// The embedded server (with its namespace and PgBouncer), or the --dsn one.
Target open_server(const scenario::Scenario& sc, const RunOptions& options) {
  Target t;
  if (options.dsn) {
    if (sc.needs_embedded_server()) {
      throw util::UsageError(
          "restart_server and the kernel's network faults (blackhole, partition, reset, "
          "half_open) need the embedded server (pgleak changes the network only between its "
          "own workers and its own server); drop --dsn or the fault");
    }
    t.app = db::ConnInfo::parse(*options.dsn);
    t.admin = t.app;
    t.description.embedded = false;
    t.description.dsn_redacted = t.app.redacted();
    t.description.server = probe::read_server_info(t.admin, options.interrupt);
    t.description.app_role_superuser = t.description.server.superuser;
    t.description.connections_before = t.description.server.connections_in_use;
    if (options.preflight) {
      options.preflight(t.description.server);
    }
    if (options.pgbouncer_admin) {
      t.pgbouncer_console = db::ConnInfo::parse(*options.pgbouncer_admin);
      t.description.pgbouncer = true;
      t.description.pgbouncer_console = t.pgbouncer_console->redacted();
    }
    log(options,
        fmt::format("target {} (PostgreSQL {}, max_connections {}, {} connections in use "
                    "already); settings are read, never changed",
                    t.description.dsn_redacted,
                    util::printable(t.description.server.server_version),
                    t.description.server.max_connections, t.description.connections_before));
    return t;
  }
  if (const int reaped = server::EmbeddedServer::reap_orphans(); reaped > 0) {
    log(options, fmt::format("removed {} cluster(s) left behind by killed pgleak runs", reaped));
  }
  server::EmbeddedServerOptions so = server_options(sc);
  if (sc.needs_namespace()) {
    if (const int reaped = net::Namespace::reap_orphans(); reaped > 0) {
      log(options,
          fmt::format("removed {} network namespace(s) left behind by killed pgleak runs", reaped));
    }
    t.network = net::Namespace::create();
    so.netns_path = t.network->path();
    so.listen_address = t.network->server_address();
    log(options, fmt::format("network namespace {}: the server listens on {}, across a veth pair",
                             t.network->name(), t.network->server_address()));
  }
  t.embedded = server::EmbeddedServer::start(so);
  t.app = t.embedded->app_conninfo();
  t.admin = t.embedded->superuser_conninfo();
  // As the superuser, about the workers' role: what the server says of it,
  // not what the scenario asked for (and its limit may leave no slot to ask).
  t.description.server = probe::read_server_info(t.admin, options.interrupt, "pgleak_app");
  t.description.app_role_superuser = t.description.server.superuser;
  log(options, fmt::format("embedded PostgreSQL {} on {}:{} ({})",
                           t.description.server.server_version, t.embedded->listen_address(),
                           t.embedded->port(), util::printable(t.embedded->dir().string())));
  if (sc.pgbouncer) {
    start_pgbouncer(t, *sc.pgbouncer, sc.needs_relay(), options);
  }
  return t;
}

// Puts the relay between the workers and their target: it connects where
// they would have, and they connect to it.
void put_relay_in_front(Target& t, const RunOptions& options) {
  const auto* hostaddr = t.app.get("hostaddr");
  const auto* host = hostaddr != nullptr ? hostaddr : t.app.get("host");
  const std::string to = host != nullptr ? *host : std::string{"/var/run/postgresql"};
  const auto* port_text = t.app.get("port");
  const std::string port = port_text != nullptr ? *port_text : std::string{"5432"};
  if (to.find(',') != std::string::npos || port.find(',') != std::string::npos) {
    throw util::UsageError(
        "latency and bandwidth faults put pgleak's relay in front of one server: the DSN "
        "names several hosts; give one");
  }
  t.relay = net::Relay::start(to, std::stoi(port));
  t.app.set("host", "127.0.0.1");
  if (hostaddr != nullptr) {
    t.app.set("hostaddr", "127.0.0.1");
  }
  t.app.set("port", std::to_string(t.relay->port()));
  log(options, fmt::format("relay on 127.0.0.1:{} in front of {}:{}, for the latency and "
                           "bandwidth faults",
                           t.relay->port(), util::printable(to), port));
}

}  // namespace

Target open_target(const scenario::Scenario& sc, const RunOptions& options) {
  Target t = open_server(sc, options);
  if (sc.needs_relay() && !t.relay) {
    put_relay_in_front(t, options);
  }
  return t;
}

// The target once the pools are closed: PgBouncer stopped, no backend of the
// run left behind (checked, and said when it could not be), the embedded
// server stopped.
void release_target(Target& target, probe::RunBackends& backends, record::Recorder& recorder,
                    const RunOptions& options, record::RunResult& result) {
  // PgBouncer keeps its server connections after its clients leave: it goes
  // before the check below, which would otherwise count them as left behind.
  if (target.pgbouncer) {
    target.pgbouncer->stop();
  }
  // A safety net, and a check: no backend of this run may outlive it. Behind
  // a PgBouncer of the user's own, the backends are PgBouncer's server
  // connections (they keep the last client's application_name): its pool to
  // keep, never pgleak's to end.
  const bool behind_their_pgbouncer = target.pgbouncer_console && !target.pgbouncer;
  if (behind_their_pgbouncer) {
    result.cleanup_note =
        "through your PgBouncer: its server connections are its own, and were left to it";
  } else if (!options.force.stop_requested()) {
    check_nothing_left(backends, recorder, result);
  }
  if (target.embedded) {
    target.embedded->stop(options.force.stop_requested());
  }
}

}  // namespace pgleak::run

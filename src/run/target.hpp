#pragma once

// The run's target, its first phase and its last: opened (an external
// server, read and never changed; or an embedded server, with PgBouncer
// when the scenario asks) before anything else starts, and released (no
// backend of the run left behind) once the pools are closed. Internal to
// run/; used by the one thread that runs the run.

#include <memory>
#include <optional>

#include "db/conninfo.hpp"
#include "net/namespace.hpp"
#include "net/relay.hpp"
#include "probe/run_backends.hpp"
#include "record/recorder.hpp"
#include "record/run_result.hpp"
#include "run/runner.hpp"
#include "server/embedded_server.hpp"
#include "server/pgbouncer.hpp"

namespace pgleak::run {

struct Target {
  // The run's own network namespace, for network faults: the server runs in
  // it, so it goes last (declared first).
  std::unique_ptr<net::Namespace> network;
  std::unique_ptr<server::EmbeddedServer> embedded;  // stopped and deleted when destroyed
  // Both declared after the server, so they stop first.
  // For latency and bandwidth faults: between PgBouncer and the server when
  // PgBouncer is pgleak's own, else in front of whatever the workers connect
  // to. Declared before PgBouncer, so PgBouncer stops first and its server
  // connections close through it.
  std::unique_ptr<net::Relay> relay;
  std::unique_ptr<server::EmbeddedPgBouncer> pgbouncer;
  db::ConnInfo app;    // the workers' role (through PgBouncer when it is in the path)
  db::ConnInfo admin;  // the sampler's and faults' role, on the server itself
  std::optional<db::ConnInfo> pgbouncer_console;
  record::TargetDescription description;
};

// Opens the target: an external one (--dsn) is read, and `preflight` may
// refuse it; an embedded one is started (orphans of killed runs reaped first).
Target open_target(const scenario::Scenario& sc, const RunOptions& options);

// Stops PgBouncer, checks that no backend of the run is left (terminating
// and counting any after 5 s; a check that could not be made is said, never
// read as none), and stops the embedded server.
void release_target(Target& target, probe::RunBackends& backends, record::Recorder& recorder,
                    const RunOptions& options, record::RunResult& result);

// "pgleak: <line>" to the run's log, if it has one.
void log(const RunOptions& options, const std::string& line);

}  // namespace pgleak::run

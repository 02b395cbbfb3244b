#pragma once

#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "db/conninfo.hpp"
#include "db/pg_connection.hpp"
#include "db/session_tally.hpp"
#include "run/runner.hpp"
#include "scenario/scenario.hpp"
#include "scenario/shard.hpp"
#include "workload/process_replica.hpp"

namespace pgleak::run {

// What a worker's connections send the server with each connect: its
// timeouts, in PostgreSQL's whole milliseconds (never 0, which is "off").
db::SessionSettings session_settings(const scenario::ConnectArgs& args);

// Every replica of every process, each with its engine (factory and pool).
// Their connections open under the run's stop (a pending connect ends with
// it) and register their sockets, so a forced stop can cut them, and so that
// the sessions open across the fleet are counted as they open and close.
class Fleet {
 public:
  // A shard's fleet is its slice of the replicas (scenario::split_replicas).
  Fleet(const scenario::Scenario& sc, const db::ConnInfo& app, const std::stop_token& stop,
        const std::optional<scenario::ShardRef>& shard);

  std::vector<std::unique_ptr<workload::ProcessReplica>>& replicas() { return replicas_; }
  // shutdown(2) on every socket of every process; returns how many.
  int cut_sockets();

  std::vector<record::PoolSample> pool_samples() const;

  std::string last_holder(const std::string& process, int replica, int pid) const;

  // The workers' sessions open now, pooled or not, and the most at once.
  const db::SessionTally& sessions() const { return sessions_; }

 private:
  db::SessionTally sessions_;  // before the replicas, whose sockets count in it
  std::vector<std::unique_ptr<workload::ProcessReplica>> replicas_;
};

}  // namespace pgleak::run

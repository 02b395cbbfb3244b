#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "probe/server_info.hpp"
#include "scenario/scenario.hpp"

namespace pgleak::analysis {

// The server's limits, and what they leave to the workers' role, are the
// probe's (probe/server_info.hpp: ServerLimits, limits_for, workers_limit):
// one definition for the run and the budget.

struct ProcessBudget {
  std::string name;
  int replicas = 1;
  std::string kind{"sqlalchemy"};  // the pool's library (scenario/pool_kinds.hpp)
  int pool_size = 0;               // SQLAlchemy's; another kind's most connections
  int max_overflow = 0;            // SQLAlchemy's; 0 for another kind
  // Connections the pool opens at start unasked (an eager kind's minimum):
  // there even when every worker of the process is pool-less.
  int eager = 0;
  bool unbounded = false;  // max_overflow -1 or pool_size 0: no cap at all
  std::string
      unbounded_by;     // why: "NullPool", "max_overflow -1", "pool_size 0", "engine.dispose()"
  int per_replica = 0;  // pool_size + max_overflow + pool-less workers
  int pool_less = 0;    // connection_per_task workers: one connection each, outside the pool
  int worst_case = 0;   // replicas x per_replica
};

// With PgBouncer in the path, the workers' connections are its clients, and
// the server sees only PgBouncer's own connections.
struct PgBouncerBudget {
  int clients = 0;  // the workers' worst case (as Budget::worst_case would be)
  bool clients_unbounded = false;
  int max_client_conn = 0;
  bool clients_fit = false;
  int server_connections =
      0;  // default_pool_size + reserve_pool_size, capped by max_db_connections
};

// The static worst case of a scenario: every pool of every replica at
// pool_size + max_overflow, plus pool-less connections, against
// max_connections - superuser_reserved_connections - reserved_connections.
// Through PgBouncer, the server's worst case is PgBouncer's server
// connections, and the workers' connections must fit in max_client_conn.
struct Budget {
  std::vector<ProcessBudget> processes;
  probe::ServerLimits limits;
  int available = 0;   // slots for ordinary roles, less other clients
  int worst_case = 0;  // sum over processes (bounded ones)
  bool unbounded = false;
  bool fits = false;
  int headroom = 0;  // available - worst_case (negative: over by that much)
  std::optional<PgBouncerBudget> pgbouncer;
};

Budget compute_budget(const scenario::Scenario& scenario, const probe::ServerLimits& limits);

// The scenario's own server as budget, validate and tune see it: its
// workers' role (a superuser may use the reserved slots) and CONNECTION
// LIMITs, no other clients; max_connections and the reserved slots as
// given (by default, the scenario's).
probe::ServerLimits scenario_limits(const scenario::Scenario& scenario, int max_connections,
                                    int superuser_reserved);
probe::ServerLimits scenario_limits(const scenario::Scenario& scenario);

// What each shard of a sharded run takes on (scenario::split_replicas).
struct ShardBudget {
  int index = 0;
  std::vector<std::pair<std::string, int>> replicas;  // per process, in file order: how many
  int64_t workers = 0;                                // threads, one per worker
  int worst_case = 0;                                 // its replicas' per_replica, summed
  bool unbounded = false;
};
std::vector<ShardBudget> shard_budgets(const scenario::Scenario& scenario, const Budget& budget,
                                       int shards);
std::string format_shard_budgets(const std::vector<ShardBudget>& shards);
nlohmann::json shard_budgets_json(const std::vector<ShardBudget>& shards);

std::string format_budget(const scenario::Scenario& scenario, const Budget& budget);
// The worst case in words, the same for validate, budget, a run's summary and
// its refusal: "23 connections", or "unbounded (p: NullPool; q: max_overflow
// -1; 8 connections from the bounded pools)".
std::string worst_case_text(const Budget& budget);
nlohmann::json budget_json(const Budget& budget);

}  // namespace pgleak::analysis

#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "scenario/scenario.hpp"

namespace pgleak::analysis {

// What the server leaves to ordinary roles, and who else takes a slot.
struct ServerLimits {
  int max_connections = 100;
  int superuser_reserved_connections = 3;
  int reserved_connections = 0;  // PostgreSQL 16's reserved_connections; 0 on 15
  int other_clients = 0;         // e.g. pgleak's own sampler during a run
  // CONNECTION LIMITs of the workers' role and database; -1 for none. They
  // bind ordinary roles only.
  int role_connection_limit = -1;
  int database_connection_limit = -1;
};

struct ProcessBudget {
  std::string name;
  int replicas = 1;
  int pool_size = 0;
  int max_overflow = 0;
  bool unbounded = false;  // max_overflow -1 or pool_size 0: no cap at all
  int per_replica = 0;     // pool_size + max_overflow + pool-less workers
  int pool_less = 0;       // connection_per_task workers: one connection each, outside the pool
  int worst_case = 0;      // replicas x per_replica
};

// The static worst case of a scenario: every pool of every replica at
// pool_size + max_overflow, plus pool-less connections, against
// max_connections - superuser_reserved_connections - reserved_connections.
struct Budget {
  std::vector<ProcessBudget> processes;
  ServerLimits limits;
  int available = 0;   // slots for ordinary roles, less other clients
  int worst_case = 0;  // sum over processes (bounded ones)
  bool unbounded = false;
  bool fits = false;
  int headroom = 0;  // available - worst_case (negative: over by that much)
};

Budget compute_budget(const scenario::Scenario& scenario, const ServerLimits& limits);

// The most connections the workers' role may hold at once: the slots for its
// kind of role, capped by the role's and the database's CONNECTION LIMIT.
int workers_limit(const ServerLimits& limits);

// The limits a run faces: a superuser role may use the reserved slots; the
// connections already there and pgleak's sampler count as other clients.
ServerLimits limits_for(int max_connections, int superuser_reserved, bool app_role_superuser,
                        int connections_before, int role_connection_limit = -1,
                        int database_connection_limit = -1);

std::string format_budget(const scenario::Scenario& scenario, const Budget& budget);
nlohmann::json budget_json(const Budget& budget);

}  // namespace pgleak::analysis

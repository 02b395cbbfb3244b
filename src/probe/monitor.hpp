#pragma once

#include <nlohmann/json.hpp>
#include <stop_token>
#include <string>
#include <vector>

#include "db/conninfo.hpp"

namespace pgleak::probe {

// One look at a server's connections: what the incident's monitoring script
// tracked (total against the limit, by application and state, long idle
// transactions), read from pg_stat_activity in one round trip each.
struct ConnectionSnapshot {
  int max_connections = 0;
  int superuser_reserved_connections = 0;
  int total = 0;  // client backends, not counting this monitor's own
  struct Group {
    std::string application;
    std::string state;
    int count = 0;
  };
  std::vector<Group> by_application_state;
  struct Session {
    int pid = 0;
    std::string application;
    std::string user;
    std::string state;
    double age_s = 0;  // in its state (idle in transaction) or in its transaction
    std::string query;
  };
  std::vector<Session> longest_idle_in_transaction;  // by time in that state, top 10
  std::vector<Session> oldest_transactions;          // by transaction age, top 10

  int limit() const { return max_connections - superuser_reserved_connections; }
  double used_percent() const { return limit() > 0 ? 100.0 * total / limit() : 100.0; }
};

// Throws util::InfrastructureError (with a redacted DSN) when unreachable.
// Over a bounded own session (db::OwnSession); `interrupt` ends any wait.
ConnectionSnapshot take_snapshot(const db::ConnInfo& target, const std::stop_token& interrupt = {});

std::string format_snapshot(const ConnectionSnapshot& snapshot, double warn_at_percent);
nlohmann::json snapshot_json(const ConnectionSnapshot& snapshot, double warn_at_percent);

}  // namespace pgleak::probe

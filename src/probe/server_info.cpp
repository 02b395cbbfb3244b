#include "probe/server_info.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "db/own_session.hpp"
#include "util/errors.hpp"

namespace pgleak::probe {

ServerLimits limits_for(int max_connections, int superuser_reserved, bool app_role_superuser,
                        int connections_before, int role_connection_limit,
                        int database_connection_limit) {
  ServerLimits limits;
  limits.max_connections = max_connections;
  limits.superuser_reserved_connections = app_role_superuser ? 0 : superuser_reserved;
  limits.other_clients = connections_before + 1;  // + the sampler
  limits.role_connection_limit = app_role_superuser ? -1 : role_connection_limit;
  limits.database_connection_limit = app_role_superuser ? -1 : database_connection_limit;
  limits.superuser = app_role_superuser;
  return limits;
}

ServerLimits limits_for(const record::ServerInfo& info, int connections_before) {
  return limits_for(info.max_connections, info.superuser_reserved_connections, info.superuser,
                    connections_before, info.role_connection_limit, info.database_connection_limit);
}

int workers_limit(const ServerLimits& limits) {
  int limit =
      limits.max_connections - limits.superuser_reserved_connections - limits.reserved_connections;
  for (const int cap : {limits.role_connection_limit, limits.database_connection_limit}) {
    if (cap >= 0) {
      limit = std::min(limit, cap);
    }
  }
  return limit;
}

std::string explain_limit(const ServerLimits& limits) {
  if (limits.superuser) {
    return fmt::format(
        "max_connections {}{}: the workers' role is a superuser, which may take the "
        "superuser_reserved_connections slots and no CONNECTION LIMIT binds",
        limits.max_connections,
        limits.reserved_connections > 0
            ? fmt::format(" - reserved_connections {}", limits.reserved_connections)
            : "");
  }
  const int slots =
      limits.max_connections - limits.superuser_reserved_connections - limits.reserved_connections;
  const auto arithmetic =
      fmt::format("max_connections {} - superuser_reserved_connections {}{}",
                  limits.max_connections, limits.superuser_reserved_connections,
                  limits.reserved_connections > 0
                      ? fmt::format(" - reserved_connections {}", limits.reserved_connections)
                      : "");
  const int role = limits.role_connection_limit;
  const int database = limits.database_connection_limit;
  const bool role_binds = role >= 0 && role < slots && (database < 0 || role <= database);
  const bool database_binds = !role_binds && database >= 0 && database < slots;
  if (role_binds || database_binds) {
    return fmt::format("the {}'s CONNECTION LIMIT {}, below the {} slots of an ordinary role ({})",
                       role_binds ? "role" : "database", role_binds ? role : database, slots,
                       arithmetic);
  }
  return fmt::format("{} for an ordinary role", arithmetic);
}

record::ServerInfo read_server_info(const db::ConnInfo& target, const std::stop_token& interrupt,
                                    const std::string& role) {
  try {
    db::OwnSession session{target,
                           db::own_name::kProbe,
                           {.connect_timeout = std::chrono::seconds{10},
                            .query_timeout = std::chrono::seconds{10},
                            .interrupt = interrupt}};
    const auto who = role.empty() ? std::string{"current_user"} : session.quote(role);
    const auto rows = session.query(
        "SELECT current_setting('server_version'), current_setting('max_connections'), "
        "current_setting('superuser_reserved_connections'), "
        "(SELECT rolsuper FROM pg_roles WHERE rolname = " +
        who +
        ")::int, "
        // Other shards of a sharded run, reading the server or waiting at their
        // barrier, leave before any starts.
        "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
        "AND pid <> pg_backend_pid() "
        "AND application_name NOT IN (" +
        session.quote(db::own_name::kShard) + ", " + session.quote(db::own_name::kProbe) +
        ")), "
        "(SELECT rolconnlimit FROM pg_roles WHERE rolname = " +
        who +
        "), "
        "(SELECT datconnlimit FROM pg_database WHERE datname = current_database())");
    if (rows.size() != 1 || rows[0].size() != 7) {
      throw std::runtime_error("unexpected answer to the settings query");
    }
    record::ServerInfo info;
    info.server_version = rows[0][0].value_or("");
    info.max_connections = db::OwnSession::number<int>(rows[0][1]);
    info.superuser_reserved_connections = db::OwnSession::number<int>(rows[0][2]);
    info.superuser = db::OwnSession::number<int>(rows[0][3]) != 0;
    info.connections_in_use = db::OwnSession::number<int>(rows[0][4]);
    info.role_connection_limit = rows[0][5] ? db::OwnSession::number<int>(rows[0][5]) : -1;
    info.database_connection_limit = rows[0][6] ? db::OwnSession::number<int>(rows[0][6]) : -1;
    return info;
  } catch (const std::exception& e) {
    std::string why = e.what();
    while (!why.empty() && why.back() == '\n') {
      why.pop_back();
    }
    throw util::InfrastructureError("cannot reach the target " + target.redacted() + ": " + why);
  }
}

}  // namespace pgleak::probe

#pragma once

#include <stop_token>
#include <string>

#include "db/conninfo.hpp"
#include "record/server_info.hpp"

namespace pgleak::probe {

// What the server leaves to the workers' role, and who else takes a slot.
struct ServerLimits {
  int max_connections = 100;
  int superuser_reserved_connections = 3;
  int reserved_connections = 0;  // PostgreSQL 16's reserved_connections; 0 on 15
  int other_clients = 0;         // e.g. pgleak's own sampler during a run
  // CONNECTION LIMITs of the workers' role and database; -1 for none. They
  // bind ordinary roles only.
  int role_connection_limit = -1;
  int database_connection_limit = -1;
  // The workers' role is a superuser (superuser_reserved_connections is then
  // 0 above: it may take those slots, and no CONNECTION LIMIT binds it).
  bool superuser = false;
};

// The limits a run faces: a superuser role may use the reserved slots and
// passes the CONNECTION LIMITs; the connections already there and pgleak's
// sampler count as other clients.
ServerLimits limits_for(int max_connections, int superuser_reserved, bool app_role_superuser,
                        int connections_before, int role_connection_limit = -1,
                        int database_connection_limit = -1);
ServerLimits limits_for(const record::ServerInfo& info, int connections_before);

// The most connections the workers' role may hold at once: the slots for its
// kind of role, capped by the role's and the database's CONNECTION LIMIT.
int workers_limit(const ServerLimits& limits);
// workers_limit() in words: which limit applies and why, e.g. "the role's
// CONNECTION LIMIT 5, below the 17 slots of an ordinary role (max_connections
// 20 - superuser_reserved_connections 3)".
std::string explain_limit(const ServerLimits& limits);

// Reads the settings over a bounded own session (db::OwnSession): a target
// that does not answer fails within the connect timeout, and `interrupt`
// ends the wait at once. Throws util::InfrastructureError (target
// unreachable or interrupted, with a redacted DSN).
// `role`: whose superuser status and limits to read (the DSN's own by default).
record::ServerInfo read_server_info(const db::ConnInfo& target,
                                    const std::stop_token& interrupt = {},
                                    const std::string& role = {});

}  // namespace pgleak::probe

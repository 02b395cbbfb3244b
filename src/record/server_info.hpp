#pragma once

#include <string>

namespace pgleak::record {

// What the target server says about itself (probe::read_server_info reads
// it); read, never changed.
struct ServerInfo {
  std::string server_version;
  int max_connections = 0;
  int superuser_reserved_connections = 0;
  // The workers' role (the DSN's, or the one named to read_server_info):
  // superusers may use the reserved slots and pass every CONNECTION LIMIT.
  bool superuser = false;
  int role_connection_limit = -1;      // its CONNECTION LIMIT; -1 for none
  int database_connection_limit = -1;  // its database's; -1 for none
  int connections_in_use = 0;          // client backends already there, but the probe's own
};

}  // namespace pgleak::record

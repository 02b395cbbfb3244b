#pragma once

#include <string>

#include "db/conninfo.hpp"

namespace pgleak::probe {

// What the target server says about itself; read, never changed.
struct ServerInfo {
  std::string server_version;
  int max_connections = 0;
  int superuser_reserved_connections = 0;
};

// Throws util::InfrastructureError (target unreachable, with a redacted DSN).
ServerInfo read_server_info(const db::ConnInfo& target);

}  // namespace pgleak::probe

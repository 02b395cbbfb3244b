#pragma once

#include <stop_token>
#include <string>

#include "db/conninfo.hpp"

namespace pgleak::probe {

// What the target server says about itself; read, never changed.
struct ServerInfo {
  std::string server_version;
  int max_connections = 0;
  int superuser_reserved_connections = 0;
  bool superuser = false;      // the role of `target` (superusers may use the reserved slots)
  int connections_in_use = 0;  // client backends already there, but the probe's own
};

// Reads the settings over a bounded own session (db::OwnSession): a target
// that does not answer fails within the connect timeout, and `interrupt`
// ends the wait at once. Throws util::InfrastructureError (target
// unreachable or interrupted, with a redacted DSN).
ServerInfo read_server_info(const db::ConnInfo& target, const std::stop_token& interrupt = {});

}  // namespace pgleak::probe

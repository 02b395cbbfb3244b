#include "probe/server_info.hpp"

#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/result>

#include "db/own_session.hpp"
#include "util/errors.hpp"

namespace pgleak::probe {

ServerInfo read_server_info(const db::ConnInfo& target) {
  try {
    const auto conn = db::open_own_session(target, "pgleak-probe");
    pqxx::nontransaction tx{*conn};
    const auto row = tx.exec1(
        "SELECT current_setting('server_version'), current_setting('max_connections')::int, "
        "current_setting('superuser_reserved_connections')::int");
    ServerInfo info;
    info.server_version = row[0].as<std::string>();
    info.max_connections = row[1].as<int>();
    info.superuser_reserved_connections = row[2].as<int>();
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

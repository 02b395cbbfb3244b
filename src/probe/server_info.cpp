#include "probe/server_info.hpp"

#include "db/own_session.hpp"
#include "util/errors.hpp"

namespace pgleak::probe {

ServerInfo read_server_info(const db::ConnInfo& target, const std::stop_token& interrupt) {
  try {
    db::OwnSession session{target,
                           "pgleak-probe",
                           {.connect_timeout = std::chrono::seconds{10},
                            .query_timeout = std::chrono::seconds{10},
                            .interrupt = interrupt}};
    const auto rows = session.query(
        "SELECT current_setting('server_version'), current_setting('max_connections'), "
        "current_setting('superuser_reserved_connections'), "
        "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)::int, "
        "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
        "AND pid <> pg_backend_pid())");
    if (rows.size() != 1 || rows[0].size() != 5) {
      throw std::runtime_error("unexpected answer to the settings query");
    }
    ServerInfo info;
    info.server_version = rows[0][0].value_or("");
    info.max_connections = db::OwnSession::number<int>(rows[0][1]);
    info.superuser_reserved_connections = db::OwnSession::number<int>(rows[0][2]);
    info.superuser = db::OwnSession::number<int>(rows[0][3]) != 0;
    info.connections_in_use = db::OwnSession::number<int>(rows[0][4]);
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

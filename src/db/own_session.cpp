#include "db/own_session.hpp"

namespace pgleak::db {

std::unique_ptr<pqxx::connection> open_own_session(const ConnInfo& target,
                                                   const std::string& application_name) {
  ConnInfo info = target;
  info.set("application_name", application_name);
  auto conn = std::make_unique<pqxx::connection>(info.to_libpq());
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  conn->inhibit_reactivation(true);
#pragma GCC diagnostic pop
  return conn;
}

}  // namespace pgleak::db

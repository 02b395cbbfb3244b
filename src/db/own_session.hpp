#pragma once

#include <memory>
#include <pqxx/connection>
#include <string>

#include "db/conninfo.hpp"

namespace pgleak::db {

// A libpqxx session for pgleak's own queries (the sampler, faults and cleanup,
// monitor, server settings, embedded-server setup), never for the workload:
// tagged with `application_name` so it is told apart from the run's backends,
// and never silently reconnected by libpqxx 6, so a lost server is seen as lost.
// Throws what pqxx::connection throws.
std::unique_ptr<pqxx::connection> open_own_session(const ConnInfo& target,
                                                   const std::string& application_name);

}  // namespace pgleak::db

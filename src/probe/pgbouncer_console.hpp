#pragma once

#include "db/own_session.hpp"
#include "record/observations.hpp"

namespace pgleak::probe {

// Reads PgBouncer's admin console on `console` (a session to its "pgbouncer"
// database): SHOW POOLS, summed over every pool but the console's own, and
// SHOW STATS, summed likewise. Columns are found by name, so versions that
// add columns read the same. Throws db::DbError.
record::PgBouncerSample read_pgbouncer_console(db::OwnSession& console);

}  // namespace pgleak::probe

#pragma once

// The one place a pool kind's model is chosen (scenario/pool_kinds.hpp holds
// the kinds' settings). Adding a kind: a row there, a model here.

#include <memory>

#include "db/connection.hpp"
#include "pool/pool.hpp"
#include "pool/pool_config.hpp"
#include "scenario/scenario.hpp"

namespace pgleak::pool {

// SQLAlchemy's settings of a scenario as QueuePool's configuration (applied durations).
PoolConfig sqlalchemy_config(const scenario::PoolSettings& settings);

// The model of `settings.kind` over `factory` (which must outlive it).
// `time_scale` scales a library's own fixed delays as the scenario's are.
std::unique_ptr<Pool> make_pool(const scenario::PoolSettings& settings, double time_scale,
                                db::ConnectionFactory& factory);

}  // namespace pgleak::pool

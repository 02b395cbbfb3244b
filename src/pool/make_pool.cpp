#include "pool/make_pool.hpp"

#include "pool/hikari_pool.hpp"
#include "pool/node_pg_pool.hpp"
#include "pool/pgx_pool.hpp"
#include "pool/psycopg_pool.hpp"
#include "pool/queue_pool.hpp"

namespace pgleak::pool {

PoolConfig sqlalchemy_config(const scenario::PoolSettings& s) {
  PoolConfig c;
  c.pool_size = s.pool_size;
  c.max_overflow = s.max_overflow;
  c.timeout = s.pool_timeout.applied;
  if (s.pool_recycle) {
    c.recycle = s.pool_recycle->applied;
  }
  c.pre_ping = s.pool_pre_ping;
  c.use_lifo = s.use_lifo;
  c.reset_on_return = s.reset_on_return;
  c.null_pool = s.null_pool;
  return c;
}

std::unique_ptr<Pool> make_pool(const scenario::PoolSettings& settings, double time_scale,
                                db::ConnectionFactory& factory) {
  if (settings.kind == "hikaricp") {
    return std::make_unique<HikariPool>(settings, time_scale, factory);
  }
  if (settings.kind == "psycopg_pool") {
    return std::make_unique<PsycopgPool>(settings, time_scale, factory);
  }
  if (settings.kind == "pgx") {
    return std::make_unique<PgxPool>(settings, time_scale, factory);
  }
  if (settings.kind == "node_postgres") {
    return std::make_unique<NodePgPool>(settings, time_scale, factory);
  }
  return std::make_unique<QueuePool>(sqlalchemy_config(settings), factory);
}

}  // namespace pgleak::pool

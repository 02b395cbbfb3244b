#include "workload/process_replica.hpp"

namespace pgleak::workload {

pool::PoolConfig ProcessReplica::pool_config(const scenario::PoolSettings& s) {
  pool::PoolConfig c;
  c.pool_size = s.pool_size;
  c.max_overflow = s.max_overflow;
  c.timeout = s.pool_timeout.applied;
  if (s.pool_recycle) {
    c.recycle = s.pool_recycle->applied;
  }
  c.pre_ping = s.pool_pre_ping;
  c.use_lifo = s.use_lifo;
  c.reset_on_return = s.reset_on_return;
  return c;
}

ProcessReplica::ProcessReplica(const scenario::ProcessSpec& spec, int replica,
                               std::unique_ptr<db::ConnectionFactory> factory)
    : spec_(spec),
      replica_(replica),
      factory_(std::move(factory)),
      pool_(std::make_unique<pool::QueuePool>(pool_config(spec.pool), *factory_)) {}

ProcessReplica::~ProcessReplica() {
  end();
}

void ProcessReplica::end() {
  std::lock_guard lock{global_mutex_};
  global_session_.reset();
}

}  // namespace pgleak::workload

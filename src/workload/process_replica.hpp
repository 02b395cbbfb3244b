#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "db/pg_connection.hpp"
#include "pool/queue_pool.hpp"
#include "scenario/scenario.hpp"
#include "session/session.hpp"

namespace pgleak::workload {

// One running copy of a simulated process: its engine (connection factory and
// pool) and what its workers share (the module-level "global session").
//
// Destruction order matters: the global session goes back to the pool before
// the pool closes its connections.
class ProcessReplica {
 public:
  ProcessReplica(const scenario::ProcessSpec& spec, int replica,
                 std::unique_ptr<db::ConnectionFactory> factory);
  ~ProcessReplica();
  ProcessReplica(const ProcessReplica&) = delete;
  ProcessReplica& operator=(const ProcessReplica&) = delete;

  const scenario::ProcessSpec& spec() const { return spec_; }
  int replica() const { return replica_; }
  pool::QueuePool& pool() { return *pool_; }
  // The engine's connection factory, for patterns that bypass the pool (NullPool).
  db::ConnectionFactory& factory() { return *factory_; }
  const pool::QueuePool& pool() const { return *pool_; }

  // The process-wide session of the global_session pattern. Lock the mutex
  // while using it: workers share one session as a module global is shared.
  std::mutex& global_session_mutex() { return global_mutex_; }
  std::optional<session::Session>& global_session() { return global_session_; }

  // Connections opened (or attempted) outside the pool (NullPool patterns).
  void count_unpooled_connect() { unpooled_connects_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t unpooled_connects() const { return unpooled_connects_.load(std::memory_order_relaxed); }

  // Ends the process: returns the global session; the pool's connections close
  // when the replica is destroyed.
  void end();

  static pool::PoolConfig pool_config(const scenario::PoolSettings& settings);

 private:
  const scenario::ProcessSpec& spec_;
  const int replica_;
  std::unique_ptr<db::ConnectionFactory> factory_;
  std::unique_ptr<pool::QueuePool> pool_;
  std::mutex global_mutex_;
  std::optional<session::Session> global_session_;
  std::atomic<uint64_t> unpooled_connects_{0};
};

}  // namespace pgleak::workload

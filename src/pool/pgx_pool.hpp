#pragma once

// A model of pgx v4's pgxpool (github.com/jackc/pgx/v4/pgxpool over
// jackc/puddle v1), checked against the real one by
// tests/differential/pools/ (docs/POOLS.md):
//  - at start (unless LazyConnect) pool_min_conns are opened, and one
//    at least (ConnectConfig acquires and releases one);
//  - Acquire takes the most recently released idle connection; with none,
//    the caller opens one itself while fewer than pool_max_conns exist, and
//    a refused connect is the caller's error; else it waits until one is
//    released or its context ends ("context deadline exceeded": the
//    application's deadline, acquire_timeout here; 0 waits for ever);
//  - nothing is checked at checkout: a dead connection fails in the
//    caller's hands;
//  - Release closes a connection that is broken, still in a transaction
//    (no rollback), or older than pool_max_conn_lifetime;
//  - every pool_health_check_period, idle connections older than their
//    lifetime or idle longer than pool_max_conn_idle_time close, and the
//    pool is topped up to pool_min_conns in the background.
//
// Thread-safety: as MaintainedPool.

#include "pool/maintained_pool.hpp"
#include "scenario/scenario.hpp"

namespace pgleak::pool {

class PgxPool final : public MaintainedPool {
 public:
  PgxPool(const scenario::PoolSettings& settings, double time_scale,
          db::ConnectionFactory& factory);
  ~PgxPool() override;

 private:
  void start_locked(Clock::time_point at) override;
  void on_wait_locked() override {}
  bool lifo() const override { return true; }
  bool open_in_caller_locked() override;
  InTransaction in_transaction() const override { return InTransaction::kClose; }
  std::string timeout_message(util::Micros waited) const override;
  bool keep_on_return_locked(Entry& entry, Clock::time_point now) override;
  void on_closed_locked() override {}
  Closing health_check_locked();
  void top_up_locked(int to);

  const int max_;
  const int min_;
  const bool lazy_;
  const util::Micros lifetime_;
  const util::Micros max_idle_;
  const util::Micros period_;
};

}  // namespace pgleak::pool

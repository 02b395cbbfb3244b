#pragma once

// A model of HikariCP 2.7's HikariPool (com.zaxxer.hikari.pool), checked
// against the real one by tests/differential/pools/ (docs/POOLS.md):
//  - eager: at start, and whenever a connection closes, the pool is filled in
//    the background up to minimumIdle idle connections (fillPool);
//  - a client finding none idle queues, and one more connection is added
//    while total < maximumPoolSize and someone waits (addBagItem);
//  - a refused connect is retried in the background after 250 ms, each delay
//    1.5 times the last, at most min(10 s, connectionTimeout); the client
//    only ever sees its timeout: "HikariPool-1 - Connection is not
//    available, request timed out after Nms.";
//  - a connection idle more than aliveBypassWindow (500 ms) is validated at
//    checkout (a round trip); a dead one is closed, the checkout goes on;
//  - each connection lives maxLifetime less up to 2.5 % at random: idle, it
//    is closed and replaced then; checked out, when it comes back;
//  - the housekeeper (every housekeepingPeriod, first after 100 ms) closes
//    connections idle more than idleTimeout down to minimumIdle, then fills;
//  - leakDetectionThreshold: a connection held that long is counted as a
//    leak warning (HikariCP logs one); it is never taken back.
// Durations are the scenario's, scaled; HikariCP's own fixed delays (the
// back-off, the housekeeper's first run) are scaled by time_scale too.
//
// Thread-safety: as MaintainedPool.

#include <set>

#include "pool/maintained_pool.hpp"
#include "scenario/scenario.hpp"

namespace pgleak::pool {

class HikariPool final : public MaintainedPool {
 public:
  HikariPool(const scenario::PoolSettings& settings, double time_scale,
             db::ConnectionFactory& factory);
  ~HikariPool() override;

 private:
  void start_locked(Clock::time_point at) override;
  void on_wait_locked() override;
  bool usable(Entry& entry) override;
  std::string timeout_message(util::Micros waited) const override;
  bool keep_on_return_locked(Entry& entry, Clock::time_point now) override;
  void on_closed_locked() override;
  void on_checked_out_locked(const Entry& entry, uint64_t checkout) override;

  bool should_create_locked() const;
  void fill_locked();
  void submit_creator_locked();
  void create_locked(util::Micros backoff);
  void next_creator_locked();
  void set_life_locked(const Entry& entry);
  Closing housekeep_locked();

  const int max_;
  const int min_idle_;
  const util::Micros connection_timeout_;  // nominal: caps the back-off
  const util::Micros idle_timeout_;        // applied, as the rest below
  const util::Micros max_lifetime_;
  const util::Micros max_lifetime_nominal_;
  const util::Micros leak_threshold_;
  const util::Micros housekeeping_;
  const util::Micros alive_bypass_;
  int adding_ = 0;                  // creators queued or running (addConnectionQueue)
  bool creating_ = false;           // one is running (HikariCP's adder is one thread)
  std::set<uint64_t> evicted_out_;  // checked out past their life: closed on return
};

}  // namespace pgleak::pool

#pragma once

// A model of psycopg_pool 3.1's ConnectionPool (psycopg_pool/pool.py), checked
// against the real one by tests/differential/pools/ (docs/POOLS.md):
//  - eager: min_size connections are opened in the background at start;
//  - getconn() takes the oldest idle connection; with none, the client
//    queues and, if the pool may grow (fewer than max_size) and is not
//    growing already, one more is opened, then one more after each while
//    clients are still queued (_maybe_grow_pool, growing AddConnection);
//  - a queued client is handed the next connection returned or opened; after
//    `timeout` it fails with "couldn't get a connection after T sec";
//  - a failed connect is retried in the background after 1 s (±10 %),
//    doubling, until reconnect_timeout, then the place is given up; clients
//    only see their timeout;
//  - nothing is checked at checkout: a dead connection fails in the client's
//    hands; returned broken (or past its life: max_lifetime less up to 5 %
//    at random, looked at only on return), it is closed and a new one opened
//    in its place;
//  - every max_idle, if more than min_size are open and some stayed idle the
//    whole period, one idle connection is closed (ShrinkPool).
// Durations are the scenario's, scaled; the library's fixed retry delays are
// scaled by time_scale too.
//
// Thread-safety: as MaintainedPool.

#include <optional>

#include "pool/maintained_pool.hpp"
#include "scenario/scenario.hpp"

namespace pgleak::pool {

// Python's repr() of a float, as an f-string prints it: "30.0", "0.25".
std::string python_float(double value);

class PsycopgPool final : public MaintainedPool {
 public:
  PsycopgPool(const scenario::PoolSettings& settings, double time_scale,
              db::ConnectionFactory& factory);
  ~PsycopgPool() override;

 private:
  // ConnectionAttempt: the retry schedule of one failing connection.
  struct Attempt {
    util::Micros delay{0};  // applied
    Clock::time_point give_up_at{};
  };
  void start_locked(Clock::time_point at) override;
  void on_wait_locked() override;
  std::string timeout_message(util::Micros waited) const override;
  bool keep_on_return_locked(Entry& entry, Clock::time_point now) override;
  void on_closed_locked() override;
  void on_idle_taken_locked() override;

  void add_locked(std::optional<Attempt> attempt, bool growing);
  Closing shrink_locked();

  const int min_;
  const int max_;
  const util::Micros max_lifetime_;
  const util::Micros max_idle_;
  const util::Micros reconnect_timeout_;
  bool growing_ = false;
  int idle_low_ = 0;  // _nconns_min: the fewest idle in this max_idle period
};

}  // namespace pgleak::pool

#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <vector>

#include "fiber/sync.hpp"
#include "pool/ledger.hpp"
#include "pool/pool.hpp"
#include "pool/pool_config.hpp"

namespace pgleak::pool {

// A model of SQLAlchemy's QueuePool (sqlalchemy/pool/impl.py and base.py):
//  - connections are opened lazily; up to pool_size are kept, max_overflow more may exist;
//  - when all are out, checkout waits up to `timeout`, then throws PoolTimeoutError with
//    SQLAlchemy's message; waiters wake only when a connection is returned, as there,
//    oldest first (Python's threading.Condition);
//  - a returned connection is rolled back, then kept if fewer than pool_size are idle,
//    else closed (overflow shrinks);
//  - FIFO hand-out, LIFO with use_lifo;
//  - at checkout a connection older than `recycle` (age since opened) or opened before
//    the last pool invalidation is closed and reopened; pre_ping pings non-fresh
//    connections, and on a disconnect invalidates the pool (every connection opened
//    before now) and reconnects, two attempts in all;
//  - with null_pool, SQLAlchemy's NullPool: a connection per checkout, closed at check-in;
//  - engine_dispose() is Engine.dispose(): the idle connections close and a new pool with
//    a fresh overflow budget takes over, while connections still checked out stay with
//    the old one; returned, they are kept open there (up to pool_size, as its queue
//    keeps them) until collect_garbage(), as CPython's cycle collector frees the old
//    pool (measured with SQLAlchemy 1.4.46: see tests/differential/).
//
// Thread-safety: every public member may be called from any thread.
class QueuePool final : public Pool {
 public:
  // Ages are measured with this clock (tests inject a manual one); waits use
  // the real steady clock.
  using AgeClock = std::function<Clock::time_point()>;

  QueuePool(PoolConfig config, db::ConnectionFactory& factory, AgeClock age_clock = Clock::now);
  ~QueuePool() override;

  PooledConnection checkout(const CheckoutRequest& request, std::stop_token stop = {}) override;
  // Every connection opened until now is replaced at its next checkout.
  void invalidate_all() override;
  void dispose() override;
  // Engine.dispose(): dispose(), then start over as a new pool (see above).
  void engine_dispose() override;
  // gc.collect(): the pools engine_dispose() replaced are freed, closing the
  // connections they kept.
  int collect_garbage() override;
  void cleaning_up(bool on) override;

  record::PoolStats stats() const override;
  std::vector<Outstanding> outstanding() const override;
  std::string last_holder(int backend_pid) const override;
  util::Micros checkout_timeout() const override { return config_.timeout; }
  const util::LatencyHistogram& checkout_waits() const override { return ledger_.waits; }
  const PoolConfig& config() const { return config_; }

 private:
  struct Record : Slot {
    Clock::time_point started{};
    bool fresh = false;        // opened by this checkout: pre-ping is skipped
    bool never_opened = true;  // a failed first connect gives the overflow slot back
    uint64_t generation = 0;   // the engine_dispose() count when it was handed out
  };
  void checkin(std::unique_ptr<Slot> slot) noexcept override;
  void invalidate(Slot& slot) override;
  // A record of a pool engine_dispose() replaced came back: keep it in that
  // pool's queue or close it. Call with mutex_ held; returns it to close, if any.
  std::unique_ptr<Record> retire(std::unique_ptr<Record> record);

  // The queue's next record (its newest with use_lifo). Call with mutex_
  // held and the queue not empty.
  std::unique_ptr<Record> take_idle();
  // A record from the queue (or a new overflow slot), waiting if need be.
  // When it needs nothing before use (open, young, not stale, no pre-ping,
  // the right application_name), the checkout is recorded right there, under
  // the same lock, and `ready` is set: the common case takes the lock once.
  std::unique_ptr<Record> acquire_record(const CheckoutRequest& request, std::stop_token stop,
                                         Clock::time_point& requested, bool& ready);
  void prepare(Record& record, const CheckoutRequest& request);
  // Why a record's open connection must be replaced at checkout, if at all:
  // older than `recycle` at `age_now`, or opened before the last pool
  // invalidation. The one statement of the rule. Call with mutex_ held.
  enum class Replace { kNo, kRecycle, kStale };
  Replace replacement(const Record& record, Clock::time_point age_now) const;
  void connect(Record& record, const CheckoutRequest& request);
  void close_connection(Record& record);
  void return_record(std::unique_ptr<Record> record);
  void return_failed(std::unique_ptr<Record> record);
  bool can_overflow() const;

  const PoolConfig config_;
  db::ConnectionFactory& factory_;
  const AgeClock age_clock_;

  mutable std::mutex mutex_;
  // A thread waiting in checkout; notified (under mutex_) in arrival order.
  struct Waiter {
    bool notified = false;
    fiber::ConditionVariable cv;
  };
  // Wakes the oldest waiter; call with mutex_ held, after a check-in.
  void notify_oldest_waiter();
  std::deque<Waiter*> waiters_;
  std::deque<std::unique_ptr<Record>> idle_;
  int overflow_;  // SQLAlchemy's _overflow: starts at -pool_size
  Clock::time_point invalidated_at_{};
  uint64_t next_id_ = 1;
  uint64_t generation_ = 0;
  int retired_out_ = 0;
  std::deque<std::unique_ptr<Record>> retired_idle_;
  Ledger ledger_;
};

}  // namespace pgleak::pool

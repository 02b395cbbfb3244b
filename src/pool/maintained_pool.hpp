#pragma once

// What HikariCP and psycopg_pool share, and SQLAlchemy's QueuePool does not:
// connections opened and closed by the pool's own background thread (a
// start-up fill, a refill, retries after a refused connect, idle shrink,
// lifetimes), checkouts served oldest idle first, and a returned connection
// handed straight to the oldest waiting client. Each kind (hikari_pool.hpp,
// psycopg_pool.hpp) supplies what differs: when to open more, what to check
// at checkout and at return, and its timeout's words.
//
// The background work runs on one thread per pool (`Maintenance`): HikariCP
// adds connections on one thread too; psycopg_pool has three workers, which
// only makes its start-up fill concurrent (a few milliseconds on loopback).
//
// Thread-safety: every public member may be called from any thread. Lock
// order: mutex_ is a leaf; tasks run on the maintenance thread with it
// released, and connections are opened and closed with it released.

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "fiber/sync.hpp"
#include "pool/ledger.hpp"
#include "pool/pool.hpp"

namespace pgleak::pool {

// One thread running scheduled tasks in time order.
class Maintenance {
 public:
  using Clock = std::chrono::steady_clock;
  Maintenance();
  ~Maintenance();  // stops; tasks not yet run are dropped
  Maintenance(const Maintenance&) = delete;
  Maintenance& operator=(const Maintenance&) = delete;

  void at(Clock::time_point when, std::function<void()> task);
  // Drops every task not yet started; waits for one running to end, unless
  // called from a task.
  void clear();
  void stop();

 private:
  void loop(const std::stop_token& stop);
  std::mutex mutex_;
  fiber::ConditionVariable cv_;
  std::multimap<Clock::time_point, std::function<void()>> tasks_;
  bool running_task_ = false;
  std::thread::id thread_id_;
  std::jthread thread_;
};

class MaintainedPool : public Pool {
 public:
  // Holds `factory` (which must outlive it). `time_scale` scales the
  // library's own fixed delays (retry back-offs) as the scenario's are.
  MaintainedPool(db::ConnectionFactory& factory, util::Micros timeout, double time_scale);
  ~MaintainedPool() override;

  PooledConnection checkout(const CheckoutRequest& request, std::stop_token stop = {}) override;
  void dispose() override;
  void cleaning_up(bool on) override;
  void begin_life(const std::string& application_name, Clock::time_point at) override;

  record::PoolStats stats() const override;
  std::vector<Outstanding> outstanding() const override;
  std::string last_holder(int backend_pid) const override;
  util::Micros checkout_timeout() const override { return timeout_; }
  const util::LatencyHistogram& checkout_waits() const override { return ledger_.waits; }

 protected:
  struct Entry : Slot {
    int uses = 0;  // checkouts so far
    Clock::time_point created{};
    Clock::time_point last_access{};                         // returned (or opened) last
    Clock::time_point expire_at = Clock::time_point::max();  // psycopg_pool's, on return
  };

  // What a kind does with a connection returned inside a transaction:
  // roll it back (HikariCP, psycopg_pool), close it (pgxpool) or keep it as
  // it is, transaction and all (node-postgres).
  enum class InTransaction { kRollback, kClose, kKeep };

  // --- hooks, called with mutex_ held unless said otherwise ---
  // The pool's life begins at `at`: schedule the start-up fill and the
  // periodic work.
  virtual void start_locked(Clock::time_point at) = 0;
  // A client is about to wait (none idle): open more, if the kind does.
  virtual void on_wait_locked() = 0;
  // Without mutex_: may `entry` be handed out? Kinds that validate do so
  // here; false closes it (the kind refills in on_closed_locked) and the
  // checkout goes on.
  virtual bool usable(Entry& entry) { return entry.conn != nullptr; }
  // The message of a checkout that waited `waited` in vain.
  virtual std::string timeout_message(util::Micros waited) const = 0;
  // A connection came back (after its rollback): true to keep it, false to
  // close it (then on_closed_locked runs).
  virtual bool keep_on_return_locked(Entry& entry, Clock::time_point now) = 0;
  // A connection the pool counted was closed: at checkout (not usable) or
  // at return (not kept). A failed background open goes to its `opened`.
  virtual void on_closed_locked() = 0;
  // Idle connections are handed out newest first (a stack), not oldest first.
  virtual bool lifo() const { return false; }
  // None idle: may the client open one itself, now (pgxpool, node-postgres)?
  // A kind that says yes has counted it in total_; a failure reaches the
  // client as the connect's own error.
  virtual bool open_in_caller_locked() { return false; }
  // A connection the client opened itself (open_in_caller_locked).
  virtual void on_opened_locked(Entry& /*entry*/) {}
  virtual InTransaction in_transaction() const { return InTransaction::kRollback; }
  // An idle connection was just taken (psycopg_pool's low-water mark).
  virtual void on_idle_taken_locked() {}
  // Just checked out (mutex_ held): schedule per-checkout work.
  virtual void on_checked_out_locked(const Entry& /*entry*/, uint64_t /*checkout*/) {}

  // --- for the kinds ---
  // Stops the background thread and closes every idle connection. Each
  // kind's destructor calls it first: tasks call the kind's hooks.
  void shutdown();
  // Opens one connection on the maintenance thread (mutex_ released) and
  // gives it to the oldest waiter or the idle list. Then `opened(entry)`
  // runs, with mutex_ held: the new entry (still valid: its taker needs the
  // lock), or nullptr when the connect failed (the kind retries or gives
  // the place up). `total_` must already count it.
  void open_in_background(std::function<void(Entry*)> opened);
  // Closes an entry the pool no longer counts (mutex_ released by the caller).
  void close_entry(std::unique_ptr<Entry> entry);
  // Schedules `task` at `when`, unless the process ended by then. It runs
  // with mutex_ held and returns the entries to close (after it is released).
  using Closing = std::vector<std::unique_ptr<Entry>>;
  void schedule(Clock::time_point when, std::function<Closing()> task);
  Clock::time_point now() const { return Clock::now(); }
  // Takes the idle entry `id` out of the pool (no longer counted), if it is
  // idle and `also` (when given) holds for it; nullptr otherwise.
  std::unique_ptr<Entry> take_idle_locked(uint64_t id,
                                          const std::function<bool(const Entry&)>& also = {});
  // Clients queued for a connection and not yet handed one.
  int queued_locked() const { return static_cast<int>(waiters_.size()); }
  util::Micros scaled(util::Micros nominal) const;
  double random_fraction();  // in [0, 1)

  mutable std::mutex mutex_;
  std::deque<std::unique_ptr<Entry>> idle_;
  int total_ = 0;       // open, opening or checked out: the library's pool size
  bool paused_ = true;  // before a life begins, and while the process ends
  Ledger ledger_;

 private:
  struct Waiter {
    std::unique_ptr<Entry> handed;
    fiber::ConditionVariable cv;
  };
  void checkin(std::unique_ptr<Slot> slot) noexcept override;
  void invalidate(Slot& slot) override;
  // Gives `entry` to the oldest waiter, or keeps it idle. mutex_ held.
  void offer_locked(std::unique_ptr<Entry> entry);
  // An idle entry, one handed over while waiting, or nullptr: `open_here`
  // when the client may open one itself, else the wait timed out.
  std::unique_ptr<Entry> take(std::stop_token& stop, Clock::time_point requested, bool& open_here);
  std::unique_ptr<Entry> open_for(const CheckoutRequest& request);

  db::ConnectionFactory& factory_;
  const util::Micros timeout_;  // 0: no deadline
  const double time_scale_;
  std::string application_name_;
  std::deque<Waiter*> waiters_;
  uint64_t next_id_ = 1;
  uint64_t epoch_ = 0;  // counts pauses: tasks scheduled before one are dropped
  std::mt19937_64 random_{std::random_device{}()};
  Maintenance maintenance_;  // last: its thread stops first
};

}  // namespace pgleak::pool

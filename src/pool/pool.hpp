#pragma once

// The one interface every pool kind implements (docs/POOLS.md): SQLAlchemy's
// QueuePool (queue_pool.hpp), HikariCP and psycopg_pool (maintained_pool.hpp
// and a file per kind). Workers, sessions, the fleet and the sampler see a
// pool only through this: which library a process uses is decided once, in
// make_pool() (pool_kinds.cpp).
//
// Thread-safety: every public member of a Pool may be called from any
// thread. A PooledConnection is used by one thread at a time.

#include <chrono>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "db/connection.hpp"
#include "pool/pool_timeout.hpp"
#include "record/pool_stats.hpp"
#include "util/latency_histogram.hpp"

namespace pgleak::pool {

class PooledConnection;

// Who asks for a connection: the tag it should carry on the server and the
// worker it is attributed to while checked out.
struct CheckoutRequest {
  std::string application_name;
  std::string holder;  // the worker, "group.index" (a pool belongs to one process replica)
};

// A connection currently checked out, for attribution of held backends.
struct Outstanding {
  uint64_t id = 0;  // the checkout, unique within its pool
  std::string holder;
  int backend_pid = 0;
  // When it was handed out, to the millisecond: a checkout served at once is
  // stamped on the coarse clock (util::coarse_now), up to a tick early.
  std::chrono::steady_clock::time_point since;
};

// A pooled connection's place in its pool. Each kind derives its own record
// from it; a pool is only ever handed back its own slots.
struct Slot {
  virtual ~Slot() = default;
  std::unique_ptr<db::Connection> conn;
  uint64_t id = 0;  // unique within its pool
};

class Pool {
 public:
  using Clock = std::chrono::steady_clock;

  virtual ~Pool() = default;
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Throws PoolTimeoutError (with the library's own message), CheckoutCancelled
  // (stop requested) or db::DbError (what the library lets through).
  virtual PooledConnection checkout(const CheckoutRequest& request, std::stop_token stop = {}) = 0;

  // Marks every connection opened until now as stale (SQLAlchemy's
  // Pool._invalidate after a disconnect). Kinds without the notion ignore it.
  virtual void invalidate_all() {}
  // Closes idle connections. Checked-out ones close when returned.
  virtual void dispose() = 0;
  // SQLAlchemy's Engine.dispose(); elsewhere the same as dispose() followed
  // by a fresh start.
  virtual void engine_dispose() { dispose(); }
  // gc.collect() of a Python process: what it frees. Returns how many closed.
  virtual int collect_garbage() { return 0; }
  // The process is ending: returns from now on are pgleak's clean-up
  // (checkins_by_cleanup), until a new life begins (false). A kind with
  // background work stops it while on, and starts again (its start-up fill
  // included) when a new life begins.
  virtual void cleaning_up(bool on) = 0;
  // The process's life begins at `at` (cleaning_up(false) first): an eager
  // kind starts filling then, tagging what it opens unasked with
  // `application_name`. Lazy kinds ignore it.
  virtual void begin_life(const std::string& /*application_name*/, Clock::time_point /*at*/) {}

  virtual record::PoolStats stats() const = 0;
  virtual std::vector<Outstanding> outstanding() const = 0;
  // The holder that last checked out the connection with this backend pid, or "".
  virtual std::string last_holder(int backend_pid) const = 0;
  // How long a checkout may wait before it fails.
  virtual util::Micros checkout_timeout() const = 0;
  // Request-to-handover time of every successful checkout.
  virtual const util::LatencyHistogram& checkout_waits() const = 0;

 protected:
  Pool() = default;
  friend class PooledConnection;
  // The connection comes back (rollback, keep or close, as the library does).
  virtual void checkin(std::unique_ptr<Slot> slot) noexcept = 0;
  // The session broke in use: close its connection (and whatever the
  // library does beside). The slot is still returned by checkin() later.
  virtual void invalidate(Slot& slot) = 0;
  PooledConnection hand_out(std::unique_ptr<Slot> slot);
};

// A checked-out connection; returns it to the pool when destroyed (the
// try/finally of a well-written app). Move-only; used by one thread at a time.
class PooledConnection {
 public:
  PooledConnection() = default;
  PooledConnection(PooledConnection&& other) noexcept;
  PooledConnection& operator=(PooledConnection&& other) noexcept;
  ~PooledConnection();

  db::Connection& operator*() const { return *slot_->conn; }
  db::Connection* operator->() const { return slot_->conn.get(); }
  // Checked out and its session still open (false after invalidate()).
  bool valid() const { return slot_ != nullptr && slot_->conn != nullptr; }

  // The session broke in use: close it (SQLAlchemy also marks the pool's
  // older connections stale). Returned on release.
  void invalidate();
  // Returns the connection now.
  void release() noexcept;

 private:
  friend class Pool;
  PooledConnection(Pool* pool, std::unique_ptr<Slot> slot) : pool_(pool), slot_(std::move(slot)) {}
  Pool* pool_ = nullptr;
  std::unique_ptr<Slot> slot_;
};

}  // namespace pgleak::pool

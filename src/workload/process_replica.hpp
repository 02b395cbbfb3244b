#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "db/pg_connection.hpp"
#include "db/socket_registry.hpp"
#include "fiber/sync.hpp"
#include "pool/pool.hpp"
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
  // `make_factory` builds the engine's connection factory; the connections it
  // opens register their sockets with the registry it is given (the
  // process's own, so that a crash cuts only its sockets).
  ProcessReplica(const scenario::ProcessSpec& spec, int replica, double time_scale,
                 const std::function<std::unique_ptr<db::ConnectionFactory>(db::SocketRegistry&)>&
                     make_factory);
  ~ProcessReplica();
  ProcessReplica(const ProcessReplica&) = delete;
  ProcessReplica& operator=(const ProcessReplica&) = delete;

  const scenario::ProcessSpec& spec() const { return spec_; }
  int replica() const { return replica_; }
  pool::Pool& pool() { return *pool_; }
  // The engine's connection factory, for patterns that bypass the pool (NullPool).
  db::ConnectionFactory& factory() { return *factory_; }
  const pool::Pool& pool() const { return *pool_; }

  // The process's module-level sessions, by name (the global_session pattern's,
  // and steps that open a name "shared"). Lock the mutex while using one:
  // workers share it as they share a module global.
  fiber::Mutex& shared_sessions_mutex() { return shared_mutex_; }
  std::optional<session::Session>& shared_session(const std::string& name) { return shared_[name]; }

  // A session the application let go of, released `delay` from now: closed
  // late by someone else, or garbage-collected when its reference cycle is.
  // A process that ends first releases it then. Thread-safe.
  void release_later(session::Session session, util::Micros delay);
  // The last reference to a session went (del, a name bound anew, a function
  // returning). SQLAlchemy 1.4: a Session with an open transaction sits in a
  // reference cycle and keeps its connection, idle in transaction, until the
  // garbage collector runs (the spec's gc: its next automatic run, or a
  // collect()); one without is freed at once by reference counting.
  // Thread-safe.
  void let_go(session::Session session);
  // gc.collect(): frees every session waiting for the collector, and the
  // connections that pools replaced by engine.dispose() still keep.
  // Thread-safe.
  void collect();

  // Connections opened (or attempted) outside the pool (NullPool patterns).
  void count_unpooled_connect() { unpooled_connects_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t unpooled_connects() const { return unpooled_connects_.load(std::memory_order_relaxed); }

  // Ends the process: releases its shared sessions and those waiting for a
  // late release; the pool's connections close when the replica is destroyed.
  void end();

  // --- its life: started, ended (cleanly or by a crash), started again ---
  struct Life {
    uint64_t number = 0;   // 1 for the first start
    std::stop_token stop;  // requested when this life ends, or the run does
    std::chrono::steady_clock::time_point started;
  };
  // The application_name an eager pool gives the connections it opens
  // unasked (set before the first life begins).
  void set_pool_tag(std::string tag) { pool_tag_ = std::move(tag); }
  // Starts a new life at `started` (an eager pool starts filling then); it
  // also ends when `run` stops.
  void begin_life(std::chrono::steady_clock::time_point started, const std::stop_token& run);
  // Blocks until a life later than `seen` has begun and not ended; nullopt
  // once `run` stops.
  std::optional<Life> next_life(uint64_t seen, const std::stop_token& run);
  std::chrono::steady_clock::time_point life_started() const;
  // A crash: from now on nothing the process's workers see is recorded (a
  // killed process reports nothing), and its sockets are shut down without a
  // goodbye, as the kernel closes a killed process's. Then end_life().
  void crash();
  bool crashed() const { return crashed_.load(std::memory_order_acquire); }
  // Ends the current life: its workers' stop is requested.
  void end_life();
  // Workers running in the current life enter and leave; the process can be
  // torn down once none is left. False when `run` stopped or `timeout` passed.
  void worker_enters();
  void worker_leaves();
  bool wait_workers_left(std::chrono::milliseconds timeout, const std::stop_token& run);
  // Units of work done in the current life; wait_units() blocks until `n`.
  void count_unit();
  bool wait_units(int64_t n, const std::stop_token& run);
  // The process's sockets: a forced stop of the run cuts them all.
  db::SocketRegistry& sockets() { return sockets_; }

 private:
  const scenario::ProcessSpec& spec_;
  const int replica_;
  db::SocketRegistry sockets_;  // outlives the factory and pool, whose connections use it
  std::unique_ptr<db::ConnectionFactory> factory_;
  std::unique_ptr<pool::Pool> pool_;
  std::string pool_tag_{"pgleak"};
  fiber::Mutex shared_mutex_;
  std::map<std::string, std::optional<session::Session>> shared_;
  std::atomic<uint64_t> unpooled_connects_{0};

  // Late releases, due in time order, and the sessions waiting for the
  // collector, and the thread that frees both (started with the first).
  void release_due();
  void start_releaser();  // late_mutex_ held
  // The collector's next automatic run after `now`: on a fixed schedule of
  // spec_.gc.interval from `origin`, the start of the process's current life.
  std::chrono::steady_clock::time_point next_collection(
      std::chrono::steady_clock::time_point now,
      std::chrono::steady_clock::time_point origin) const;
  std::mutex late_mutex_;
  std::condition_variable late_cv_;
  std::multimap<std::chrono::steady_clock::time_point, session::Session> late_;
  std::vector<session::Session> garbage_;
  std::optional<std::chrono::steady_clock::time_point>
      collection_due_;  // with garbage_ and an interval
  bool ending_ = false;
  std::thread releaser_;

  mutable std::mutex life_mutex_;
  fiber::ConditionVariable life_cv_;
  Life life_;
  bool life_ended_ = true;
  std::stop_source life_source_;
  std::optional<std::stop_callback<std::function<void()>>> life_on_run_stop_;
  int workers_in_life_ = 0;
  int64_t units_in_life_ = 0;
  int64_t units_wanted_ = 0;  // wait_units() is waiting for this many (0: nobody)
  std::atomic<bool> crashed_{false};
};

}  // namespace pgleak::workload

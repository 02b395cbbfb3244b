#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>

#include "db/db_error.hpp"
#include "pool/pool.hpp"
#include "record/recorder.hpp"
#include "scenario/scenario.hpp"
#include "session/session.hpp"
#include "workload/load_model.hpp"
#include "workload/process_replica.hpp"

namespace pgleak::workload {

// Everything a pattern needs to run one worker, and the bookkeeping every
// pattern shares: its budget of units of work, interruptible think time, and
// turning failures into attributed events.
//
// Used by its own worker thread only.
class WorkerContext {
 public:
  WorkerContext(ProcessReplica& process, const scenario::WorkerGroup& group, GroupLoad& load,
                int index, std::string application_name, record::Recorder& recorder,
                std::stop_token stop);

  ProcessReplica& process() { return process_; }
  pool::Pool& pool() { return process_.pool(); }
  const scenario::WorkerGroup& group() const { return group_; }
  // The group's query, or "SELECT 1".
  std::string query() const { return group_.query.value_or("SELECT 1"); }

  // True while the worker should start another unit of work: not stopping,
  // iterations left, within its duration, and admitted by the load model (an
  // arrival in the open model, within the ramped count in the closed one).
  // Blocks until then. Counts the unit.
  bool next_unit();
  // Sleeps think_time (applied; none in the open model, where arrivals pace
  // the work); false when the run stopped meanwhile.
  bool think();
  // After a failed checkout or connect: think_time, but at least 10 ms so a
  // refused worker cannot spin; after consecutive connect failures the pause
  // doubles (with jitter) up to 1 s, as a retrying application's backoff does,
  // so a dead or full server is not hammered with connection attempts. With
  // the group's "connect_retry": "immediate", think_time only.
  bool back_off();
  // After a checkout that failed: back_off() when the server refused or could
  // not be reached (a retry loop must not hammer it), nothing more after a
  // pool timeout (the worker already waited pool_timeout, as an app's request
  // would have). False when the run stopped.
  bool after_failed_checkout();
  // Leaky patterns: the object (and its session) lives until the process ends.
  // False (always): the process ended.
  bool hold_until_process_ends();
  // Sleeps `d` (applied); false when the process ended meanwhile.
  bool sleep(util::Micros d) { return sleep_for(d); }
  // The worker's process (or the run) is ending.
  bool stopping() const { return stop_.stop_requested(); }
  // The application raised an exception of its own (nothing reached the server).
  void record_application_error(const std::string& message);
  // engine.dispose() on the process's engine, recorded as an event.
  void dispose_engine();
  // The unit of work most patterns run: the group's query in the session's
  // transaction (begun if none is open), then committed, or left open as the
  // leaky patterns do.
  void query_in_transaction(db::Connection& c, bool commit) const;

  enum class Outcome {
    kOk,
    kFailed,        // an error from the server (or PendingRollbackError): the session is as it was
    kDisconnected,  // the connection was lost: the session needs rollback()
    kNoConnection,  // no connection could be had (pool timeout, refused, unreachable, stopping)
  };
  // A new Session on the process's pool, used by this worker (SessionLocal()).
  session::Session new_session();
  // The process's module-level session `name`, made at its first use, now
  // used by this worker (each checkout it makes is attributed to whoever
  // calls). Hold the process's shared_sessions_mutex() while using it.
  session::Session& shared_session(const std::string& name);
  // Runs `work` (Session operations). Every failure is recorded as an event
  // attributed to this worker, as the application would have seen it; a
  // failed checkout counts towards back_off(). Returns what happened.
  Outcome attempt(const std::function<void()>& work);
  // As attempt(), for a rollback() or close(): its failure is recorded the
  // same way, but it neither opens nor needs a connection, so its success
  // leaves back_off()'s count of connect failures as it was.
  Outcome attempt_release(const std::function<void()>& work);
  // As attempt(), on a connection outside any pool (NullPool).
  Outcome attempt_on(db::Connection& conn, const std::function<void(db::Connection&)>& work);
  // Opens a connection without the pool (NullPool); a failure is recorded and gives nullptr.
  std::unique_ptr<db::Connection> open_unpooled();

 private:
  bool sleep_for(util::Micros d);
  Outcome attempt_counting(const std::function<void()>& work, bool success_resets_backoff);
  void record(const char* kind, const std::string& sqlstate, const std::string& message,
              std::optional<double> waited_ms = std::nullopt,
              std::optional<double> timeout_ms = std::nullopt);
  // An event attributed to this worker.
  record::Event event(const char* kind) const;
  // A DbError as the application saw it: a lost connection, or an error with
  // its SQLSTATE and where that came from.
  void record_db_error(const char* kind, const db::DbError& e);

  ProcessReplica& process_;
  const scenario::WorkerGroup& group_;
  GroupLoad& load_;
  const int index_;
  const pool::CheckoutRequest request_;
  record::Recorder& recorder_;
  std::stop_token stop_;
  const std::chrono::steady_clock::time_point started_;
  const bool counts_units_;  // the process's lifecycle ends it after a number of units
  int units_done_ = 0;
  int connect_failures_in_a_row_ = 0;
  uint64_t jitter_state_;
};

}  // namespace pgleak::workload

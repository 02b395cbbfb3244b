#include "workload/worker_context.hpp"

#include <fmt/format.h>

#include "db/db_error.hpp"
#include "db/sqlstate.hpp"
#include "scenario/pool_kinds.hpp"
#include "util/stoppable_sleep.hpp"

namespace pgleak::workload {

WorkerContext::WorkerContext(ProcessReplica& process, const scenario::WorkerGroup& group,
                             GroupLoad& load, int index, std::string application_name,
                             record::Recorder& recorder, std::stop_token stop)
    : process_(process),
      group_(group),
      load_(load),
      index_(index),
      request_{std::move(application_name), group.name + "." + std::to_string(index)},
      recorder_(recorder),
      stop_(std::move(stop)),
      started_(std::chrono::steady_clock::now()),
      counts_units_(process.spec().lifecycle && process.spec().lifecycle->after_units),
      jitter_state_(0x9E3779B97F4A7C15ull ^ (static_cast<uint64_t>(index) << 17) ^
                    std::hash<std::string>{}(request_.application_name)) {}

bool WorkerContext::next_unit() {
  if (stop_.stop_requested()) {
    return false;
  }
  if (group_.iterations && units_done_ >= *group_.iterations) {
    return false;
  }
  if (group_.duration && std::chrono::steady_clock::now() - started_ >= group_.duration->applied) {
    return false;
  }
  if (!load_.admit(index_, stop_)) {
    return false;
  }
  ++units_done_;
  if (counts_units_) {
    process_.count_unit();
  }
  return true;
}

bool WorkerContext::sleep_for(util::Micros d) {
  return d.count() <= 0 ? !stop_.stop_requested() : util::sleep_for(d, stop_);
}

bool WorkerContext::think() {
  return load_.open_model() ? !stop_.stop_requested() : sleep_for(group_.think_time.applied);
}

bool WorkerContext::back_off() {
  if (group_.connect_retry == scenario::WorkerGroup::ConnectRetry::kImmediate) {
    return sleep_for(group_.think_time.applied);  // the application's own loop, as written
  }
  const auto base =
      std::max<util::Micros>(group_.think_time.applied, std::chrono::milliseconds{10});
  if (connect_failures_in_a_row_ <= 1) {
    return sleep_for(base);
  }
  // Exponential backoff with jitter: base x 2^(n-1), at most 1 s (or the
  // think time when that is longer), drawn from its upper half.
  const auto cap = std::max<util::Micros>(base, std::chrono::seconds{1});
  const int doublings = std::min(connect_failures_in_a_row_ - 1, 20);
  const auto ceiling = std::min<util::Micros>(cap, base * (int64_t{1} << doublings));
  jitter_state_ ^= jitter_state_ << 13;
  jitter_state_ ^= jitter_state_ >> 7;
  jitter_state_ ^= jitter_state_ << 17;
  const auto half = ceiling / 2;
  const auto jitter =
      util::Micros{static_cast<int64_t>(jitter_state_ % static_cast<uint64_t>(half.count() + 1))};
  return sleep_for(ceiling - half + jitter);
}

bool WorkerContext::after_failed_checkout() {
  return connect_failures_in_a_row_ > 0 ? back_off() : !stop_.stop_requested();
}

bool WorkerContext::hold_until_process_ends() {
  util::sleep_until_stopped(stop_);
  return false;
}

void WorkerContext::record_application_error(const std::string& message) {
  if (!stop_.stop_requested()) {
    record(record::kApplicationError, "", message);
  }
}

void WorkerContext::dispose_engine() {
  pool().engine_dispose();
  const auto s = pool().stats();
  record(record::kEngineDispose, "",
         fmt::format("engine.dispose(): {} connections stay checked out from the old pool",
                     s.retired_out));
}

void WorkerContext::query_in_transaction(db::Connection& c, bool commit) const {
  if (c.tx_state() == db::TxState::kIdle) {
    c.begin();
  }
  c.execute(query());
  if (commit) {
    c.commit();
  }
}

record::Event WorkerContext::event(const char* kind) const {
  record::Event e;
  e.kind = kind;
  e.process = process_.spec().name;
  e.replica = process_.replica();
  e.worker = group_.name + "." + std::to_string(index_);
  e.pattern = group_.pattern;
  return e;
}

void WorkerContext::record(const char* kind, const std::string& sqlstate,
                           const std::string& message, std::optional<double> waited_ms,
                           std::optional<double> timeout_ms) {
  if (process_.crashed()) {
    return;  // a killed process reports nothing
  }
  auto e = event(kind);
  e.sqlstate = sqlstate;
  e.message = message;
  e.waited_ms = waited_ms;
  e.timeout_ms = timeout_ms;
  recorder_.add_event(std::move(e));
}

void WorkerContext::record_db_error(const char* kind, const db::DbError& error) {
  if (stop_.stop_requested() || process_.crashed()) {
    return;  // a run that is stopping may see its server go first: not the pattern's fault
  }
  // A connection the server ended: JDBC, pgx and node-postgres show the
  // FATAL it sent, with its SQLSTATE; libpq's drivers a lost connection.
  const bool fatal = error.disconnected() && error.sqlstate().empty() &&
                     !error.server_fatal_sqlstate().empty() &&
                     scenario::kind_of(process_.spec().pool).shows_server_fatal;
  const auto& sqlstate = fatal ? error.server_fatal_sqlstate() : error.sqlstate();
  const bool lost = error.disconnected() && sqlstate.empty() && kind == record::kQueryError;
  auto e = event(lost ? record::kConnectionLost : kind);
  e.sqlstate = sqlstate;
  e.message = fatal ? error.server_fatal() : error.what();
  e.pgbouncer_error = db::pgbouncer_error_key(e.message);
  switch (fatal ? db::CodeSource::kServer : error.source()) {
    case db::CodeSource::kServer:
      e.code_source = "server";
      break;
    case db::CodeSource::kClassified:
      e.code_source = "pgleak";
      break;
    case db::CodeSource::kNone:
      break;
  }
  recorder_.add_event(std::move(e));
}

session::Session WorkerContext::new_session() {
  return session::Session{pool(), request_, stop_};
}

session::Session& WorkerContext::shared_session(const std::string& name) {
  auto& s = process_.shared_session(name);
  if (!s) {
    s.emplace(new_session());
  }
  s->use_as(request_, stop_);
  return *s;
}

WorkerContext::Outcome WorkerContext::attempt(const std::function<void()>& work) {
  return attempt_counting(work, true);
}

WorkerContext::Outcome WorkerContext::attempt_release(const std::function<void()>& work) {
  return attempt_counting(work, false);
}

WorkerContext::Outcome WorkerContext::attempt_counting(const std::function<void()>& work,
                                                       bool success_resets_backoff) {
  try {
    work();
    if (success_resets_backoff) {
      connect_failures_in_a_row_ = 0;
    }
    return Outcome::kOk;
  } catch (const pool::PoolTimeoutError& e) {
    record(record::kPoolTimeout, "", e.what(), util::to_millis(e.waited()),
           util::to_millis(pool().checkout_timeout()));
    return Outcome::kNoConnection;
  } catch (const pool::CheckoutCancelled&) {
    return Outcome::kNoConnection;
  } catch (const session::ConnectFailed& e) {
    ++connect_failures_in_a_row_;
    record_db_error(record::kConnectError, e);
    return Outcome::kNoConnection;
  } catch (const session::PendingRollbackError& e) {
    record(record::kQueryError, "", e.what());
    return Outcome::kFailed;
  } catch (const db::DbError& e) {
    if (success_resets_backoff) {
      connect_failures_in_a_row_ = 0;  // the statement had a connection
    }
    record_db_error(record::kQueryError, e);
    return e.disconnected() ? Outcome::kDisconnected : Outcome::kFailed;
  }
}

WorkerContext::Outcome WorkerContext::attempt_on(db::Connection& conn,
                                                 const std::function<void(db::Connection&)>& work) {
  try {
    work(conn);
    return Outcome::kOk;
  } catch (const db::DbError& e) {
    record_db_error(record::kQueryError, e);
    return e.disconnected() ? Outcome::kDisconnected : Outcome::kFailed;
  }
}

std::unique_ptr<db::Connection> WorkerContext::open_unpooled() {
  try {
    auto conn = process_.factory().open(db::ConnectRequest{request_.application_name});
    connect_failures_in_a_row_ = 0;
    process_.count_unpooled_connect();
    return conn;
  } catch (const db::ConnectInterrupted&) {
    return nullptr;  // the run is stopping: no attempt to count or report
  } catch (const db::DbError& e) {
    ++connect_failures_in_a_row_;
    process_.count_unpooled_connect();
    record_db_error(record::kConnectError, e);
    return nullptr;
  }
}

}  // namespace pgleak::workload

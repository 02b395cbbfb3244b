#include "pool/queue_pool.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "db/db_error.hpp"
#include "util/coarse_clock.hpp"

namespace pgleak::pool {

std::string timeout_message(int pool_size, int overflow, util::Micros timeout) {
  return fmt::format(
      "QueuePool limit of size {} overflow {} reached, connection timed out, timeout {:.2f}",
      pool_size, overflow, util::to_seconds(timeout));
}

QueuePool::QueuePool(PoolConfig config, db::ConnectionFactory& factory, AgeClock age_clock)
    : config_(config),
      factory_(factory),
      age_clock_(std::move(age_clock)),
      overflow_(-config.pool_size) {}

QueuePool::~QueuePool() {
  dispose();
  collect_garbage();
}

bool QueuePool::can_overflow() const {
  // SQLAlchemy: pool_size == 0 disables the overflow limit.
  return config_.null_pool || config_.pool_size == 0 || config_.max_overflow < 0 ||
         overflow_ < config_.max_overflow;
}

std::unique_ptr<QueuePool::Record> QueuePool::take_idle() {
  std::unique_ptr<Record> record;
  if (config_.use_lifo) {
    record = std::move(idle_.back());
    idle_.pop_back();
  } else {
    record = std::move(idle_.front());
    idle_.pop_front();
  }
  return record;
}

std::unique_ptr<QueuePool::Record> QueuePool::acquire_record(const CheckoutRequest& request,
                                                             std::stop_token stop,
                                                             Clock::time_point& requested,
                                                             bool& ready) {
  // The hot path reads only the coarse clock: a checkout that finds the lock
  // free and a connection idle waited nothing (under a microsecond, the
  // histogram's unit), so its one reading marks when it was handed out, to
  // the millisecond (holders' ages). Every other path is timed on the
  // precise clock from before it waits, connects or pings.
  std::unique_lock lock{mutex_, std::try_to_lock};
  bool waited = !lock.owns_lock();
  bool coarse = !waited;
  requested = coarse ? util::coarse_now() : Clock::now();
  const auto precise = [&] {
    if (coarse) {
      requested = Clock::now();
      coarse = false;
    }
  };
  if (waited) {
    lock.lock();
  }
  while (true) {
    if (!idle_.empty()) {
      auto record = take_idle();
      if (record->conn && !config_.pre_ping &&
          record->conn->application_name() == request.application_name) {
        // Only pool_recycle needs the age clock.
        const auto age_now = config_.recycle ? age_clock_() : Clock::time_point{};
        if (replacement(*record, age_now) == Replace::kNo) {
          record->fresh = false;
          ledger_.checked_out(*record, request, requested, waited ? Clock::now() : requested);
          ready = true;
          return record;
        }
      }
      precise();  // it will connect or ping first: that is part of its wait
      return record;
    }
    if (can_overflow()) {
      ++overflow_;
      auto record = std::make_unique<Record>();
      record->id = next_id_++;
      record->generation = generation_;
      precise();
      return record;
    }
    // Everything is out: wait for a check-in. As in SQLAlchemy, a waiter is
    // woken by a returned connection only, not by a closed overflow slot, and
    // waiters are woken oldest first, as Python's threading.Condition.notify()
    // wakes the head of its queue. A woken waiter competes for the connection
    // like any caller; if another took it first, it waits again at the back,
    // as Queue.get() calls wait() again.
    precise();
    const auto deadline = requested + config_.timeout;
    Waiter me;
    waiters_.push_back(&me);
    ++ledger_.counters.waiting;
    me.cv.wait_until(lock, stop, deadline, [&] { return me.notified; });
    waited = true;
    --ledger_.counters.waiting;
    if (me.notified) {
      continue;
    }
    std::erase(waiters_, &me);  // timed out or stopped: leave the queue
    if (stop.stop_requested()) {
      throw CheckoutCancelled{};
    }
    if (can_overflow()) {  // a connect failure freed a slot while we waited
      continue;
    }
    ++ledger_.counters.timeouts;
    const int overflow = config_.pool_size == 0 ? 0 : overflow_;
    throw PoolTimeoutError(timeout_message(config_.pool_size, overflow, config_.timeout),
                           std::chrono::duration_cast<util::Micros>(Clock::now() - requested));
  }
}

void QueuePool::connect(Record& record, const CheckoutRequest& request) {
  try {
    record.conn = factory_.open(db::ConnectRequest{request.application_name});
  } catch (const db::ConnectInterrupted&) {
    throw;  // the run is stopping: not a connect that failed
  } catch (...) {
    std::lock_guard lock{mutex_};
    ++ledger_.counters.connect_failures;
    throw;
  }
  record.started = age_clock_();
  record.fresh = true;
  record.never_opened = false;
  std::lock_guard lock{mutex_};
  ++ledger_.counters.connects;
}

void QueuePool::close_connection(Record& record) {
  if (!record.conn) {
    return;
  }
  record.conn->close();
  record.conn.reset();
  std::lock_guard lock{mutex_};
  ++ledger_.counters.closes;
}

QueuePool::Replace QueuePool::replacement(const Record& record, Clock::time_point age_now) const {
  if (config_.recycle && age_now - record.started > *config_.recycle) {
    return Replace::kRecycle;
  }
  return invalidated_at_ > record.started ? Replace::kStale : Replace::kNo;
}

void QueuePool::prepare(Record& record, const CheckoutRequest& request) {
  record.fresh = false;
  if (!record.conn) {
    connect(record, request);
  } else {
    const auto now = age_clock_();
    Replace replace = Replace::kNo;
    {
      std::lock_guard lock{mutex_};
      replace = replacement(record, now);
      ledger_.counters.recycled += replace == Replace::kRecycle ? 1 : 0;
      ledger_.counters.invalidated += replace == Replace::kStale ? 1 : 0;
    }
    if (replace != Replace::kNo) {
      close_connection(record);
      connect(record, request);
    }
  }
  if (config_.pre_ping && !record.fresh) {
    {
      std::lock_guard lock{mutex_};
      ++ledger_.counters.pre_pings;
    }
    try {
      record.conn->ping();
    } catch (const db::DbError& e) {
      if (!e.disconnected()) {
        throw;
      }
      {
        std::lock_guard lock{mutex_};
        ++ledger_.counters.pre_ping_failures;
        if (invalidated_at_ < record.started) {
          invalidated_at_ = age_clock_();
        }
      }
      close_connection(record);
      // SQLAlchemy's second attempt is on the fresh connection, which it does not ping.
      connect(record, request);
    }
  }
  if (record.conn->application_name() != request.application_name) {
    record.conn->set_application_name(request.application_name);
  }
}

PooledConnection QueuePool::checkout(const CheckoutRequest& request, std::stop_token stop) {
  Clock::time_point requested;
  bool ready = false;
  auto record = acquire_record(request, stop, requested, ready);
  if (ready) {
    return hand_out(std::move(record));
  }
  try {
    prepare(*record, request);
  } catch (...) {
    if (record->never_opened) {
      // A connection that never opened gives its overflow slot back (_dec_overflow).
      std::lock_guard lock{mutex_};
      --overflow_;
    } else {
      return_failed(std::move(record));  // _checkin_failed: back to the queue, closed
    }
    throw;
  }
  std::lock_guard lock{mutex_};
  ledger_.checked_out(*record, request, requested, Clock::now());
  return hand_out(std::move(record));
}

void QueuePool::return_failed(std::unique_ptr<Record> record) {
  close_connection(*record);
  std::unique_lock lock{mutex_};
  if (record->generation != generation_) {
    --retired_out_;
    return;
  }
  if (config_.null_pool) {
    --overflow_;
    return;
  }
  if (config_.pool_size == 0 || static_cast<int>(idle_.size()) < config_.pool_size) {
    idle_.push_back(std::move(record));
    notify_oldest_waiter();
  } else {
    --overflow_;
  }
}

void QueuePool::checkin(std::unique_ptr<Slot> slot) noexcept {
  return_record(std::unique_ptr<Record>{static_cast<Record*>(slot.release())});
}

void QueuePool::return_record(std::unique_ptr<Record> record) {
  bool reset_failed = false;
  if (record->conn && config_.reset_on_return) {
    try {
      record->conn->rollback();
    } catch (const std::exception&) {
      reset_failed = true;  // SQLAlchemy invalidates a connection whose reset fails
    }
  }
  if (reset_failed) {
    close_connection(*record);
  }
  std::unique_lock lock{mutex_};
  ledger_.counters.reset_failures += reset_failed ? 1 : 0;
  ledger_.checked_in(*record);
  if (record->generation != generation_) {
    if (auto to_close = retire(std::move(record))) {
      lock.unlock();
      close_connection(*to_close);
    }
    return;
  }
  if (config_.null_pool) {
    --overflow_;
    lock.unlock();
    close_connection(*record);
    return;
  }
  if (config_.pool_size == 0 || static_cast<int>(idle_.size()) < config_.pool_size) {
    idle_.push_back(std::move(record));
    notify_oldest_waiter();
    return;
  }
  // The queue already keeps pool_size: this is an overflow connection, closed.
  --overflow_;
  ++ledger_.counters.overflow_closed;
  lock.unlock();
  close_connection(*record);
}

void QueuePool::notify_oldest_waiter() {
  if (!waiters_.empty()) {
    Waiter* oldest = waiters_.front();
    waiters_.pop_front();
    oldest->notified = true;
    oldest->cv.notify_one();
  }
}

void QueuePool::invalidate_all() {
  std::lock_guard lock{mutex_};
  invalidated_at_ = age_clock_();
}

void QueuePool::dispose() {
  std::deque<std::unique_ptr<Record>> idle;
  {
    std::lock_guard lock{mutex_};
    idle.swap(idle_);
    overflow_ -= static_cast<int>(idle.size());
  }
  for (auto& record : idle) {
    close_connection(*record);
  }
}

std::unique_ptr<QueuePool::Record> QueuePool::retire(std::unique_ptr<Record> record) {
  --retired_out_;
  // The old pool's queue holds pool_size; what does not fit is closed (its _dec_overflow).
  if (record->conn && !config_.null_pool &&
      (config_.pool_size == 0 || static_cast<int>(retired_idle_.size()) < config_.pool_size)) {
    retired_idle_.push_back(std::move(record));
    return nullptr;
  }
  return record;
}

void QueuePool::engine_dispose() {
  dispose();
  std::lock_guard lock{mutex_};
  ++ledger_.counters.disposals;
  ++generation_;
  // What is still checked out now belongs to the old pool; the new one starts empty.
  retired_out_ += config_.pool_size + overflow_;
  overflow_ = -config_.pool_size;
}

void QueuePool::cleaning_up(bool on) {
  std::lock_guard lock{mutex_};
  ledger_.cleaning_up = on;
}

int QueuePool::collect_garbage() {
  std::deque<std::unique_ptr<Record>> freed;
  {
    std::lock_guard lock{mutex_};
    freed.swap(retired_idle_);
  }
  for (auto& record : freed) {
    close_connection(*record);
  }
  return static_cast<int>(freed.size());
}

record::PoolStats QueuePool::stats() const {
  std::lock_guard lock{mutex_};
  record::PoolStats s = ledger_.counters;
  s.idle = static_cast<int>(idle_.size());
  // SQLAlchemy's checkedout(): maxsize - qsize + overflow (counts checkouts being prepared).
  s.checked_out = config_.pool_size - s.idle + overflow_;
  s.overflow_raw = config_.pool_size == 0 ? 0 : overflow_;
  s.overflow = std::max(0, s.overflow_raw);
  s.open = static_cast<int>(ledger_.counters.connects - ledger_.counters.closes);
  s.retired_out = retired_out_;
  s.retired_idle = static_cast<int>(retired_idle_.size());
  return s;
}

std::vector<Outstanding> QueuePool::outstanding() const {
  std::lock_guard lock{mutex_};
  return ledger_.outstanding();
}

std::string QueuePool::last_holder(int backend_pid) const {
  std::lock_guard lock{mutex_};
  return ledger_.last_holder(backend_pid);
}

void QueuePool::invalidate(Slot& slot) {
  auto& record = static_cast<Record&>(slot);
  {
    std::lock_guard lock{mutex_};
    if (invalidated_at_ < record.started) {
      invalidated_at_ = age_clock_();
    }
  }
  close_connection(record);
}

}  // namespace pgleak::pool

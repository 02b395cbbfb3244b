#include "pool/maintained_pool.hpp"

#include <algorithm>

#include "db/db_error.hpp"

namespace pgleak::pool {

Maintenance::Maintenance() : thread_{[this](const std::stop_token& stop) { loop(stop); }} {}

Maintenance::~Maintenance() {
  stop();
}

void Maintenance::stop() {
  thread_.request_stop();
  if (thread_.joinable() && std::this_thread::get_id() != thread_.get_id()) {
    thread_.join();
  }
}

void Maintenance::at(Clock::time_point when, std::function<void()> task) {
  {
    std::lock_guard lock{mutex_};
    tasks_.emplace(when, std::move(task));
  }
  cv_.notify_all();
}

void Maintenance::clear() {
  std::unique_lock lock{mutex_};
  tasks_.clear();
  if (std::this_thread::get_id() != thread_id_) {
    cv_.wait(lock, [this] { return !running_task_; });
  }
}

void Maintenance::loop(const std::stop_token& stop) {
  std::unique_lock lock{mutex_};
  thread_id_ = std::this_thread::get_id();
  while (!stop.stop_requested()) {
    if (tasks_.empty()) {
      cv_.wait(lock, stop, [this] { return !tasks_.empty(); });
      continue;
    }
    const auto when = tasks_.begin()->first;
    if (Clock::now() < when) {
      cv_.wait_until(lock, stop, when,
                     [this, when] { return !tasks_.empty() && tasks_.begin()->first < when; });
      continue;
    }
    auto task = std::move(tasks_.begin()->second);
    tasks_.erase(tasks_.begin());
    running_task_ = true;
    lock.unlock();
    task();
    lock.lock();
    running_task_ = false;
    cv_.notify_all();
  }
}

MaintainedPool::MaintainedPool(db::ConnectionFactory& factory, util::Micros timeout,
                               double time_scale)
    : factory_(factory), timeout_(timeout), time_scale_(time_scale) {}

MaintainedPool::~MaintainedPool() {
  shutdown();
}

void MaintainedPool::shutdown() {
  maintenance_.stop();
  dispose();
}

util::Micros MaintainedPool::scaled(util::Micros nominal) const {
  return std::chrono::duration_cast<util::Micros>(nominal * time_scale_);
}

double MaintainedPool::random_fraction() {
  return std::uniform_real_distribution<double>{0.0, 1.0}(random_);
}

void MaintainedPool::schedule(Clock::time_point when, std::function<Closing()> task) {
  maintenance_.at(when, [this, epoch = epoch_, task = std::move(task)] {
    Closing closing;
    {
      std::lock_guard lock{mutex_};
      if (!paused_ && epoch == epoch_) {
        closing = task();
      }
    }
    for (auto& entry : closing) {
      close_entry(std::move(entry));
    }
  });
}

void MaintainedPool::open_in_background(std::function<void(Entry*)> opened) {
  maintenance_.at(Clock::now(), [this, epoch = epoch_, opened = std::move(opened)] {
    std::string name;
    {
      std::lock_guard lock{mutex_};
      if (paused_ || epoch != epoch_) {
        --total_;
        return;
      }
      name = application_name_;
    }
    auto entry = std::make_unique<Entry>();
    try {
      entry->conn = factory_.open(db::ConnectRequest{name});
    } catch (const db::ConnectInterrupted&) {
      std::lock_guard lock{mutex_};
      --total_;  // the run is stopping: not a connect that failed, and none to retry
      return;
    } catch (const std::exception&) {
      std::lock_guard lock{mutex_};
      ++ledger_.counters.connect_failures;
      if (!paused_ && epoch == epoch_) {
        opened(nullptr);
      } else {
        --total_;
      }
      return;
    }
    std::unique_lock lock{mutex_};
    ++ledger_.counters.connects;
    entry->created = entry->last_access = Clock::now();
    if (paused_ || epoch != epoch_) {
      --total_;
      lock.unlock();
      close_entry(std::move(entry));
      return;
    }
    entry->id = next_id_++;
    // The waiter it goes to cannot take it before the lock is released, so
    // `opened` sees it after the offer (psycopg_pool decides whether to grow
    // on, by the clients still queued, after it served one).
    Entry* opened_entry = entry.get();
    offer_locked(std::move(entry));
    opened(opened_entry);
  });
}

void MaintainedPool::close_entry(std::unique_ptr<Entry> entry) {
  if (entry && entry->conn) {
    entry->conn->close();
    entry->conn.reset();
    std::lock_guard lock{mutex_};
    ++ledger_.counters.closes;
  }
}

std::unique_ptr<MaintainedPool::Entry> MaintainedPool::take_idle_locked(
    uint64_t id, const std::function<bool(const Entry&)>& also) {
  const auto it = std::find_if(idle_.begin(), idle_.end(),
                               [&](const auto& e) { return e->id == id && (!also || also(*e)); });
  if (it == idle_.end()) {
    return nullptr;
  }
  auto entry = std::move(*it);
  idle_.erase(it);
  --total_;
  return entry;
}

void MaintainedPool::offer_locked(std::unique_ptr<Entry> entry) {
  if (!waiters_.empty()) {
    Waiter* oldest = waiters_.front();
    waiters_.pop_front();
    oldest->handed = std::move(entry);
    oldest->cv.notify_one();
    return;
  }
  idle_.push_back(std::move(entry));
}

std::unique_ptr<MaintainedPool::Entry> MaintainedPool::take(std::stop_token& stop,
                                                            Clock::time_point requested,
                                                            bool& open_here) {
  std::unique_lock lock{mutex_};
  if (!idle_.empty()) {
    std::unique_ptr<Entry> entry;
    if (lifo()) {
      entry = std::move(idle_.back());
      idle_.pop_back();
    } else {
      entry = std::move(idle_.front());
      idle_.pop_front();
    }
    on_idle_taken_locked();
    return entry;
  }
  if (!paused_ && open_in_caller_locked()) {
    open_here = true;
    return nullptr;
  }
  Waiter me;
  waiters_.push_back(&me);
  ++ledger_.counters.waiting;
  on_wait_locked();
  const auto handed = [&] { return me.handed != nullptr; };
  if (timeout_.count() == 0) {
    me.cv.wait(lock, stop, handed);
  } else {
    me.cv.wait_until(lock, stop, requested + timeout_, handed);
  }
  --ledger_.counters.waiting;
  if (me.handed) {
    return std::move(me.handed);
  }
  std::erase(waiters_, &me);
  if (stop.stop_requested()) {
    throw CheckoutCancelled{};
  }
  return nullptr;
}

std::unique_ptr<MaintainedPool::Entry> MaintainedPool::open_for(const CheckoutRequest& request) {
  auto entry = std::make_unique<Entry>();
  try {
    entry->conn = factory_.open(db::ConnectRequest{request.application_name});
  } catch (const db::ConnectInterrupted&) {
    std::lock_guard lock{mutex_};
    --total_;  // the run is stopping: not a connect that failed
    throw;
  } catch (...) {
    std::lock_guard lock{mutex_};
    --total_;
    ++ledger_.counters.connect_failures;
    throw;
  }
  std::lock_guard lock{mutex_};
  ++ledger_.counters.connects;
  entry->created = entry->last_access = Clock::now();
  entry->id = next_id_++;
  on_opened_locked(*entry);
  return entry;
}

PooledConnection MaintainedPool::checkout(const CheckoutRequest& request, std::stop_token stop) {
  const auto requested = Clock::now();
  while (true) {
    bool open_here = false;
    auto entry = take(stop, requested, open_here);
    if (open_here) {
      entry = open_for(request);
    }
    if (!entry) {
      const auto waited = std::chrono::duration_cast<util::Micros>(Clock::now() - requested);
      std::lock_guard lock{mutex_};
      ++ledger_.counters.timeouts;
      throw PoolTimeoutError(timeout_message(waited), waited);
    }
    if (!usable(*entry)) {
      close_entry(std::move(entry));
      std::lock_guard lock{mutex_};
      --total_;
      on_closed_locked();
      continue;
    }
    if (entry->conn->application_name() != request.application_name) {
      entry->conn->set_application_name(request.application_name);
    }
    std::lock_guard lock{mutex_};
    ++entry->uses;
    ledger_.checked_out(*entry, request, requested, Clock::now());
    on_checked_out_locked(*entry, ledger_.counters.checkouts);
    return hand_out(std::move(entry));
  }
}

void MaintainedPool::checkin(std::unique_ptr<Slot> slot) noexcept {
  std::unique_ptr<Entry> entry{static_cast<Entry*>(slot.release())};
  const auto tx = entry->conn ? entry->conn->tx_state() : db::TxState::kIdle;
  if (tx != db::TxState::kIdle && in_transaction() == InTransaction::kClose) {
    entry->conn->close();
    entry->conn.reset();
    std::lock_guard lock{mutex_};
    ++ledger_.counters.closes;
  } else if (tx != db::TxState::kIdle && in_transaction() == InTransaction::kRollback) {
    try {
      entry->conn->rollback();
    } catch (const std::exception&) {
      entry->conn->close();  // both libraries discard a connection whose rollback fails
      entry->conn.reset();
      std::lock_guard lock{mutex_};
      ++ledger_.counters.closes;
      ++ledger_.counters.reset_failures;
    }
  }
  std::unique_lock lock{mutex_};
  ledger_.checked_in(*entry);
  const auto now = Clock::now();
  entry->last_access = now;
  if (entry->conn && !paused_ && keep_on_return_locked(*entry, now)) {
    offer_locked(std::move(entry));
    return;
  }
  --total_;
  if (!paused_) {
    on_closed_locked();
  }
  lock.unlock();
  close_entry(std::move(entry));
}

void MaintainedPool::invalidate(Slot& slot) {
  if (slot.conn) {
    slot.conn->close();
    slot.conn.reset();
    std::lock_guard lock{mutex_};
    ++ledger_.counters.closes;
  }
}

void MaintainedPool::dispose() {
  std::deque<std::unique_ptr<Entry>> idle;
  {
    std::lock_guard lock{mutex_};
    idle.swap(idle_);
    total_ -= static_cast<int>(idle.size());
  }
  for (auto& entry : idle) {
    close_entry(std::move(entry));
  }
}

void MaintainedPool::cleaning_up(bool on) {
  {
    std::lock_guard lock{mutex_};
    ledger_.cleaning_up = on;
    if (on) {
      paused_ = true;
      ++epoch_;
    }
  }
  if (on) {
    maintenance_.clear();
  }
}

void MaintainedPool::begin_life(const std::string& application_name, Clock::time_point at) {
  std::lock_guard lock{mutex_};
  application_name_ = application_name;
  paused_ = false;
  ++epoch_;
  start_locked(at);
}

record::PoolStats MaintainedPool::stats() const {
  std::lock_guard lock{mutex_};
  record::PoolStats s = ledger_.counters;
  s.idle = static_cast<int>(idle_.size());
  s.checked_out = static_cast<int>(s.checkouts - s.checkins - s.checkins_by_cleanup);
  s.open = static_cast<int>(s.connects - s.closes);
  return s;
}

std::vector<Outstanding> MaintainedPool::outstanding() const {
  std::lock_guard lock{mutex_};
  return ledger_.outstanding();
}

std::string MaintainedPool::last_holder(int backend_pid) const {
  std::lock_guard lock{mutex_};
  return ledger_.last_holder(backend_pid);
}

}  // namespace pgleak::pool

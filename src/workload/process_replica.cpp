#include "workload/process_replica.hpp"

#include "pool/make_pool.hpp"

namespace pgleak::workload {

ProcessReplica::ProcessReplica(
    const scenario::ProcessSpec& spec, int replica, double time_scale,
    const std::function<std::unique_ptr<db::ConnectionFactory>(db::SocketRegistry&)>& make_factory)
    : spec_(spec),
      replica_(replica),
      factory_(make_factory(sockets_)),
      pool_(pool::make_pool(spec.pool, time_scale, *factory_)) {}

ProcessReplica::~ProcessReplica() {
  end_life();
  end();
}

void ProcessReplica::begin_life(std::chrono::steady_clock::time_point started,
                                const std::stop_token& run) {
  {
    std::lock_guard lock{life_mutex_};
    life_on_run_stop_.reset();  // before its source is replaced
    life_source_ = std::stop_source{};
    life_ = Life{life_.number + 1, life_source_.get_token(), started};
    life_ended_ = false;
    pool_->cleaning_up(false);
    workers_in_life_ = 0;
    units_in_life_ = 0;
    crashed_.store(false, std::memory_order_release);
    life_on_run_stop_.emplace(run, [source = life_source_]() mutable { source.request_stop(); });
  }
  pool_->begin_life(pool_tag_, started);
  life_cv_.notify_all();
}

std::optional<ProcessReplica::Life> ProcessReplica::next_life(uint64_t seen,
                                                              const std::stop_token& run) {
  std::unique_lock lock{life_mutex_};
  if (!life_cv_.wait(lock, run, [&] { return life_.number > seen && !life_ended_; })) {
    return std::nullopt;
  }
  return life_;
}

std::chrono::steady_clock::time_point ProcessReplica::life_started() const {
  std::lock_guard lock{life_mutex_};
  return life_.started;
}

void ProcessReplica::crash() {
  crashed_.store(true, std::memory_order_release);
  pool_->cleaning_up(true);  // a killed process checks nothing in
  sockets_.shutdown_all();
  end_life();
}

void ProcessReplica::end_life() {
  pool_->cleaning_up(true);  // what the ended process held comes back as clean-up
  std::stop_source source;
  {
    std::lock_guard lock{life_mutex_};
    life_ended_ = true;
    source = life_source_;
  }
  source.request_stop();
  life_cv_.notify_all();
}

void ProcessReplica::worker_enters() {
  std::lock_guard lock{life_mutex_};
  ++workers_in_life_;
}

void ProcessReplica::worker_leaves() {
  {
    std::lock_guard lock{life_mutex_};
    --workers_in_life_;
  }
  life_cv_.notify_all();
}

bool ProcessReplica::wait_workers_left(std::chrono::milliseconds timeout,
                                       const std::stop_token& run) {
  std::unique_lock lock{life_mutex_};
  return life_cv_.wait_for(lock, run, timeout, [&] { return workers_in_life_ == 0; });
}

void ProcessReplica::count_unit() {
  std::lock_guard lock{life_mutex_};
  if (++units_in_life_ == units_wanted_) {
    life_cv_.notify_all();
  }
}

bool ProcessReplica::wait_units(int64_t n, const std::stop_token& run) {
  std::unique_lock lock{life_mutex_};
  units_wanted_ = n;
  const bool done = life_cv_.wait(lock, run, [&] { return units_in_life_ >= n; });
  units_wanted_ = 0;
  return done;
}

void ProcessReplica::end() {
  // The releaser is taken out under the lock: a worker a lifecycle gave up on
  // may still let a session go, and start one, while this runs.
  std::thread releaser;
  {
    std::lock_guard lock{late_mutex_};
    ending_ = true;
    releaser = std::move(releaser_);
  }
  late_cv_.notify_all();
  if (releaser.joinable()) {
    releaser.join();
  }
  std::multimap<std::chrono::steady_clock::time_point, session::Session> late;
  std::vector<session::Session> garbage;
  {
    std::lock_guard lock{late_mutex_};
    late.swap(late_);
    garbage.swap(garbage_);
    collection_due_.reset();
    ending_ = false;  // a restarted process may let sessions go again
  }
  late.clear();
  garbage.clear();
  std::lock_guard lock{shared_mutex_};
  shared_.clear();
}

void ProcessReplica::start_releaser() {
  if (!releaser_.joinable()) {
    releaser_ = std::thread{[this] { release_due(); }};
  }
  late_cv_.notify_all();
}

void ProcessReplica::release_later(session::Session session, util::Micros delay) {
  std::lock_guard lock{late_mutex_};
  late_.emplace(std::chrono::steady_clock::now() + delay, std::move(session));
  start_releaser();
}

std::chrono::steady_clock::time_point ProcessReplica::next_collection(
    std::chrono::steady_clock::time_point now, std::chrono::steady_clock::time_point origin) const {
  const auto every = spec_.gc.interval->applied;
  return now < origin ? origin + every : origin + every * ((now - origin) / every + 1);
}

void ProcessReplica::let_go(session::Session session) {
  if (!session.holds_connection()) {
    return;  // no cycle: reference counting frees it here
  }
  const auto now = std::chrono::steady_clock::now();
  const auto origin = life_started();  // before late_mutex_: no lock is held while another is taken
  std::lock_guard lock{late_mutex_};
  garbage_.push_back(std::move(session));
  if (spec_.gc.interval && !collection_due_) {
    collection_due_ = next_collection(now, origin);
    start_releaser();
  }
}

void ProcessReplica::collect() {
  std::vector<session::Session> freed;
  {
    std::lock_guard lock{late_mutex_};
    freed.swap(garbage_);
    collection_due_.reset();
  }
  freed.clear();  // each discarded: rolled back and given back
  pool_->collect_garbage();
}

void ProcessReplica::release_due() {
  using Clock = std::chrono::steady_clock;
  std::unique_lock lock{late_mutex_};
  while (!ending_) {
    auto due = late_.empty() ? Clock::time_point::max() : late_.begin()->first;
    due = std::min(due, collection_due_.value_or(Clock::time_point::max()));
    if (due == Clock::time_point::max()) {
      late_cv_.wait(lock);
      continue;
    }
    if (Clock::now() < due) {
      late_cv_.wait_until(lock, due);
      continue;
    }
    std::vector<session::Session> freed;
    if (!late_.empty() && late_.begin()->first <= due) {
      freed.push_back(std::move(late_.begin()->second));
      late_.erase(late_.begin());
    } else {  // the collector's automatic run
      freed.swap(garbage_);
      collection_due_.reset();
    }
    lock.unlock();
    freed.clear();  // rolled back and given back; a collection's failure is nobody's
    lock.lock();
  }
}

}  // namespace pgleak::workload

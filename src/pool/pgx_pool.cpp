#include "pool/pgx_pool.hpp"

namespace pgleak::pool {

PgxPool::PgxPool(const scenario::PoolSettings& s, double time_scale, db::ConnectionFactory& factory)
    : MaintainedPool(factory, s.own_duration("acquire_timeout").applied, time_scale),
      max_(s.own_number("pool_max_conns")),
      min_(s.own_number("pool_min_conns")),
      lazy_(s.own_flag("LazyConnect")),
      lifetime_(s.own_duration("pool_max_conn_lifetime").applied),
      max_idle_(s.own_duration("pool_max_conn_idle_time").applied),
      period_(s.own_duration("pool_health_check_period").applied) {}

PgxPool::~PgxPool() {
  shutdown();
}

void PgxPool::top_up_locked(int to) {
  for (int i = total_; i < to; ++i) {
    ++total_;
    open_in_background([this](Entry* entry) {
      if (entry == nullptr) {
        --total_;  // CreateResource failed: the next health check tries again
      }
    });
  }
}

void PgxPool::start_locked(Clock::time_point at) {
  if (!lazy_) {
    // createIdleResources(pool_min_conns), then one Acquire and Release.
    schedule(at, [this] {
      top_up_locked(std::max(min_, 1));
      return Closing{};
    });
  }
  schedule(at + period_, [this] { return health_check_locked(); });
}

bool PgxPool::open_in_caller_locked() {
  if (total_ >= max_) {
    return false;
  }
  ++total_;
  return true;
}

std::string PgxPool::timeout_message(util::Micros /*waited*/) const {
  return "context deadline exceeded";
}

bool PgxPool::keep_on_return_locked(Entry& entry, Clock::time_point now) {
  return now - entry.created <= lifetime_;
}

// backgroundHealthCheck(): checkIdleConnsHealth(), then checkMinConns().
MaintainedPool::Closing PgxPool::health_check_locked() {
  Closing closing;
  const auto t = now();
  for (auto it = idle_.begin(); it != idle_.end();) {
    if (t - (*it)->created > lifetime_ || t - (*it)->last_access > max_idle_) {
      closing.push_back(std::move(*it));
      it = idle_.erase(it);
      --total_;
    } else {
      ++it;
    }
  }
  top_up_locked(min_);
  schedule(t + period_, [this] { return health_check_locked(); });
  return closing;
}

}  // namespace pgleak::pool

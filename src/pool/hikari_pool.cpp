#include "pool/hikari_pool.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "db/db_error.hpp"

namespace pgleak::pool {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

util::Micros applied(const scenario::PoolSettings& s, std::string_view name) {
  return s.own_duration(name).applied;
}

int min_idle_of(const scenario::PoolSettings& s) {
  const int max = s.own_number("maximumPoolSize");
  const int min = s.own_number("minimumIdle");
  return min < 0 ? max : std::min(min, max);
}

}  // namespace

HikariPool::HikariPool(const scenario::PoolSettings& s, double time_scale,
                       db::ConnectionFactory& factory)
    : MaintainedPool(factory, applied(s, "connectionTimeout"), time_scale),
      max_(s.own_number("maximumPoolSize")),
      min_idle_(min_idle_of(s)),
      connection_timeout_(s.own_duration("connectionTimeout").nominal),
      idle_timeout_(applied(s, "idleTimeout")),
      max_lifetime_(applied(s, "maxLifetime")),
      max_lifetime_nominal_(s.own_duration("maxLifetime").nominal),
      leak_threshold_(applied(s, "leakDetectionThreshold")),
      housekeeping_(applied(s, "housekeepingPeriod")),
      alive_bypass_(applied(s, "aliveBypassWindow")) {}

HikariPool::~HikariPool() {
  shutdown();
}

void HikariPool::start_locked(Clock::time_point at) {
  adding_ = 0;
  creating_ = false;
  evicted_out_.clear();
  // The constructor's checkFailFast opens one, then fillPool() the rest: on
  // one adder thread, one after the other, as here.
  schedule(at, [this] {
    fill_locked();
    return Closing{};
  });
  schedule(at + scaled(milliseconds{100}), [this] { return housekeep_locked(); });
}

bool HikariPool::should_create_locked() const {
  return total_ < max_ && (queued_locked() > 0 || static_cast<int>(idle_.size()) < min_idle_);
}

void HikariPool::fill_locked() {
  const int to_add = std::min(max_ - total_, min_idle_ - static_cast<int>(idle_.size())) - adding_;
  for (int i = 0; i < to_add; ++i) {
    submit_creator_locked();
  }
}

// HikariCP's adder is one thread: a creator sleeping between failed
// attempts holds up the ones queued behind it.
void HikariPool::submit_creator_locked() {
  ++adding_;
  if (!creating_) {
    next_creator_locked();
  }
}

void HikariPool::next_creator_locked() {
  creating_ = adding_ > 0;
  if (creating_) {
    schedule(now(), [this] {
      create_locked(milliseconds{250});
      return Closing{};
    });
  }
}

// PoolEntryCreator.call(): add while one is wanted; after a failure sleep,
// then try again with 1.5 times the delay.
void HikariPool::create_locked(util::Micros backoff) {
  if (!should_create_locked()) {
    --adding_;
    next_creator_locked();
    return;
  }
  ++total_;
  open_in_background([this, backoff](Entry* entry) {
    if (entry != nullptr) {
      --adding_;
      set_life_locked(*entry);
      next_creator_locked();
      return;
    }
    --total_;
    const auto next = std::min<util::Micros>(
        seconds{10},
        std::min(connection_timeout_, std::chrono::duration_cast<util::Micros>(backoff * 3 / 2)));
    schedule(now() + scaled(backoff), [this, next] {
      create_locked(next);
      return Closing{};
    });
  });
}

void HikariPool::on_wait_locked() {
  // addBagItem(waiting): one more creator unless enough are queued already.
  if (queued_locked() - adding_ >= 0) {
    submit_creator_locked();
  }
}

void HikariPool::set_life_locked(const Entry& entry) {
  if (max_lifetime_.count() == 0) {
    return;
  }
  // createPoolEntry(): maxLifetime less a random variance of up to 2.5 %
  // when the lifetime is over 10 s (nominal, as HikariCP reads its setting).
  const double variance = max_lifetime_nominal_ > seconds{10} ? random_fraction() / 40 : 0.0;
  const auto life = std::chrono::duration_cast<util::Micros>(max_lifetime_ * (1 - variance));
  schedule(entry.created + life, [this, id = entry.id] {
    Closing closing;
    auto idle = take_idle_locked(id);
    if (!idle) {
      evicted_out_.insert(id);  // softEvictConnection: in use, marked
      return closing;
    }
    closing.push_back(std::move(idle));
    fill_locked();
    return closing;
  });
}

bool HikariPool::usable(Entry& entry) {
  if (!entry.conn) {
    return false;
  }
  if (now() - entry.last_access <= alive_bypass_) {
    return true;
  }
  {
    std::lock_guard lock{mutex_};
    ++ledger_.counters.pre_pings;
  }
  try {
    entry.conn->ping();  // isConnectionAlive(): Connection.isValid()
    return true;
  } catch (const db::DbError&) {
    std::lock_guard lock{mutex_};
    ++ledger_.counters.pre_ping_failures;
    return false;
  }
}

std::string HikariPool::timeout_message(util::Micros waited) const {
  return fmt::format("HikariPool-1 - Connection is not available, request timed out after {}ms.",
                     std::chrono::duration_cast<milliseconds>(waited).count());
}

bool HikariPool::keep_on_return_locked(Entry& entry, Clock::time_point /*now*/) {
  return evicted_out_.erase(entry.id) == 0;
}

void HikariPool::on_closed_locked() {
  fill_locked();
}

void HikariPool::on_checked_out_locked(const Entry& /*entry*/, uint64_t checkout) {
  if (leak_threshold_.count() == 0) {
    return;
  }
  schedule(now() + leak_threshold_, [this, checkout] {
    if (ledger_.is_out(checkout)) {
      ++ledger_.counters.leak_warnings;
    }
    return Closing{};
  });
}

// HouseKeeper.run(): idle connections past idleTimeout close, oldest returned
// first, down to minimumIdle; then fillPool().
MaintainedPool::Closing HikariPool::housekeep_locked() {
  Closing closing;
  if (idle_timeout_.count() > 0 && min_idle_ < max_) {
    int to_remove = static_cast<int>(idle_.size()) - min_idle_;
    const auto t = now();
    for (auto it = idle_.begin(); it != idle_.end() && to_remove > 0;) {
      if (t - (*it)->last_access > idle_timeout_) {
        closing.push_back(std::move(*it));
        it = idle_.erase(it);
        --total_;
        --to_remove;
      } else {
        ++it;
      }
    }
  }
  fill_locked();
  schedule(now() + housekeeping_, [this] { return housekeep_locked(); });
  return closing;
}

}  // namespace pgleak::pool

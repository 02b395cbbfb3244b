#include "pool/psycopg_pool.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace pgleak::pool {

std::string python_float(double value) {
  auto text = fmt::format("{}", value);
  if (std::isfinite(value) && text.find_first_of(".e") == std::string::npos) {
    text += ".0";
  }
  return text;
}

PsycopgPool::PsycopgPool(const scenario::PoolSettings& s, double time_scale,
                         db::ConnectionFactory& factory)
    : MaintainedPool(factory, s.own_duration("timeout").applied, time_scale),
      min_(s.own_number("min_size")),
      max_(s.own_number("max_size") < 0 ? s.own_number("min_size") : s.own_number("max_size")),
      max_lifetime_(s.own_duration("max_lifetime").applied),
      max_idle_(s.own_duration("max_idle").applied),
      reconnect_timeout_(s.own_duration("reconnect_timeout").applied) {}

PsycopgPool::~PsycopgPool() {
  shutdown();
}

void PsycopgPool::start_locked(Clock::time_point at) {
  // _start_initial_tasks(): min_size AddConnection tasks, and the first
  // ShrinkPool after max_idle.
  total_ = static_cast<int>(idle_.size()) + min_;
  growing_ = false;
  idle_low_ = min_;
  for (int i = 0; i < min_; ++i) {
    schedule(at, [this] {
      add_locked(std::nullopt, false);
      return Closing{};
    });
  }
  schedule(at + max_idle_, [this] { return shrink_locked(); });
}

// AddConnection: `total_` already counts it.
void PsycopgPool::add_locked(std::optional<Attempt> attempt, bool growing) {
  open_in_background([this, attempt, growing](Entry* entry) mutable {
    const auto t = now();
    if (entry != nullptr) {
      // _set_connection_expiry_date(): max_lifetime less up to 5 %.
      entry->expire_at = entry->created + std::chrono::duration_cast<util::Micros>(
                                              max_lifetime_ * (1 - 0.05 * random_fraction()));
      if (growing) {
        if (total_ < min_ || (total_ < max_ && queued_locked() > 0)) {
          ++total_;
          add_locked(std::nullopt, true);
        } else {
          growing_ = false;
        }
      }
      return;
    }
    if (attempt && t >= attempt->give_up_at) {
      --total_;  // reconnect_failed(): the place is given up
      if (growing) {
        growing_ = false;
      }
      return;
    }
    if (!attempt) {
      // 1 s with a jitter of ±10 %, scaled; give up after reconnect_timeout.
      attempt = Attempt{scaled(std::chrono::duration_cast<util::Micros>(
                            std::chrono::seconds{1} * (0.9 + 0.2 * random_fraction()))),
                        t + reconnect_timeout_};
    } else {
      attempt->delay *= 2;
    }
    attempt->delay =
        std::min(attempt->delay, std::chrono::duration_cast<util::Micros>(attempt->give_up_at - t));
    schedule(t + attempt->delay, [this, attempt, growing] {
      add_locked(attempt, growing);
      return Closing{};
    });
  });
}

void PsycopgPool::on_wait_locked() {
  if (total_ >= max_ || growing_) {
    return;
  }
  ++total_;
  growing_ = true;
  add_locked(std::nullopt, true);
}

void PsycopgPool::on_idle_taken_locked() {
  idle_low_ = std::min(idle_low_, static_cast<int>(idle_.size()));
}

std::string PsycopgPool::timeout_message(util::Micros /*waited*/) const {
  return fmt::format("couldn't get a connection after {} sec",
                     python_float(util::to_seconds(checkout_timeout())));
}

bool PsycopgPool::keep_on_return_locked(Entry& entry, Clock::time_point t) {
  return t < entry.expire_at;
}

// A broken or expired connection was discarded: a new one takes its place.
void PsycopgPool::on_closed_locked() {
  ++total_;
  add_locked(std::nullopt, false);
}

MaintainedPool::Closing PsycopgPool::shrink_locked() {
  Closing closing;
  const int low = idle_low_;
  idle_low_ = static_cast<int>(idle_.size());
  if (total_ > min_ && low > 0 && !idle_.empty()) {
    closing.push_back(std::move(idle_.front()));
    idle_.pop_front();
    --total_;
    --idle_low_;
  }
  schedule(now() + max_idle_, [this] { return shrink_locked(); });
  return closing;
}

}  // namespace pgleak::pool

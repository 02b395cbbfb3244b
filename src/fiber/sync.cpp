#include "fiber/sync.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "fiber/loop.hpp"

namespace pgleak::fiber {
namespace {

// A sleep this long gives its fiber's idle stack pages back: a give-back
// (madvise, a TLB shootdown) and the pages' refaults are small beside it.
constexpr auto kIdleSleep = std::chrono::seconds{1};

struct WakeOnStop {
  Waiter* waiter;
  void operator()() const noexcept { waiter->wake(); }
};

struct WakeFiber {
  Fiber* fiber;
  uint32_t seq;
  void operator()() const noexcept { Loop::wake(*fiber, seq); }
};

}  // namespace

Waiter::Waiter() : fiber_(Loop::current()) {
  if (fiber_ != nullptr) {
    seq_ = Loop::arm(*fiber_);
  }
}

void Waiter::park(const Clock::time_point* deadline, bool idle) {
  if (fiber_ != nullptr) {
    fiber_->loop->suspend(*fiber_, seq_, deadline, idle);
    return;
  }
  std::unique_lock lock{mutex_};
  if (deadline != nullptr) {
    cv_.wait_until(lock, *deadline, [&] { return woken_; });
  } else {
    cv_.wait(lock, [&] { return woken_; });
  }
}

void Waiter::wake() noexcept {
  if (fiber_ != nullptr) {
    Loop::wake(*fiber_, seq_);
    return;
  }
  std::lock_guard lock{mutex_};
  woken_ = true;
  cv_.notify_one();  // under the lock: the waiter may be gone once it is released
}

void ConditionVariable::unlink(Node& n) noexcept {
  (n.prev != nullptr ? n.prev->next : head_) = n.next;
  (n.next != nullptr ? n.next->prev : tail_) = n.prev;
  n.prev = n.next = nullptr;
  n.queued = false;
}

void ConditionVariable::notify_one() noexcept {
  std::lock_guard guard{mutex_};
  if (head_ != nullptr) {
    Node& n = *head_;
    unlink(n);
    n.waiter->wake();
  }
}

void ConditionVariable::notify_all() noexcept {
  std::lock_guard guard{mutex_};
  while (head_ != nullptr) {
    Node& n = *head_;
    unlink(n);
    n.waiter->wake();
  }
}

void ConditionVariable::block(Lock& lock, const Clock::time_point* deadline,
                              const std::stop_token* stop) {
  Waiter w;
  Node n{&w};
  {
    std::lock_guard guard{mutex_};
    n.prev = tail_;
    (tail_ != nullptr ? tail_->next : head_) = &n;
    tail_ = &n;
    n.queued = true;
  }
  lock.unlock();
  {
    // Its destructor waits for a wake already running on another thread.
    std::optional<std::stop_callback<WakeOnStop>> on_stop;
    if (stop != nullptr) {
      on_stop.emplace(*stop, WakeOnStop{&w});
    }
    w.park(deadline);
  }
  {
    std::lock_guard guard{mutex_};  // a notify that chose n has finished waking it
    if (n.queued) {
      unlink(n);
    }
  }
  lock.lock();
}

void Mutex::lock() {
  std::unique_lock lock{mutex_};
  free_.wait(lock, [&] { return !held_; });
  held_ = true;
}

bool Mutex::try_lock() {
  std::lock_guard lock{mutex_};
  if (held_) {
    return false;
  }
  held_ = true;
  return true;
}

void Mutex::unlock() {
  std::lock_guard lock{mutex_};
  held_ = false;
  free_.notify_one();
}

bool sleep_until(Clock::time_point deadline, const std::stop_token& stop) {
  if (stop.stop_requested()) {
    return false;
  }
  if (const auto left = deadline - Clock::now(); left > Clock::duration::zero()) {
    Waiter w;
    std::stop_callback<WakeOnStop> on_stop{stop, WakeOnStop{&w}};
    w.park(&deadline, left >= kIdleSleep);
  }
  return !stop.stop_requested();
}

void sleep_until_stopped(const std::stop_token& stop) {
  if (!stop.stop_possible()) {
    // Nothing can end it: as std::condition_variable_any, a wait for ever.
    Waiter w;
    w.park(nullptr, true);
    return;
  }
  Waiter w;
  std::stop_callback<WakeOnStop> on_stop{stop, WakeOnStop{&w}};
  if (!stop.stop_requested()) {
    w.park(nullptr, true);
  }
}

namespace {

int wait_fd_on_thread(int fd, short events, const Clock::time_point* deadline,
                      const std::stop_token* stop) {
  constexpr auto kSlice = std::chrono::milliseconds{50};  // how soon a stop is seen
  while (true) {
    if (stop != nullptr && stop->stop_requested()) {
      return 0;
    }
    int wait_ms = stop != nullptr && stop->stop_possible() ? static_cast<int>(kSlice.count()) : -1;
    if (deadline != nullptr) {
      const auto left = *deadline - Clock::now();
      if (left <= Clock::duration::zero()) {
        return 0;
      }
      // poll() counts whole milliseconds: round up, never wake early.
      const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
      wait_ms = wait_ms < 0 ? static_cast<int>(std::min<int64_t>(ms, 1 << 30))
                            : static_cast<int>(std::min<int64_t>(ms, wait_ms));
    }
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, wait_ms);
    if (n > 0) {
      return p.revents;
    }
    if (n < 0 && errno != EINTR) {
      return -1;
    }
  }
}

}  // namespace

int wait_fd(int fd, short events, const Clock::time_point* deadline, const std::stop_token* stop) {
  Fiber* f = Loop::current();
  if (f == nullptr) {
    return wait_fd_on_thread(fd, events, deadline, stop);
  }
  if (stop != nullptr && stop->stop_requested()) {
    return 0;
  }
  Loop& loop = *f->loop;
  const uint32_t seq = Loop::arm(*f);
  loop.watch(*f, seq, fd, events);
  {
    std::optional<std::stop_callback<WakeFiber>> on_stop;
    if (stop != nullptr) {
      on_stop.emplace(*stop, WakeFiber{f, seq});
    }
    loop.suspend(*f, seq, deadline);
  }
  return f->io_revents;  // 0: the deadline or the stop came first
}

}  // namespace pgleak::fiber

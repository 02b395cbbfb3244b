#pragma once

// How everything that waits, waits: on a plain thread it blocks; on a fiber
// (fiber.hpp) it suspends, and the fiber's loop runs other fibers meanwhile.
// A thread may wake a fiber and a fiber a thread. The pools' queues, the
// load models, the process lives, sleeps and think times, and the sockets of
// the workers' sessions all wait here, which is what lets the same code run
// on either engine.
//
// Thread-safety: every member may be called from any thread or fiber, as
// the std:: types they stand in for.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stop_token>

#include "fiber/fiber.hpp"

namespace pgleak::fiber {

struct Fiber;

// One wait of the thread or fiber that made it. wake() may come from any
// thread, before or during park(); the first wake (or the deadline) ends
// the wait, and later ones are ignored.
class Waiter {
 public:
  Waiter();
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  // Until wake() or `deadline` (none: nullptr). Call once. `idle`: the wait
  // is expected to be long (a sleep of a second or more, a life): a fiber's
  // loop then gives the pages of its stack below the wait back to the system.
  void park(const Clock::time_point* deadline, bool idle = false);
  void wake() noexcept;

 private:
  Fiber* fiber_;
  uint32_t seq_ = 0;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool woken_ = false;
};

// std::condition_variable_any's members that pgleak uses, over a
// std::unique_lock<std::mutex>. Notified waiters leave in the order they
// came (FIFO), which the pools' queues rely on.
class ConditionVariable {
 public:
  using Lock = std::unique_lock<std::mutex>;

  ConditionVariable() = default;
  ConditionVariable(const ConditionVariable&) = delete;
  ConditionVariable& operator=(const ConditionVariable&) = delete;

  void notify_one() noexcept;
  void notify_all() noexcept;

  void wait(Lock& lock) { block(lock, nullptr, nullptr); }
  std::cv_status wait_until(Lock& lock, Clock::time_point deadline) {
    block(lock, &deadline, nullptr);
    return Clock::now() >= deadline ? std::cv_status::timeout : std::cv_status::no_timeout;
  }
  template <class Pred>
  void wait(Lock& lock, Pred pred) {
    while (!pred()) {
      block(lock, nullptr, nullptr);
    }
  }
  // As std::condition_variable_any: pred()'s value once it holds, or once
  // `stop` is requested.
  template <class Pred>
  bool wait(Lock& lock, std::stop_token stop, Pred pred) {
    while (!pred()) {
      if (stop.stop_requested()) {
        return pred();
      }
      block(lock, nullptr, &stop);
    }
    return true;
  }
  template <class Pred>
  bool wait_until(Lock& lock, std::stop_token stop, Clock::time_point deadline, Pred pred) {
    while (!pred()) {
      if (stop.stop_requested() || Clock::now() >= deadline) {
        return pred();
      }
      block(lock, &deadline, &stop);
    }
    return true;
  }
  template <class Rep, class Period, class Pred>
  bool wait_for(Lock& lock, std::stop_token stop, std::chrono::duration<Rep, Period> timeout,
                Pred pred) {
    return wait_until(lock, std::move(stop), Clock::now() + timeout, std::move(pred));
  }

 private:
  struct Node {
    Waiter* waiter;
    Node* prev = nullptr;
    Node* next = nullptr;
    bool queued = false;
  };
  // One turn: queued, `lock` released, parked until notified, the deadline
  // or `stop`, `lock` taken again.
  void block(Lock& lock, const Clock::time_point* deadline, const std::stop_token* stop);
  void unlink(Node& n) noexcept;

  std::mutex mutex_;  // a leaf: guards the queue below
  Node* head_ = nullptr;
  Node* tail_ = nullptr;
};

// A mutex that may be held across a wait: a fiber that finds it taken
// suspends instead of blocking its loop's thread (and every fiber on it).
class Mutex {
 public:
  void lock();
  bool try_lock();
  void unlock();

 private:
  std::mutex mutex_;
  ConditionVariable free_;
  bool held_ = false;
};

// Until `deadline` or `stop`; false when stopped.
bool sleep_until(Clock::time_point deadline, const std::stop_token& stop);
// Until `stop`.
void sleep_until_stopped(const std::stop_token& stop);

// Until `fd` is ready for `events` (POLLIN, POLLOUT), `deadline` (nullptr:
// none) or `stop` (nullptr: none). Returns poll(2)'s revents, 0 when the
// deadline or the stop came first, -1 (errno set) when the wait failed.
int wait_fd(int fd, short events, const Clock::time_point* deadline, const std::stop_token* stop);

}  // namespace pgleak::fiber

#pragma once

// The inside of the engine (fiber.hpp), shared by fiber.cpp, poller.cpp and
// sync.cpp only: a fiber's record and one thread's loop. A loop waits as
// pgbench's threads do: one ppoll(2) over the sockets its fibers wait on (and
// an eventfd that other threads wake it with), with the nearest timer as its
// timeout; past a few dozen sockets, through an epoll set (poller.hpp).

#include <ucontext.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

#include "fiber/fiber.hpp"
#include "fiber/poller.hpp"

namespace pgleak::fiber {

// The C++ runtime's per-thread record of exceptions being handled (libstdc++'s
// __cxa_eh_globals): a fiber that suspends inside a catch block must not see
// another fiber's, so each fiber keeps its own and the loop swaps them.
struct ExceptionState {
  void* caught = nullptr;
  unsigned int uncaught = 0;
};

// Where a suspended fiber (or a loop, while a fiber runs) will go on from:
// its stack pointer, with the callee-saved registers pushed under it
// (x86-64), or a ucontext elsewhere.
struct Context {
  void* sp = nullptr;
#if !defined(__x86_64__)
  ucontext_t uc{};
#endif
};

struct Fiber {
  Loop* loop = nullptr;
  std::function<void()> fn;
  Context context;
  void* map = nullptr;  // the stack's mapping, guard page first
  ExceptionState exceptions;
  void* tsan_fiber = nullptr;
  void* asan_fake_stack = nullptr;
  // The wait it is armed for (0: none): the first to swap it to 0 (a
  // wake, its timer, its socket) makes the fiber ready.
  std::atomic<uint32_t> armed{0};
  uint32_t seq = 0;           // the last wait's number (owner thread)
  uint32_t suspended_in = 0;  // the wait it is suspended in, 0 while it runs (owner thread)
  short io_revents = 0;       // what the socket was ready for (owner thread)
  bool idle = false;          // its wait is a long one: trim its stack (owner thread)
  bool done = false;
};

class Loop {
 public:
  // `epoll_above`: see Poller.
  Loop(std::size_t stack_bytes, std::size_t epoll_above);
  ~Loop();

  // The fiber running on this thread, or nullptr.
  static Fiber* current() noexcept;

  // Maps the stack on the caller's thread (throws std::system_error) and
  // hands the fiber to the loop.
  void spawn(std::function<void()> fn);
  // No more spawns: the thread ends once its fibers have.
  void close();
  void join();
  long live() const { return live_.load(std::memory_order_relaxed); }
  uint64_t epoll_waits() const { return poller_.registered(); }

  // --- called on a fiber of this loop ---
  // Begins a wait: its number, armed.
  static uint32_t arm(Fiber& f) noexcept;
  // Suspends until the wait `seq` is woken or `deadline` (nullptr: none).
  // `idle`: a long wait, for which the loop gives back (MADV_DONTNEED) the
  // pages of the fiber's stack below where it waits.
  void suspend(Fiber& f, uint32_t seq, const Clock::time_point* deadline, bool idle = false);
  // Adds the socket to what the loop's next wait looks at, for the wait `seq`.
  void watch(Fiber& f, uint32_t seq, int fd, short events);

  // From any thread: ends the wait `seq` of `f` if it still is the one armed.
  static void wake(Fiber& f, uint32_t seq) noexcept;

 private:
  struct Ready {
    Fiber* fiber;
    uint32_t seq;
  };
  struct Timer {
    Clock::time_point at;
    Fiber* fiber;
    uint32_t seq;
    bool operator>(const Timer& o) const { return at > o.at; }
  };

  void run();
  void post(Fiber& f, uint32_t seq) noexcept;  // from another thread
  bool take_inbox();                           // true once closed
  void fire_timers();
  void resume(Fiber& f);
  // From `f` back to the loop. `fake_stack`: where ASan keeps the fiber's
  // fake stack while it is away; nullptr for a fiber that ends (never back).
  void to_main(Fiber& f, void** fake_stack);
  void wait_for_events();
  void finish(Fiber& f);
  // Gives back the pages of a suspended fiber's stack below its stack pointer.
  void trim_stack(const Fiber& f) const;

  const std::size_t stack_bytes_;
  const int wakeup_;  // an eventfd
  Poller poller_;     // the loop's thread only
  std::thread thread_;
  std::atomic<bool> sleeping_{false};
  std::atomic<long> live_{0};

  std::mutex inbox_mutex_;  // a leaf
  std::vector<Ready> inbox_;
  std::vector<Ready> taken_;  // the loop's thread only: what the last turn took from inbox_
  std::vector<std::unique_ptr<Fiber>> fibers_;  // every fiber it ran; freed with the loop
  // Stacks of fibers that ended, kept for the next ones: unmapping one while
  // other fibers run would stop every thread of the process for a TLB
  // shootdown. Unmapped with the loop.
  std::vector<void*> spare_stacks_;
  bool closed_ = false;

  // The loop's thread only.
  std::vector<Ready> ready_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  Context main_;
  ExceptionState main_exceptions_;
  void* main_tsan_ = nullptr;
  const void* main_stack_bottom_ = nullptr;
  std::size_t main_stack_size_ = 0;
  friend void fiber_entry();
};

}  // namespace pgleak::fiber

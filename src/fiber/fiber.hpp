#pragma once

// The event-driven engine's core (docs/ENGINE.md): a few threads, each an
// event loop (ppoll or epoll, a timer heap, a run queue) that runs many
// fibers. A fiber is a function with a stack of its own; where a thread would
// block (a pool's queue, a sleep, a socket) it suspends, and its loop runs
// another.
//
// Simulated workers run on fibers so that the code of a pattern, a `steps`
// flow, a session and a pool is the same code under either engine: every
// wait in it goes through sync.hpp, which blocks a thread and suspends a
// fiber. Nothing above this folder can tell which one it runs on.
//
// Thread-safety: Engine::spawn may be called from any thread until join().
// A fiber stays on the thread it was given for its whole life, so its
// thread_local state is its thread's; it never runs on two threads.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace pgleak::fiber {

using Clock = std::chrono::steady_clock;

class Loop;

// True on a fiber; false on a plain thread.
bool in_fiber() noexcept;

struct EngineOptions {
  int threads = 0;  // 0: one per core
  std::size_t stack_bytes =
      256 << 10;  // mapped, with a guard page; only what is touched is resident
  // Socket waits per loop looked at with one ppoll(2) before the rest go
  // through an epoll set (poller.hpp). At 64, a loop of 32 clients (64
  // clients on two cores) never registers anything.
  std::size_t epoll_above = 64;
};

class Engine {
 public:
  explicit Engine(EngineOptions options = {});
  // join()
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Runs `fn` on a new fiber, on the engine's threads in turn. Throws
  // std::system_error when its stack cannot be mapped (vm.max_map_count,
  // memory). An exception that leaves `fn` ends the process, as it would on
  // a thread.
  void spawn(std::function<void()> fn);
  // Waits until every fiber has ended, then ends the threads. Idempotent.
  void join();

  int threads() const { return static_cast<int>(loops_.size()); }
  // Fibers spawned and not yet ended.
  long live() const;
  // Socket waits that went through a loop's epoll set (EngineOptions::epoll_above).
  uint64_t epoll_waits() const;

 private:
  std::vector<std::unique_ptr<Loop>> loops_;
  std::atomic<std::size_t> next_{0};
  std::size_t stack_bytes_;
  bool joined_ = false;
};

}  // namespace pgleak::fiber

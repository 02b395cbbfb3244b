#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/child_process.hpp"

namespace pgleak::server {

// A long-lived child process (a postmaster, a PgBouncer) that cannot outlive
// pgleak and that no signal of ours can miss:
//  - it is forked by a keeper thread that lives as long as the child, because
//    the kernel ties the parent-death signal (ChildSetup::death_signal) to the
//    forking thread, not to the process;
//  - the keeper waits for its exit without reaping it, and reaps it under the
//    lock that signals are sent under, so its pid cannot be reused by another
//    process while pgleak may still signal it.
// One child at a time; spawn() again after it exited (a restart).
//
// Thread-safety: every member may be called from any thread.
class KeptChild {
 public:
  KeptChild();
  // Ends the child (SIGKILL) if one still runs, and the keeper thread.
  ~KeptChild();
  KeptChild(const KeptChild&) = delete;
  KeptChild& operator=(const KeptChild&) = delete;

  // Forks `argv` with `setup` from the keeper thread. Returns the child's
  // generation (1 for the first). Throws util::InfrastructureError when it
  // cannot be started.
  uint64_t spawn(std::vector<std::string> argv, ChildSetup setup);
  // Waits until `ready()` holds (checked every 10 ms) while the child of
  // `generation` runs. False when it exited first or `timeout` passed.
  bool wait_ready(uint64_t generation, const std::function<bool()>& ready,
                  std::chrono::milliseconds timeout);
  // Whether the child of `generation` has exited.
  bool exited(uint64_t generation) const;
  // Sends `sig` to the running child, if any, and waits up to `timeout` for
  // it to exit. True when no child runs afterwards.
  bool signal_and_wait(int sig, std::chrono::milliseconds timeout);
  // The running child's pid, 0 when none.
  pid_t pid() const;

 private:
  // What the keeper thread shares with the callers. Owned jointly, so that a
  // keeper that must be let go (a child that outlives SIGKILL: a kernel bug)
  // never touches a destroyed object.
  struct State {
    mutable std::mutex mutex;
    std::condition_variable changed;
    std::vector<std::string> argv;
    ChildSetup setup;
    bool spawn_requested = false;
    bool quit = false;
    pid_t pid = 0;         // nonzero until reaped, so signals never miss
    uint64_t spawned = 0;  // children started so far
    uint64_t exited = 0;   // children that have exited
    std::string spawn_error;
  };
  static void loop(const std::shared_ptr<State>& state);

  std::shared_ptr<State> state_ = std::make_shared<State>();
  std::thread thread_;
};

}  // namespace pgleak::server

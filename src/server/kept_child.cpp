#include "server/kept_child.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <utility>

#include "util/errors.hpp"

namespace pgleak::server {

KeptChild::KeptChild() : thread_([state = state_] { loop(state); }) {}

KeptChild::~KeptChild() {
  const bool down = signal_and_wait(SIGKILL, std::chrono::seconds{5});
  {
    std::lock_guard lock{state_->mutex};
    state_->quit = true;
    state_->changed.notify_all();
  }
  if (down) {
    thread_.join();
  } else {
    thread_.detach();  // a kernel bug short of this; it keeps the state it shares alive
  }
}

void KeptChild::loop(const std::shared_ptr<State>& state) {
  auto& s = *state;
  std::unique_lock lock{s.mutex};
  while (true) {
    s.changed.wait(lock, [&] { return s.spawn_requested || s.quit; });
    if (!s.spawn_requested) {
      return;
    }
    s.spawn_requested = false;
    pid_t pid = 0;
    try {
      pid = server::spawn(s.argv, s.setup);
    } catch (const std::exception& e) {
      s.spawn_error = e.what();
      ++s.spawned;
      ++s.exited;
      s.changed.notify_all();
      continue;
    }
    s.pid = pid;
    ++s.spawned;
    s.changed.notify_all();
    lock.unlock();
    // Wait for the exit without reaping it (WNOWAIT): until reaped below,
    // under the lock, the pid cannot be reused.
    siginfo_t info{};
    while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) != 0 &&
           errno == EINTR) {
    }
    lock.lock();
    int status = 0;
    ::waitpid(pid, &status, 0);
    s.pid = 0;
    ++s.exited;
    s.changed.notify_all();
  }
}

uint64_t KeptChild::spawn(std::vector<std::string> argv, ChildSetup setup) {
  std::unique_lock lock{state_->mutex};
  const uint64_t generation = state_->spawned + 1;
  state_->argv = std::move(argv);
  state_->setup = std::move(setup);
  state_->spawn_requested = true;
  state_->changed.notify_all();
  state_->changed.wait(lock, [&] { return state_->spawned >= generation; });
  if (!state_->spawn_error.empty()) {
    throw util::InfrastructureError(std::exchange(state_->spawn_error, {}));
  }
  return generation;
}

bool KeptChild::wait_ready(uint64_t generation, const std::function<bool()>& ready,
                           std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock{state_->mutex};
  while (std::chrono::steady_clock::now() < deadline) {
    if (state_->exited >= generation) {
      return false;
    }
    lock.unlock();
    const bool is_ready = ready();
    lock.lock();
    if (is_ready && state_->exited < generation) {
      return true;
    }
    state_->changed.wait_for(lock, std::chrono::milliseconds{10});
  }
  return false;
}

bool KeptChild::exited(uint64_t generation) const {
  std::lock_guard lock{state_->mutex};
  return state_->exited >= generation;
}

bool KeptChild::signal_and_wait(int sig, std::chrono::milliseconds timeout) {
  std::unique_lock lock{state_->mutex};
  if (state_->pid == 0) {
    return true;
  }
  const uint64_t target = state_->exited + 1;
  ::kill(state_->pid, sig);  // our own child, not yet reaped (see loop)
  return state_->changed.wait_for(lock, timeout, [&] { return state_->exited >= target; });
}

pid_t KeptChild::pid() const {
  std::lock_guard lock{state_->mutex};
  return state_->pid;
}

}  // namespace pgleak::server

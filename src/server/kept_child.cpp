#include "server/kept_child.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <utility>

#include "util/errors.hpp"

namespace pgleak::server {

KeptChild::KeptChild() : thread_([this] { loop(); }) {}

KeptChild::~KeptChild() {
  const bool down = signal_and_wait(SIGKILL, std::chrono::seconds{5});
  {
    std::lock_guard lock{mutex_};
    quit_ = true;
    changed_.notify_all();
  }
  if (down) {
    thread_.join();
  } else {
    thread_.detach();  // cannot happen short of a kernel bug; never hang on it
  }
}

void KeptChild::loop() {
  std::unique_lock lock{mutex_};
  while (true) {
    changed_.wait(lock, [&] { return spawn_requested_ || quit_; });
    if (!spawn_requested_) {
      return;
    }
    spawn_requested_ = false;
    pid_t pid = 0;
    try {
      pid = server::spawn(argv_, setup_);
    } catch (const std::exception& e) {
      spawn_error_ = e.what();
      ++spawned_;
      ++exited_;
      changed_.notify_all();
      continue;
    }
    pid_ = pid;
    ++spawned_;
    changed_.notify_all();
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
    pid_ = 0;
    ++exited_;
    changed_.notify_all();
  }
}

uint64_t KeptChild::spawn(std::vector<std::string> argv, ChildSetup setup) {
  std::unique_lock lock{mutex_};
  const uint64_t generation = spawned_ + 1;
  argv_ = std::move(argv);
  setup_ = std::move(setup);
  spawn_requested_ = true;
  changed_.notify_all();
  changed_.wait(lock, [&] { return spawned_ >= generation; });
  if (!spawn_error_.empty()) {
    throw util::InfrastructureError(std::exchange(spawn_error_, {}));
  }
  return generation;
}

bool KeptChild::wait_ready(uint64_t generation, const std::function<bool()>& ready,
                           std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock{mutex_};
  while (std::chrono::steady_clock::now() < deadline) {
    if (exited_ >= generation) {
      return false;
    }
    lock.unlock();
    const bool is_ready = ready();
    lock.lock();
    if (is_ready && exited_ < generation) {
      return true;
    }
    changed_.wait_for(lock, std::chrono::milliseconds{10});
  }
  return false;
}

bool KeptChild::exited(uint64_t generation) const {
  std::lock_guard lock{mutex_};
  return exited_ >= generation;
}

bool KeptChild::signal_and_wait(int sig, std::chrono::milliseconds timeout) {
  std::unique_lock lock{mutex_};
  if (pid_ == 0) {
    return true;
  }
  const uint64_t target = exited_ + 1;
  ::kill(pid_, sig);  // our own child, not yet reaped (see loop)
  return changed_.wait_for(lock, timeout, [&] { return exited_ >= target; });
}

pid_t KeptChild::pid() const {
  std::lock_guard lock{mutex_};
  return pid_;
}

}  // namespace pgleak::server

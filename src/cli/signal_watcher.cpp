#include "cli/signal_watcher.hpp"

#include <pthread.h>

#include <csignal>
#include <ctime>

namespace pgleak::cli {
namespace {

// SIGUSR2 is not a request: the destructor sends it to the watcher thread to
// wake it at once (otherwise every pgleak exit would wait out a tick).
constexpr int kWake = SIGUSR2;

sigset_t watched() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, kWake);
  return set;
}

}  // namespace

SignalWatcher::SignalWatcher() {
  std::signal(SIGPIPE, SIG_IGN);
  const sigset_t set = watched();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  thread_ = std::jthread{[this](std::stop_token stop) {
    const sigset_t signals = watched();
    const timespec tick{0, 100'000'000};
    while (!stop.stop_requested()) {
      const int sig = sigtimedwait(&signals, nullptr, &tick);
      if (sig <= 0 || sig == kWake) {
        continue;
      }
      int none = 0;
      if (signal_.compare_exchange_strong(none, sig)) {
        source_.request_stop();
      } else {
        force_.request_stop();
      }
    }
  }};
}

SignalWatcher::~SignalWatcher() {
  thread_.request_stop();
  pthread_kill(thread_.native_handle(), kWake);
  thread_.join();
  const sigset_t set = watched();
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_DFL);
}

}  // namespace pgleak::cli

#pragma once

#include <atomic>
#include <stop_token>
#include <thread>

namespace pgleak::cli {

// Turns SIGINT and SIGTERM into a stop request that the run observes, so a
// Ctrl-C unwinds normally: workers stop, backends close, the embedded server
// is stopped and deleted, the partial report is written.
//
// Construct it in main() before any other thread starts: it blocks the two
// signals for the whole process (threads inherit the mask) and waits for them
// on a thread of its own. Restores the mask when destroyed.
class SignalWatcher {
 public:
  SignalWatcher();
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  std::stop_token token() const { return source_.get_token(); }
  // The signal received, 0 if none.
  int signal() const { return signal_.load(); }

 private:
  std::stop_source source_;
  std::atomic<int> signal_{0};
  std::jthread thread_;
};

}  // namespace pgleak::cli

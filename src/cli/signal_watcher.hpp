#pragma once

#include <atomic>
#include <stop_token>
#include <thread>

namespace pgleak::cli {

// Turns SIGINT, SIGTERM and SIGHUP (a closed terminal or SSH session) into a
// stop request that the run observes, so an interruption unwinds normally:
// workers stop, backends close, the embedded server is stopped and deleted,
// the partial report is written. A second signal asks for the same clean-up
// without the grace periods (force()): statements are cancelled and sessions
// cut at once. SIGPIPE is ignored, so `pgleak run ... | head` never kills
// pgleak mid-run: writes to a closed pipe fail instead.
//
// Construct it in main() before any other thread starts: it blocks the
// signals for the whole process (threads inherit the mask) and waits for them
// on a thread of its own. Restores the mask and SIGPIPE's disposition when
// destroyed. Child processes must unblock and reset both (server/child_process).
class SignalWatcher {
 public:
  SignalWatcher();
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  std::stop_token token() const { return source_.get_token(); }
  // Requested by a second signal: skip the grace periods of the clean-up.
  std::stop_token force_token() const { return force_.get_token(); }
  // The first signal received, 0 if none.
  int signal() const { return signal_.load(); }

 private:
  std::stop_source source_;
  std::stop_source force_;
  std::atomic<int> signal_{0};
  std::jthread thread_;
};

}  // namespace pgleak::cli

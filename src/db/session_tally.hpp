#pragma once

// How many of a run's worker sessions are open at once on pgleak's side, and
// when the most first were: counted as each session's socket is registered
// and let go (db::SocketRegistry), so exact to the moment and free for the
// server. The sampler sees the server's side only at its ticks, and each of
// its reads of pg_stat_activity costs the server time (docs/ENGINE.md).
//
// Thread-safety: every member may be called from any thread. Each takes one
// lock, once per session opened or closed: a connect costs milliseconds.

#include <chrono>
#include <mutex>

namespace pgleak::db {

class SessionTally {
 public:
  using Clock = std::chrono::steady_clock;

  struct Peak {
    int open = 0;
    Clock::time_point at{};  // when `open` sessions first were open at once
  };

  void opened();
  void closed();
  int open() const;
  Peak peak() const;

 private:
  mutable std::mutex mutex_;
  int open_ = 0;
  Peak peak_;
};

}  // namespace pgleak::db

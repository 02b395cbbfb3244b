#pragma once

// The relay's bookkeeping (net/relay.cpp): a connection, each of its two
// directions, and the chunks a direction holds until their time. Internal to
// net/; the relay's loop thread alone touches them.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

namespace pgleak::net::relay_parts {

using Clock = std::chrono::steady_clock;

constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kMaxQueued = 1024 * 1024;
// What a socket's epoll interest is before it was added, and once it was
// taken out for good (closed both ways).
constexpr uint32_t kNotAdded = 0xfffffffe;
constexpr uint32_t kUnwatched = 0xffffffff;

struct Chunk {
  Clock::time_point release;
  std::string data;
  size_t sent = 0;
};

// One direction of one connection: what was read from `from` and is not yet
// written to `to`.
struct Flow {
  int from = -1;
  int to = -1;
  std::deque<Chunk> queue;
  size_t queued = 0;
  Clock::time_point last_release{};
  double tokens = 0;
  Clock::time_point refilled{};
  bool eof = false;      // `from` closed its write side
  bool shut = false;     // passed on to `to`
  bool blocked = false;  // `to` would block: wait for EPOLLOUT
};

struct Conn {
  int client = -1;
  int upstream = -1;
  bool connected = false;
  bool dead = false;
  Flow up;    // client -> server
  Flow down;  // server -> client
  uint32_t client_events = kNotAdded;
  uint32_t upstream_events = kNotAdded;
  bool touched = false;  // in this turn's list of connections to pump
};

// Whether a direction holds data it could write once its time comes.
inline bool pending(const Flow& f) {
  return !f.queue.empty() && !f.blocked;
}

}  // namespace pgleak::net::relay_parts

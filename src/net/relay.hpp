#pragma once

// A TCP relay of pgleak's own, between the workers and their target, for
// the network faults the kernel here cannot make (it has no netem): latency
// and jitter per direction, and a bandwidth cap. It listens on 127.0.0.1 and
// forwards each connection to the target (a host and port, or the unix
// socket of a directory), on one thread with epoll and non-blocking sockets:
// no thread per connection, so its own cost stays small and is measured
// (bench/relay.sh: added latency with no shaping, and throughput against a
// direct connection at 64 clients).
//
// What shaping does, per direction of each connection:
//  - delay and jitter: each read chunk is held until now + delay + a uniform
//    draw from [-jitter, +jitter] (never less than 0), and never released
//    before the chunk ahead of it: a TCP stream stays in order;
//  - bytes_per_s: a token bucket of 20 ms (at least 1,500 bytes) per
//    direction of each connection, as Toxiproxy's bandwidth toxic.
// A new shaping applies to what is read from then on. Reading pauses while a
// direction holds 1 MiB not yet written, so a slow side never costs memory
// beyond that. An error on either side aborts both with a RST; an orderly
// close is passed on as one (shutdown of the write side).
//
// Needs nothing but a free port: no root, any target.
//
// Thread-safety: shape() and stats() from any thread; the rest from the
// thread that owns the relay.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace pgleak::net {

enum class Direction { kToServer, kToClient };

struct Shaping {
  std::chrono::microseconds delay{0};
  std::chrono::microseconds jitter{0};
  int64_t bytes_per_s = 0;  // 0: no cap
  bool operator==(const Shaping&) const = default;
};

class Relay {
 public:
  struct Stats {
    uint64_t connections = 0;  // accepted, in all
    uint64_t aborted = 0;      // ended by an error on one side
    uint64_t bytes_to_server = 0;
    uint64_t bytes_to_client = 0;
    // Accepts that failed for want of descriptors (the listener then rests
    // 100 ms rather than spin; the connects wait in its backlog).
    uint64_t accept_failures = 0;
  };

  // Starts relaying 127.0.0.1:<port()> to `host`:`port` (a name or address;
  // a host that starts with '/' is a socket directory, as in libpq). Throws
  // util::InfrastructureError when it cannot listen or resolve the target.
  // `listen_port` 0: a free one.
  static std::unique_ptr<Relay> start(const std::string& host, int port, int listen_port = 0);
  // Stops the thread and closes every connection.
  ~Relay();
  // Stops relaying (the thread joined, every connection closed); stats()
  // then holds everything it carried.
  void stop();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  int port() const { return port_; }
  void shape(Direction direction, const Shaping& shaping);
  Shaping shaping(Direction direction) const;
  Stats stats() const;

  struct Loop;  // relay.cpp

 private:
  Relay() = default;

  int port_ = 0;
  mutable std::mutex mutex_;
  Shaping to_server_;
  Shaping to_client_;
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
};

}  // namespace pgleak::net

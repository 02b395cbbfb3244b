#pragma once

// What one loop waits on in a turn (loop.hpp): its eventfd and the sockets its
// fibers wait on, with the nearest timer as the timeout.
//
// Up to `epoll_above` socket waits are looked at with one ppoll(2), as
// pgbench's threads do: nothing is registered with the kernel, so nothing
// goes stale when libpq closes a socket and its number is reused, and the hot
// path of a few clients (a statement, a wait) costs no extra system call.
// Past that many, a new wait is registered in an epoll(7) set instead
// (one-shot, so a registration fires once per wait), and the ppoll looks at
// the set as one more descriptor. A turn then costs what is ready, not a
// look at every socket: while 1,000 workers connect at once, each loop's
// ppoll looked at up to 500 sockets on every turn, and that looking was a
// third of pgleak's CPU.
//
// A registration outlives its wait (a wait its deadline or a stop ended
// leaves it armed; a socket closed while another process still shares it
// stays in the set). Each carries the socket's number and a generation, and
// wakes a fiber only if it is still the socket's latest registration here
// and that fiber is still armed for the same wait.
//
// Thread-safety: the loop's thread only.

#include <poll.h>
#include <sys/epoll.h>
#include <time.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace pgleak::fiber {

struct Fiber;

class Poller {
 public:
  // `wakeup`: the loop's eventfd, read (drained) when it was written.
  Poller(int wakeup, std::size_t epoll_above);
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  // The fiber's wait `seq` is for `events` on `fd`.
  void watch(Fiber& f, uint32_t seq, int fd, short events);
  // Waits for the eventfd, a socket or `timeout` (nullptr: none; zero: a
  // look), and wakes (Loop::wake) each fiber whose socket is ready, with
  // what it was ready for in its io_revents.
  void wait(const timespec* timeout);

  // Waits that went through the epoll set so far (read from any thread).
  uint64_t registered() const { return registered_.load(std::memory_order_relaxed); }

 private:
  struct IoWait {
    int fd;
    short events;
    Fiber* fiber;
    uint32_t seq;
  };
  struct Registration {
    uint32_t generation = 0;
    Fiber* fiber = nullptr;
    uint32_t seq = 0;
  };

  // False when the wait must go to the ppoll instead: no epoll set could be
  // made, or another fiber still waits on this socket here.
  bool register_wait(Fiber& f, uint32_t seq, int fd, short events);
  void drain_set();

  const int wakeup_;
  const std::size_t epoll_above_;
  int epoll_ = -1;  // made at the first wait past epoll_above_
  std::atomic<uint64_t> registered_{0};
  std::vector<IoWait> io_;  // the ppoll's; an entry whose wait ended is dropped at the next look
  std::vector<pollfd> polls_;
  std::vector<Registration> by_fd_;  // the set's, by socket number
  std::vector<epoll_event> events_;
};

}  // namespace pgleak::fiber

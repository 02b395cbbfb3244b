#include "fiber/poller.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "fiber/loop.hpp"

namespace pgleak::fiber {
namespace {

// poll(2)'s and epoll(7)'s bits are the same on Linux (EPOLLIN == POLLIN,
// EPOLLOUT == POLLOUT, EPOLLERR == POLLERR, EPOLLHUP == POLLHUP).
static_assert(EPOLLIN == POLLIN && EPOLLOUT == POLLOUT && EPOLLERR == POLLERR &&
              EPOLLHUP == POLLHUP && EPOLLPRI == POLLPRI);

constexpr int kEventsPerLook = 256;

uint64_t key_of(int fd, uint32_t generation) {
  return (static_cast<uint64_t>(generation) << 32) | static_cast<uint32_t>(fd);
}

}  // namespace

Poller::Poller(int wakeup, std::size_t epoll_above) : wakeup_(wakeup), epoll_above_(epoll_above) {}

Poller::~Poller() {
  if (epoll_ >= 0) {
    ::close(epoll_);
  }
}

void Poller::watch(Fiber& f, uint32_t seq, int fd, short events) {
  if (io_.size() < epoll_above_ || !register_wait(f, seq, fd, events)) {
    io_.push_back({fd, events, &f, seq});
  }
}

bool Poller::register_wait(Fiber& f, uint32_t seq, int fd, short events) {
  if (fd < 0) {
    return false;
  }
  if (epoll_ < 0) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) {
      return false;
    }
  }
  if (by_fd_.size() <= static_cast<std::size_t>(fd)) {
    by_fd_.resize(static_cast<std::size_t>(fd) + 1);
  }
  Registration& r = by_fd_[static_cast<std::size_t>(fd)];
  if (r.fiber != nullptr && r.fiber != &f &&
      r.fiber->armed.load(std::memory_order_relaxed) == r.seq) {
    return false;  // one registration per socket: the second waiter is ppoll's
  }
  r = {r.generation + 1, &f, seq};
  epoll_event ev{};
  ev.events = static_cast<uint32_t>(static_cast<unsigned short>(events)) | EPOLLONESHOT;
  ev.data.u64 = key_of(fd, r.generation);
  // Re-armed where the socket is still in the set; added where it never was,
  // or was closed since (which took it out).
  if (::epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &ev) == 0 ||
      (errno == ENOENT && ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) == 0)) {
    registered_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  r = {r.generation, nullptr, 0};  // this generation never fires
  return false;
}

void Poller::wait(const timespec* timeout) {
  // The sockets still waited on (a wait its timer or a stop ended is dropped).
  std::erase_if(
      io_, [](const IoWait& w) { return w.fiber->armed.load(std::memory_order_relaxed) != w.seq; });
  const std::size_t first = epoll_ >= 0 ? 2 : 1;
  polls_.resize(io_.size() + first);
  polls_[0] = {wakeup_, POLLIN, 0};
  if (epoll_ >= 0) {
    polls_[1] = {epoll_, POLLIN, 0};
  }
  for (std::size_t i = 0; i < io_.size(); ++i) {
    polls_[i + first] = {io_[i].fd, io_[i].events, 0};
  }
  const int n = ::ppoll(polls_.data(), polls_.size(), timeout, nullptr);
  if (n <= 0) {
    return;
  }
  if (polls_[0].revents != 0) {
    uint64_t count = 0;
    [[maybe_unused]] const auto r = ::read(wakeup_, &count, sizeof count);
  }
  if (first == 2 && polls_[1].revents != 0) {
    drain_set();
  }
  for (std::size_t i = 0; i < io_.size(); ++i) {
    if (polls_[i + first].revents != 0) {
      io_[i].fiber->io_revents = polls_[i + first].revents;
      Loop::wake(*io_[i].fiber, io_[i].seq);  // and dropped at the next look
    }
  }
}

void Poller::drain_set() {
  events_.resize(kEventsPerLook);
  // More than that many ready are left in the set, which stays readable: the
  // next turn's look takes them.
  const int n = ::epoll_wait(epoll_, events_.data(), kEventsPerLook, 0);
  for (int i = 0; i < n; ++i) {
    const uint64_t key = events_[static_cast<std::size_t>(i)].data.u64;
    const auto fd = static_cast<std::size_t>(static_cast<uint32_t>(key));
    const auto generation = static_cast<uint32_t>(key >> 32);
    if (fd >= by_fd_.size() || by_fd_[fd].generation != generation) {
      continue;  // an earlier registration of this number: another socket's
    }
    const Registration& r = by_fd_[fd];
    if (r.fiber != nullptr && r.fiber->armed.load(std::memory_order_relaxed) == r.seq) {
      r.fiber->io_revents =
          static_cast<short>(events_[static_cast<std::size_t>(i)].events & 0xffffU);
      Loop::wake(*r.fiber, r.seq);
    }
  }
}

}  // namespace pgleak::fiber

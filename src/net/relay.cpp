#include "net/relay.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>
#include <random>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "net/address.hpp"
#include "net/relay_parts.hpp"
#include "util/errors.hpp"

namespace pgleak::net {
namespace {

using Clock = std::chrono::steady_clock;
using relay_parts::Chunk;
using relay_parts::Conn;
using relay_parts::Flow;
using relay_parts::kMaxQueued;
using relay_parts::kNotAdded;
using relay_parts::kReadChunk;
using relay_parts::kUnwatched;
using relay_parts::pending;

// Closes with a RST rather than a FIN.
void abort_fd(int fd) {
  const linger hard{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  ::close(fd);
}

}  // namespace

struct Relay::Loop {
  Relay& owner;
  int epoll = -1;
  int listener = -1;
  int wake = -1;
  sockaddr_storage target{};
  socklen_t target_len = 0;
  std::atomic<bool> stopping{false};
  std::unordered_map<int, Conn*> by_fd;
  std::unordered_map<Conn*, std::unique_ptr<Conn>> conns;
  // A turn of the loop pumps only the connections an event touched and
  // those holding data for later: never every connection.
  std::vector<Conn*> touched;
  std::unordered_set<Conn*> waiting;
  std::vector<char> buffer = std::vector<char>(kReadChunk);
  std::mt19937_64 random{std::random_device{}()};
  // The shaping of each direction, read once per turn of the loop.
  Shaping to_server;
  Shaping to_client;
  uint32_t listener_events = kNotAdded;
  std::optional<Clock::time_point> listener_rests_until;
  std::atomic<uint64_t> accept_failures{0};
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> aborted{0};
  std::atomic<uint64_t> bytes_to_server{0};
  std::atomic<uint64_t> bytes_to_client{0};

  explicit Loop(Relay& r) : owner(r) {}
  ~Loop() {
    for (auto& [ptr, c] : conns) {
      close_conn(*c, false);
    }
    for (const int fd : {listener, wake, epoll}) {
      if (fd >= 0) {
        ::close(fd);
      }
    }
  }

  void watch(int fd, uint32_t events, uint32_t& current) {
    if (events == current || current == kUnwatched) {
      return;
    }
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    ::epoll_ctl(epoll, current == kNotAdded ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
    current = events;
  }

  void run() {
    std::vector<epoll_event> events(256);
    while (!stopping.load()) {
      const int n = ::epoll_wait(epoll, events.data(), static_cast<int>(events.size()),
                                 timeout_ms(Clock::now()));
      // After the wait: a shape() that woke it applies to what it reads now.
      {
        std::lock_guard lock{owner.mutex_};
        to_server = owner.to_server_;
        to_client = owner.to_client_;
      }
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == listener) {
          accept_all();
        } else if (fd == wake) {
          uint64_t ignored = 0;
          [[maybe_unused]] const auto r = ::read(wake, &ignored, sizeof ignored);
        } else if (const auto it = by_fd.find(fd); it != by_fd.end()) {
          on_event(*it->second, fd, events[i].events);
        }
      }
      for (Conn* c : waiting) {
        touch(*c);
      }
      const auto now = Clock::now();
      if (listener_rests_until && now >= *listener_rests_until) {
        listener_rests_until.reset();
        watch(listener, EPOLLIN, listener_events);
      }
      for (Conn* c : touched) {
        c->touched = false;
        if (!c->dead) {
          pump(*c, c->up, now);
          pump(*c, c->down, now);
          finish_or_rewatch(*c);
        }
        if (!c->dead && (pending(c->up) || pending(c->down))) {
          waiting.insert(c);
        } else {
          waiting.erase(c);
        }
        if (c->dead) {
          conns.erase(c);
        }
      }
      touched.clear();
    }
  }

  void touch(Conn& c) {
    if (!c.touched) {
      c.touched = true;
      touched.push_back(&c);
    }
  }

  // Until the next chunk is due or a bucket refills; -1 with nothing queued.
  int timeout_ms(Clock::time_point now) const {
    std::optional<Clock::time_point> next = listener_rests_until;
    for (const Conn* c : waiting) {
      for (const Flow* f : {&c->up, &c->down}) {
        if (pending(*f)) {
          auto due = f->queue.front().release;
          if (f->tokens < 1 && due <= now) {
            due = now + std::chrono::milliseconds{1};
          }
          next = next ? std::min(*next, due) : due;
        }
      }
    }
    if (!next) {
      return -1;
    }
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(*next - now).count();
    return static_cast<int>(std::clamp<int64_t>(wait, 0, 1000));
  }

  // Out of descriptors: the listener would wake the loop on every turn. It
  // rests 100 ms, and the connects wait in its backlog.
  void rest_listener() {
    watch(listener, 0, listener_events);
    listener_rests_until = Clock::now() + std::chrono::milliseconds{100};
    accept_failures.fetch_add(1, std::memory_order_relaxed);
  }

  void accept_all() {
    while (true) {
      const int client = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (client < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          rest_listener();
        }
        return;
      }
      const int upstream =
          ::socket(target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (upstream < 0) {
        abort_fd(client);  // this one is lost; the next wait in the backlog
        rest_listener();
        return;
      }
      if (target.ss_family != AF_UNIX) {
        const int one = 1;
        ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ::setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      }
      auto conn = std::make_unique<Conn>();
      conn->client = client;
      conn->upstream = upstream;
      conn->up.from = client;
      conn->up.to = upstream;
      conn->down.from = upstream;
      conn->down.to = client;
      by_fd[client] = conn.get();
      by_fd[upstream] = conn.get();
      connections.fetch_add(1, std::memory_order_relaxed);
      if (::connect(upstream, reinterpret_cast<const sockaddr*>(&target), target_len) == 0) {
        conn->connected = true;
      } else if (errno != EINPROGRESS && errno != EAGAIN) {
        close_conn(*conn, true);
      }
      touch(*conn);
      conns.emplace(conn.get(), std::move(conn));
    }
  }

  void on_event(Conn& c, int fd, uint32_t events) {
    if (c.dead) {
      return;
    }
    touch(c);
    if (fd == c.upstream && !c.connected) {
      int error = 0;
      socklen_t len = sizeof error;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
      if (error != 0 || (events & (EPOLLERR | EPOLLHUP)) != 0) {
        close_conn(c, true);
        return;
      }
      c.connected = true;
    }
    if ((events & EPOLLERR) != 0) {
      close_conn(c, true);
      return;
    }
    Flow& in = fd == c.client ? c.up : c.down;
    Flow& out = fd == c.client ? c.down : c.up;
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) != 0) {
      read_from(c, in);
    }
    if ((events & EPOLLOUT) != 0) {
      out.blocked = false;
    }
    if ((events & EPOLLHUP) != 0 && in.eof && !c.dead) {
      // Closed both ways: nothing more reaches it, and epoll would say so
      // on every turn; what it sent before still goes to the other side.
      out.queue.clear();
      out.queued = 0;
      out.eof = out.shut = true;
      out.blocked = false;
      auto& current = fd == c.client ? c.client_events : c.upstream_events;
      ::epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nullptr);
      current = kUnwatched;
    }
  }

  void read_from(Conn& c, Flow& f) {
    const Shaping& s = &f == &c.up ? to_server : to_client;
    const bool unshaped = s == Shaping{};
    const auto now = Clock::now();
    while (!f.eof && f.queued < kMaxQueued && !c.dead) {
      const ssize_t n = ::recv(f.from, buffer.data(), buffer.size(), 0);
      if (n == 0) {
        f.eof = true;
        return;
      }
      if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          close_conn(c, true);
        }
        return;
      }
      size_t sent = 0;
      if (unshaped && f.queue.empty() && c.connected && !f.blocked) {
        sent = write_now(c, f, buffer.data(), static_cast<size_t>(n));  // the common case
      }
      if (!c.dead && sent < static_cast<size_t>(n)) {
        Chunk chunk{std::max(f.last_release, now + held_for(s)),
                    std::string(buffer.data() + sent, static_cast<size_t>(n) - sent), 0};
        f.last_release = chunk.release;
        f.queued += chunk.data.size();
        f.queue.push_back(std::move(chunk));
      }
      if (static_cast<size_t>(n) < buffer.size()) {
        return;  // drained: epoll says when more comes
      }
    }
  }

  // Writes what it can of `data` to `f`'s side at once: how much it wrote.
  size_t write_now(Conn& c, Flow& f, const char* data, size_t size) {
    const ssize_t n = ::send(f.to, data, size, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        f.blocked = true;
      } else if (errno != EINTR) {
        close_conn(c, true);
      }
      return 0;
    }
    (&f == &c.up ? bytes_to_server : bytes_to_client)
        .fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    return static_cast<size_t>(n);
  }

  Clock::duration held_for(const Shaping& s) {
    auto held = s.delay;
    if (s.jitter.count() > 0) {
      std::uniform_int_distribution<int64_t> draw{-s.jitter.count(), s.jitter.count()};
      held += std::chrono::microseconds{draw(random)};
    }
    return std::max(held, std::chrono::microseconds{0});
  }

  void refill(Flow& f, Clock::time_point now, int64_t rate) {
    if (rate <= 0) {
      f.tokens = static_cast<double>(kMaxQueued);
      return;
    }
    const double burst = std::max(1500.0, static_cast<double>(rate) / 50.0);
    if (f.refilled == Clock::time_point{}) {
      f.tokens = burst;
    } else {
      f.tokens +=
          std::chrono::duration<double>(now - f.refilled).count() * static_cast<double>(rate);
    }
    f.tokens = std::min(f.tokens, burst);
    f.refilled = now;
  }

  void pump(Conn& c, Flow& f, Clock::time_point now) {
    if (!c.connected || f.blocked) {
      return;
    }
    refill(f, now, (&f == &c.up ? to_server : to_client).bytes_per_s);
    while (!f.queue.empty() && f.queue.front().release <= now && f.tokens >= 1 && !c.dead &&
           !f.blocked) {
      auto& chunk = f.queue.front();
      const size_t want = std::min(chunk.data.size() - chunk.sent, static_cast<size_t>(f.tokens));
      const size_t n = write_now(c, f, chunk.data.data() + chunk.sent, want);
      chunk.sent += n;
      f.queued -= n;
      f.tokens -= static_cast<double>(n);
      if (chunk.sent == chunk.data.size()) {
        f.queue.pop_front();
      }
    }
    if (c.dead) {
      return;
    }
    if (f.queue.empty() && f.eof && !f.shut) {
      ::shutdown(f.to, SHUT_WR);
      f.shut = true;
    }
  }

  // Closes a connection both of whose sides are done; else asks epoll for
  // what each side is waiting for.
  void finish_or_rewatch(Conn& c) {
    if (c.dead) {
      return;
    }
    if (c.up.shut && c.down.shut) {
      close_conn(c, false);
      return;
    }
    const auto wants = [&](int fd) {
      const Flow& reads = fd == c.client ? c.up : c.down;
      const Flow& writes = fd == c.client ? c.down : c.up;
      uint32_t e = 0;
      if (!reads.eof && reads.queued < kMaxQueued && (fd == c.client || c.connected)) {
        e |= EPOLLIN | EPOLLRDHUP;  // never while it cannot read: RDHUP would fire each turn
      }
      if (writes.blocked || (fd == c.upstream && !c.connected)) {
        e |= EPOLLOUT;
      }
      return e;
    };
    watch(c.client, wants(c.client), c.client_events);
    watch(c.upstream, wants(c.upstream), c.upstream_events);
  }

  void close_conn(Conn& c, bool abort) {
    if (c.dead) {
      return;
    }
    c.dead = true;
    if (abort) {  // counted before either side can see it
      aborted.fetch_add(1, std::memory_order_relaxed);
    }
    for (const int fd : {c.client, c.upstream}) {
      by_fd.erase(fd);
      ::epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nullptr);
      abort ? abort_fd(fd) : static_cast<void>(::close(fd));
    }
  }
};

std::unique_ptr<Relay> Relay::start(const std::string& host, int port, int listen_port) {
  std::unique_ptr<Relay> relay{new Relay};
  relay->loop_ = std::make_unique<Loop>(*relay);
  auto& loop = *relay->loop_;
  resolve_target(host, port, loop.target, loop.target_len);
  loop.epoll = ::epoll_create1(EPOLL_CLOEXEC);
  loop.wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  loop.listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  any.sin_port = htons(static_cast<uint16_t>(listen_port));
  socklen_t len = sizeof any;
  if (loop.epoll < 0 || loop.wake < 0 || loop.listener < 0 ||
      ::bind(loop.listener, reinterpret_cast<sockaddr*>(&any), sizeof any) != 0 ||
      ::listen(loop.listener, 4096) != 0 ||
      ::getsockname(loop.listener, reinterpret_cast<sockaddr*>(&any), &len) != 0) {
    throw util::InfrastructureError(
        fmt::format("relay: cannot listen on 127.0.0.1: {}", std::strerror(errno)));
  }
  relay->port_ = ntohs(any.sin_port);
  uint32_t waking = kNotAdded;
  loop.watch(loop.listener, EPOLLIN, loop.listener_events);
  loop.watch(loop.wake, EPOLLIN, waking);
  relay->thread_ = std::thread{[&loop] { loop.run(); }};
  return relay;
}

Relay::~Relay() {
  stop();
  loop_.reset();
}

void Relay::stop() {
  if (!thread_.joinable()) {
    return;
  }
  loop_->stopping = true;
  const uint64_t one = 1;
  [[maybe_unused]] const auto w = ::write(loop_->wake, &one, sizeof one);
  thread_.join();
  for (auto& [ptr, conn] : loop_->conns) {
    loop_->close_conn(*conn, false);
  }
}

void Relay::shape(Direction direction, const Shaping& shaping) {
  {
    std::lock_guard lock{mutex_};
    (direction == Direction::kToServer ? to_server_ : to_client_) = shaping;
  }
  const uint64_t one = 1;
  [[maybe_unused]] const auto w = ::write(loop_->wake, &one, sizeof one);
}

Shaping Relay::shaping(Direction direction) const {
  std::lock_guard lock{mutex_};
  return direction == Direction::kToServer ? to_server_ : to_client_;
}

Relay::Stats Relay::stats() const {
  return {loop_->connections.load(), loop_->aborted.load(), loop_->bytes_to_server.load(),
          loop_->bytes_to_client.load(), loop_->accept_failures.load()};
}

}  // namespace pgleak::net

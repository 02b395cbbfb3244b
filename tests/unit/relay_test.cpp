// net::Relay against a real TCP echo server on loopback: bytes arrive whole
// and in order, an orderly close and an abort are passed on, and the delay,
// jitter and bandwidth it is asked for are what a client measures. Timings
// are bounded below by what was asked (a timer is never early) and above by
// a wide margin for a loaded machine.
#include "net/relay.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>

#include "../loopback_listener.hpp"

namespace pgleak::net {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Listens on 127.0.0.1 and echoes each connection until its client closes
// (or, with `abort_after` bytes, resets it once that many came).
class EchoServer {
 public:
  explicit EchoServer(size_t abort_after = 0) : abort_after_(abort_after) {
    const auto listener = test_support::listen_on_loopback(16);
    EXPECT_GE(listener.fd, 0);
    fd_ = listener.fd;
    port_ = listener.port;
    thread_ = std::thread{[this] { serve(); }};
  }
  ~EchoServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;
  int port() const { return port_; }

 private:
  void serve() {
    const int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) {
      return;
    }
    char buf[65536];
    size_t seen = 0;
    ssize_t n = 0;
    while ((n = ::recv(c, buf, sizeof buf, 0)) > 0) {
      seen += static_cast<size_t>(n);
      if (abort_after_ > 0 && seen >= abort_after_) {
        const linger hard{1, 0};
        ::setsockopt(c, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
        break;
      }
      for (ssize_t sent = 0; sent < n;) {
        const ssize_t w = ::send(c, buf + sent, static_cast<size_t>(n - sent), MSG_NOSIGNAL);
        if (w <= 0) {
          break;
        }
        sent += w;
      }
    }
    ::close(c);
  }

  int fd_ = -1;
  int port_ = 0;
  size_t abort_after_;
  std::thread thread_;
};

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

// Reads exactly `size` bytes (or until EOF, an error or 10 s).
std::string read_n(int fd, size_t size) {
  std::string out;
  char buf[65536];
  const auto deadline = Clock::now() + 10s;
  while (out.size() < size && Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) {
      continue;
    }
    const ssize_t n = ::recv(fd, buf, std::min(sizeof buf, size - out.size()), 0);
    if (n <= 0) {
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

void send_all(int fd, const std::string& data) {
  for (size_t sent = 0; sent < data.size();) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    ASSERT_GT(n, 0);
    sent += static_cast<size_t>(n);
  }
}

// One round trip of a 1-byte message: how long it took.
double round_trip_ms(int fd) {
  const auto start = Clock::now();
  send_all(fd, "x");
  EXPECT_EQ(read_n(fd, 1), "x");
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

TEST(Relay, FourMegabytesArriveWholeAndInOrderAndACloseIsPassedOn) {
  EchoServer echo;
  auto relay = Relay::start("127.0.0.1", echo.port());
  const int fd = connect_to(relay->port());
  std::string data(4 << 20, '\0');
  std::mt19937 random{7};
  for (auto& c : data) {
    c = static_cast<char>(random());
  }
  std::thread writer{[&] { send_all(fd, data); }};
  EXPECT_EQ(read_n(fd, data.size()), data);
  writer.join();
  ::shutdown(fd, SHUT_WR);  // the echo server sees EOF, closes; the relay passes it on
  char byte = 0;
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  EXPECT_EQ(::recv(fd, &byte, 1, 0), 0);
  ::close(fd);
  relay->stop();  // counted only once its thread has nothing left to do
  const auto stats = relay->stats();
  EXPECT_EQ(stats.connections, 1u);
  EXPECT_EQ(stats.aborted, 0u);
  EXPECT_EQ(stats.bytes_to_server, data.size());
  EXPECT_EQ(stats.bytes_to_client, data.size());
}

TEST(Relay, AResetOnOneSideReachesTheOther) {
  EchoServer echo{/*abort_after=*/3};
  auto relay = Relay::start("127.0.0.1", echo.port());
  const int fd = connect_to(relay->port());
  send_all(fd, "abc");
  char byte = 0;
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  errno = 0;
  EXPECT_EQ(::recv(fd, &byte, 1, 0), -1);
  EXPECT_EQ(errno, ECONNRESET);
  ::close(fd);
}

TEST(Relay, DelayIsAddedEachWayAndLiftsWhenShapingIsCleared) {
  EchoServer echo;
  auto relay = Relay::start("127.0.0.1", echo.port());
  const int fd = connect_to(relay->port());
  const double before = round_trip_ms(fd);
  relay->shape(Direction::kToServer, {.delay = 30ms});
  relay->shape(Direction::kToClient, {.delay = 20ms});
  for (int i = 0; i < 3; ++i) {
    const double rtt = round_trip_ms(fd);
    EXPECT_GE(rtt, 50.0);
    EXPECT_LE(rtt, 50.0 + 500.0);
  }
  relay->shape(Direction::kToServer, {});
  relay->shape(Direction::kToClient, {});
  EXPECT_LT(round_trip_ms(fd), 50.0) << "before the delay: " << before << " ms";
  ::close(fd);
}

TEST(Relay, JitterVariesTheDelayWithinItsBounds) {
  EchoServer echo;
  auto relay = Relay::start("127.0.0.1", echo.port());
  const int fd = connect_to(relay->port());
  relay->shape(Direction::kToServer, {.delay = 20ms, .jitter = 15ms});
  double least = 1e9;
  double most = 0;
  for (int i = 0; i < 30; ++i) {
    const double rtt = round_trip_ms(fd);
    least = std::min(least, rtt);
    most = std::max(most, rtt);
  }
  EXPECT_GE(least, 5.0);   // 20 - 15
  EXPECT_LT(least, 20.0);  // 30 uniform draws: one below the delay, all but surely
  EXPECT_GT(most, 20.0);
  ::close(fd);
}

TEST(Relay, BandwidthCapsWhatEachDirectionCarries) {
  EchoServer echo;
  auto relay = Relay::start("127.0.0.1", echo.port());
  relay->shape(Direction::kToClient, {.bytes_per_s = 1'000'000});
  const int fd = connect_to(relay->port());
  const std::string data(400'000, 'x');
  const auto start = Clock::now();
  std::thread writer{[&] { send_all(fd, data); }};
  EXPECT_EQ(read_n(fd, data.size()).size(), data.size());
  writer.join();
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_GE(took, 0.38);  // 400 KB at 1 MB/s, less the first 20 ms burst
  EXPECT_LE(took, 3.0);
  ::close(fd);
}

// A client that half-closes and waits for a slow answer: the relay waits
// with it, idle (a half-closed socket must not wake its loop on every turn).
TEST(Relay, AHalfClosedClientWaitsIdleForItsAnswer) {
  const auto listener = test_support::listen_on_loopback(1);
  ASSERT_GE(listener.fd, 0);
  const int server = listener.fd;
  auto relay = Relay::start("127.0.0.1", listener.port);
  const int fd = connect_to(relay->port());
  send_all(fd, "question");
  ::shutdown(fd, SHUT_WR);
  const int upstream = ::accept(server, nullptr, nullptr);
  ASSERT_GE(upstream, 0);
  EXPECT_EQ(read_n(upstream, 8), "question");
  char byte = 0;
  ASSERT_EQ(::recv(upstream, &byte, 1, 0), 0);  // the half-close, passed on
  rusage before{};
  ::getrusage(RUSAGE_SELF, &before);
  std::this_thread::sleep_for(
      300ms);  // the server thinks: what the relay does meanwhile is measured
  rusage after{};
  ::getrusage(RUSAGE_SELF, &after);
  const auto cpu_ms = [](const rusage& r) {
    return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1000.0 +
           (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1000.0;
  };
  EXPECT_LT(cpu_ms(after) - cpu_ms(before), 100.0) << "the relay spun while it waited";
  send_all(upstream, "answer");
  ::close(upstream);
  EXPECT_EQ(read_n(fd, 6), "answer");
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  EXPECT_EQ(::recv(fd, &byte, 1, 0), 0);
  ::close(fd);
  ::close(server);
}

TEST(Relay, ATargetThatRefusesEndsTheClientsConnection) {
  int port = 0;
  {
    EchoServer gone;  // a port that was free a moment ago, and is closed now
    port = gone.port();
    const int fd = connect_to(port);  // lets its thread finish
    ::close(fd);
  }
  auto relay = Relay::start("127.0.0.1", port);
  const int fd = connect_to(relay->port());
  char byte = 0;
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  EXPECT_LE(::recv(fd, &byte, 1, 0), 0);
  ::close(fd);
  EXPECT_EQ(relay->stats().aborted, 1u);
}

}  // namespace
}  // namespace pgleak::net

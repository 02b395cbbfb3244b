// A loop's waits on sockets past EngineOptions::epoll_above, which go through
// an epoll set (src/fiber/poller.hpp): each wakes its own fiber, a socket
// number reused after a wait that ended early wakes only its new waiter, and
// two fibers on one socket both wake.

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <vector>

#include "fiber/fiber.hpp"
#include "fiber/sync.hpp"

namespace pgleak::fiber {
namespace {

using namespace std::chrono_literals;

// One loop, and no wait left to the ppoll but a second one on a socket.
constexpr EngineOptions kEverySocketThroughTheSet{.threads = 1, .epoll_above = 0};

struct SocketPair {
  std::array<int, 2> fd{-1, -1};
  SocketPair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fd.data()), 0); }
  ~SocketPair() {
    for (const int f : fd) {
      if (f >= 0) {
        ::close(f);
      }
    }
  }
  SocketPair(const SocketPair&) = delete;
  SocketPair& operator=(const SocketPair&) = delete;
};

// 8 waits go to the ppoll, the other 192 through the set; the bytes are
// written in reverse order, and each fiber reads back the byte meant for it.
TEST(Poller, ManyWaitsPastTheThresholdEachWakeTheirOwnFiber) {
  constexpr int kSockets = 200;
  std::vector<std::unique_ptr<SocketPair>> pairs;
  for (int i = 0; i < kSockets; ++i) {
    pairs.push_back(std::make_unique<SocketPair>());
  }
  std::vector<short> woke(kSockets, 0);
  std::vector<int> got(kSockets, -1);
  Engine engine{{.threads = 1, .epoll_above = 8}};
  for (int i = 0; i < kSockets; ++i) {
    engine.spawn([&, i] {
      const int fd = pairs[static_cast<size_t>(i)]->fd[0];
      woke[static_cast<size_t>(i)] = static_cast<short>(wait_fd(fd, POLLIN, nullptr, nullptr));
      unsigned char c = 0;
      if (::read(fd, &c, 1) == 1) {
        got[static_cast<size_t>(i)] = c;
      }
    });
  }
  // The writer comes last: a loop resumes fibers in the order they came, so
  // every reader waits before it writes.
  engine.spawn([&] {
    for (int i = kSockets - 1; i >= 0; --i) {
      const auto c = static_cast<unsigned char>(i);
      EXPECT_EQ(::write(pairs[static_cast<size_t>(i)]->fd[1], &c, 1), 1);
    }
  });
  engine.join();
  for (int i = 0; i < kSockets; ++i) {
    EXPECT_NE(woke[static_cast<size_t>(i)] & POLLIN, 0) << i;
    EXPECT_EQ(got[static_cast<size_t>(i)], i);
  }
  EXPECT_EQ(engine.epoll_waits(), static_cast<uint64_t>(kSockets - 8));
}

// A wait that its deadline ended leaves its registration armed. When that
// socket is closed while a duplicate keeps it open (as a forked child's
// inherited copy would), the set keeps it too; the number, reused by a new
// socket, must not wake the new socket's waiter when the old one becomes
// readable.
TEST(Poller, AReusedSocketNumberWakesOnlyItsNewWaiter) {
  SocketPair old_pair;
  SocketPair new_pair;
  const int number = old_pair.fd[0];
  int first = -2;
  int stale = -2;
  int fresh = -2;
  Engine engine{kEverySocketThroughTheSet};
  engine.spawn([&] {
    auto deadline = Clock::now() + 10ms;
    first = wait_fd(number, POLLIN, &deadline, nullptr);  // nothing comes
    const int kept = ::dup(number);
    ASSERT_GE(kept, 0);
    ASSERT_EQ(::dup2(new_pair.fd[0], number), number);  // the number is the new socket's now
    ASSERT_EQ(::write(old_pair.fd[1], "o", 1), 1);      // the old socket becomes readable
    deadline = Clock::now() + 50ms;
    stale = wait_fd(number, POLLIN, &deadline, nullptr);
    ASSERT_EQ(::write(new_pair.fd[1], "n", 1), 1);
    fresh = wait_fd(number, POLLIN, nullptr, nullptr);
    char c = 0;
    EXPECT_EQ(::read(number, &c, 1), 1);
    EXPECT_EQ(c, 'n');
    ::close(kept);
  });
  engine.join();
  EXPECT_EQ(first, 0);
  EXPECT_EQ(stale, 0) << "woken by the old socket's registration";
  EXPECT_NE(fresh & POLLIN, 0);
  EXPECT_EQ(engine.epoll_waits(), 3U);
}

// One registration per socket: the second fiber waiting on the same socket
// is looked at by the ppoll, and both wake when it becomes readable.
TEST(Poller, TwoFibersWaitingOnOneSocketBothWake) {
  SocketPair pair;
  short a = 0;
  short b = 0;
  Engine engine{kEverySocketThroughTheSet};
  engine.spawn([&] { a = static_cast<short>(wait_fd(pair.fd[0], POLLIN, nullptr, nullptr)); });
  engine.spawn([&] { b = static_cast<short>(wait_fd(pair.fd[0], POLLIN, nullptr, nullptr)); });
  engine.spawn([&] { EXPECT_EQ(::write(pair.fd[1], "x", 1), 1); });
  engine.join();
  EXPECT_NE(a & POLLIN, 0);
  EXPECT_NE(b & POLLIN, 0);
  EXPECT_EQ(engine.epoll_waits(), 1U);
}

// What a peer's close looks like through the set: the waiter wakes, as
// through ppoll, and the set takes a socket for writing as well as reading.
TEST(Poller, AClosedPeerAndAWritableSocketWakeThroughTheSet) {
  SocketPair pair;
  short hung_up = 0;
  short writable = 0;
  SocketPair other;
  Engine engine{kEverySocketThroughTheSet};
  engine.spawn([&] {
    writable = static_cast<short>(wait_fd(other.fd[0], POLLOUT, nullptr, nullptr));
    hung_up = static_cast<short>(wait_fd(pair.fd[0], POLLIN, nullptr, nullptr));
  });
  engine.spawn([&] {
    ::close(pair.fd[1]);
    pair.fd[1] = -1;
  });
  engine.join();
  EXPECT_NE(writable & POLLOUT, 0);
  EXPECT_NE(hung_up & (POLLIN | POLLHUP), 0);
  EXPECT_EQ(engine.epoll_waits(), 2U);
}

}  // namespace
}  // namespace pgleak::fiber

// db::SessionTally, and db::SocketRegistry counting in it: the most sessions
// open at once and when that many first were.
#include "db/session_tally.hpp"

#include <gtest/gtest.h>

#include <latch>
#include <thread>
#include <vector>

#include "db/socket_registry.hpp"

namespace pgleak::db {
namespace {

using Clock = SessionTally::Clock;

TEST(SessionTally, KeepsTheFirstMomentOfTheMostOpen) {
  SessionTally tally;
  EXPECT_EQ(tally.peak().open, 0);
  const auto before = Clock::now();
  tally.opened();
  tally.opened();
  const auto two_by = Clock::now();
  tally.closed();
  tally.opened();  // two again: not a new peak, so its moment stays the first
  EXPECT_EQ(tally.open(), 2);
  const auto peak = tally.peak();
  EXPECT_EQ(peak.open, 2);
  EXPECT_GE(peak.at, before);
  EXPECT_LE(peak.at, two_by);
  tally.opened();
  EXPECT_EQ(tally.peak().open, 3);
  EXPECT_GT(tally.peak().at, two_by);
}

// Opened and closed from many threads at once, the tally ends where it began
// and its peak is one every thread's sessions were open for: all of them, as
// each thread holds its sessions until every thread has opened its own.
TEST(SessionTally, CountsSessionsOpenedAndClosedOnManyThreads) {
  SessionTally tally;
  constexpr int kThreads = 8;
  constexpr int kEach = 500;
  std::latch opened_all{kThreads};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        tally.opened();
      }
      opened_all.arrive_and_wait();
      for (int i = 0; i < kEach; ++i) {
        tally.closed();
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(tally.open(), 0);
  EXPECT_EQ(tally.peak().open, kThreads * kEach);
}

TEST(SocketRegistry, CountsWhatItRegistersAndLetsGo) {
  SessionTally tally;
  SocketRegistry sockets;
  sockets.count_in(&tally);
  sockets.add(7);
  sockets.add(8);
  sockets.add(-1);    // no socket: not a session
  sockets.remove(9);  // never added: nothing to let go
  EXPECT_EQ(tally.open(), 2);
  sockets.remove(7);
  sockets.remove(7);  // let go once only
  EXPECT_EQ(tally.open(), 1);
  EXPECT_EQ(tally.peak().open, 2);
}

}  // namespace
}  // namespace pgleak::db

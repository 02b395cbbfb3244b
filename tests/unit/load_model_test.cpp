#include "workload/load_model.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace pgleak::workload {
namespace {

using namespace std::chrono_literals;
using util::ScaledDuration;

TEST(StageSchedule, RampsLinearlyThenHolds) {
  const StageSchedule s{0,
                        {{ScaledDuration::scale(2s, 1.0), 4}, {ScaledDuration::scale(1s, 1.0), 0}}};
  EXPECT_DOUBLE_EQ(s.value_at(0s), 0);
  EXPECT_DOUBLE_EQ(s.value_at(1s), 2);
  EXPECT_DOUBLE_EQ(s.value_at(2s), 4);
  EXPECT_DOUBLE_EQ(s.value_at(2500ms), 2);
  EXPECT_DOUBLE_EQ(s.value_at(10s), 0);
}

// A parked worker sleeps until the ramp reaches it: when is that, exactly.
TEST(StageSchedule, FirstReachingSolvesEachRamp) {
  const StageSchedule s{0,
                        {{ScaledDuration::scale(2s, 1.0), 4},
                         {ScaledDuration::scale(1s, 1.0), 0},
                         {ScaledDuration::scale(4s, 1.0), 8}}};
  EXPECT_EQ(s.first_reaching(1, 0s), 500ms);
  EXPECT_EQ(s.first_reaching(4, 0s), 2s);
  EXPECT_EQ(s.first_reaching(1, 1s), 1s);  // already there
  // Ramping down from 2.5 s: below 1 after 2.75 s, back above it at 3.5 s.
  EXPECT_EQ(s.first_reaching(1, 2900ms), 3500ms);
  EXPECT_EQ(s.first_reaching(6, 0s), 6s);
  EXPECT_EQ(s.first_reaching(8, 0s), 7s);
  EXPECT_EQ(s.first_reaching(8, 1h), 1h);  // holds after the last stage
  EXPECT_FALSE(s.first_reaching(9, 0s).has_value());
  const StageSchedule down{
      0, {{ScaledDuration::scale(1s, 1.0), 3}, {ScaledDuration::scale(1s, 1.0), 0}}};
  EXPECT_FALSE(down.first_reaching(1, 2s).has_value());  // it never comes back
}

TEST(StageSchedule, WithoutStagesIsConstant) {
  const StageSchedule s{7, {}};
  EXPECT_DOUBLE_EQ(s.value_at(0s), 7);
  EXPECT_DOUBLE_EQ(s.value_at(1h), 7);
}

TEST(GroupLoad, ClosedModelWithoutStagesAdmitsAtOnce) {
  scenario::WorkerGroup g;
  g.count = 3;
  GroupLoad load{g, 1.0, std::chrono::steady_clock::now()};
  EXPECT_FALSE(load.open_model());
  std::stop_source stop;
  EXPECT_TRUE(load.admit(2, stop.get_token()));
  EXPECT_TRUE(load.wait_to_start(0, stop.get_token()));
}

TEST(GroupLoad, ParkedWorkerLeavesOnStop) {
  scenario::WorkerGroup g;
  g.count = 2;
  g.stages = {{ScaledDuration::scale(1h, 1.0), 0}};  // nobody runs for an hour
  GroupLoad load{g, 1.0, std::chrono::steady_clock::now()};
  std::stop_source stop;
  std::thread t{[&] { EXPECT_FALSE(load.wait_to_start(0, stop.get_token())); }};
  stop.request_stop();
  t.join();
}

// Open model: a worker whose thread has not yet asked for its first unit is
// idle, not busy (an application's workers exist before its first request):
// the first arrivals wait for them, and only arrivals past every worker are
// dropped. On a loaded machine the first arrival used to beat the threads.
TEST(GroupLoad, ArrivalsBeforeTheWorkersAskWaitForThemAndOnlyTheRestDrop) {
  scenario::WorkerGroup g;
  g.count = 2;
  g.arrival_rate = scenario::ArrivalRate{1000};
  const auto start = std::chrono::steady_clock::now();
  GroupLoad load{g, 1.0, start, start + 5ms};  // arrivals at 0, 1, 2, 3 and 4 ms, then none
  std::stop_source stop;
  load.start(stop.get_token());
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (load.arrivals() < 5 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_EQ(load.arrivals(), 5u);
  EXPECT_EQ(load.dropped(), 3u);  // two workers, neither asked yet: two arrivals wait for them
  std::stop_source worker;
  EXPECT_TRUE(load.admit(0, worker.get_token()));  // an arrival was kept for each
  EXPECT_TRUE(load.admit(1, worker.get_token()));
}

}  // namespace
}  // namespace pgleak::workload

#include "workload/load_model.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace pgleak::workload

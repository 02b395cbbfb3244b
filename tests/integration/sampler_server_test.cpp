// ActivitySampler against a real server: what its start waits for.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>

#include "db/own_session.hpp"
#include "pg_environment.hpp"
#include "probe/activity_sampler.hpp"
#include "record/recorder.hpp"

namespace pgleak::probe {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::PgEnvironment;

// Starts a sampler told to await the exit of "itest-linger" backends, and
// returns how long start() took.
Clock::duration start_awaiting(std::chrono::milliseconds bound) {
  auto& env = PgEnvironment::get();
  record::Recorder recorder{Clock::now()};
  ActivitySampler sampler{env.admin(), "itest-none", 1s, recorder,
                          [] { return std::vector<record::PoolSample>{}; }};
  sampler.await_exit_of({"itest-linger"}, bound);
  const auto t0 = Clock::now();
  sampler.start();
  const auto took = Clock::now() - t0;
  sampler.stop();
  return took;
}

// A session pgleak has just closed still holds its slot until its backend
// has exited; the embedded run's sampler holds the workload back until then
// (RolesOnEmbeddedServer counts on it).
TEST(ActivitySampler, StartReturnsOnceTheAwaitedSessionsHaveLeft) {
  auto& env = PgEnvironment::get();
  std::optional<db::OwnSession> lingering{std::in_place, env.admin(), "itest-linger"};
  // Still open: start() gives up at its bound, not before, and not long after.
  const auto held = start_awaiting(300ms);
  EXPECT_GE(held, 300ms);
  EXPECT_LT(held, 5s);
  // Closed just now: start() returns once its backend is gone, well inside the bound.
  lingering.reset();
  const auto closed = start_awaiting(10s);
  EXPECT_EQ(env.backends("itest-linger"), 0);
  EXPECT_LT(closed, 10s);
}

}  // namespace
}  // namespace pgleak::probe

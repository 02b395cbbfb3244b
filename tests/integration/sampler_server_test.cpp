// ActivitySampler against a real server: what its start waits for, and
// when a sample is stamped.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <thread>

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

// A sample's time is when its tick asked, not when the server answered: with
// the sampler's query held up behind a lock on pg_authid (which
// pg_stat_activity joins), the last sample's t_s falls before the moment
// the query was seen waiting, however long the wait went on after that.
TEST(ActivitySampler, ASampleIsStampedWhenItIsAskedForNotWhenAnswered) {
  auto& env = PgEnvironment::get();
  record::Recorder recorder{Clock::now()};
  ActivitySampler sampler{env.admin(), "itest-none", 1h, recorder,
                          [] { return std::vector<record::PoolSample>{}; }};
  sampler.start();
  // The first tick is taken at once; the lock comes after it.
  const auto first_by = Clock::now() + 10s;
  while (recorder.samples().empty() && Clock::now() < first_by) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(recorder.samples().size(), 1U);

  // Both sessions connect before the lock: a new connection reads pg_authid too.
  db::OwnSession watcher{env.admin(), "itest-watch"};
  db::OwnSession locker{env.admin(), "itest-lock"};
  locker.query("BEGIN; LOCK TABLE pg_catalog.pg_authid IN ACCESS EXCLUSIVE MODE");
  const auto asked_after = Clock::now();
  std::thread last{[&sampler] { sampler.finish(); }};
  // pg_locks reads no catalog the lock holds; 1260 is pg_authid's fixed oid.
  const auto seen_by = Clock::now() + 10s;
  while (watcher.scalar("SELECT count(*) FROM pg_locks WHERE relation = 1260 AND NOT granted") ==
             0 &&
         Clock::now() < seen_by) {
    std::this_thread::sleep_for(5ms);
  }
  const auto seen_waiting = Clock::now();
  locker.query("COMMIT");
  last.join();
  ASSERT_LT(seen_waiting, seen_by) << "the sampler's query never waited on the lock";

  const auto samples = recorder.samples();
  ASSERT_EQ(samples.size(), 2U) << "the last sample was not taken";
  const auto stamped = recorder.start() + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double>(samples[1].t_s));
  const auto ms = [&](Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(t - asked_after).count();
  };
  EXPECT_GE(stamped, asked_after - 1ms) << ms(stamped) << " ms";  // the clock's double rounds
  EXPECT_LE(stamped, seen_waiting)
      << "stamped at " << ms(stamped) << " ms, seen waiting at " << ms(seen_waiting) << " ms";
  EXPECT_EQ(samples[1].lag_ms, 0);
}

}  // namespace
}  // namespace pgleak::probe

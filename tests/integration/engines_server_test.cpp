// The two engines (docs/ENGINE.md) on the same scenarios against the test
// server: workers as fibers on a few event-loop threads, and a thread per
// worker, must give the same numbers and the same texts.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "pg_environment.hpp"
#include "run/runner.hpp"
#include "run_helpers.hpp"

namespace pgleak::run {
namespace {

WorkerEngine threads() {
  return {WorkerEngine::Kind::kThreads, 0};
}

WorkerEngine fibers(int loops, std::size_t epoll_above = 64) {
  return {WorkerEngine::Kind::kFibers, loops, epoll_above};
}

std::string scenario_of(const std::string& workers, const std::string& pool = "{}",
                        const std::string& duration = "1200ms") {
  return R"({"name": "t", "duration": ")" + duration +
         R"(", "sample_interval": "100ms", "processes": [{"name": "p", "pool": )" + pool +
         R"(, "workers": [)" + workers + "]}]}";
}

// What a run shows that does not depend on how fast a machine is: the
// states held at the end (plain idle aside: how many a pool happened to open
// at once), the pool's checkouts and what is still out, errors by SQLSTATE,
// timeouts, and the texts of the errors the workers saw.
struct Picture {
  std::map<std::string, int> held;
  uint64_t checkouts;
  int outstanding;
  std::map<std::string, uint64_t> errors;
  uint64_t pool_timeouts;
  std::set<std::string> texts;
  bool operator==(const Picture&) const = default;
};

Picture picture_of(const record::RunResult& r) {
  Picture p{r.samples.back().by_state, r.pools.at(0).stats.checkouts,
            r.pools.at(0).outstanding, r.errors_by_sqlstate,
            r.pool_timeouts,           {}};
  p.held.erase("idle");
  for (const auto& e : r.events) {
    if (!e.message.empty()) {
      p.texts.insert(e.kind + ": " + e.message);
    }
  }
  return p;
}

void print(std::ostream& os, const Picture& p) {
  os << "checkouts " << p.checkouts << ", outstanding " << p.outstanding << ", pool timeouts "
     << p.pool_timeouts << ", held";
  for (const auto& [state, n] : p.held) {
    os << " " << state << "=" << n;
  }
  os << ", errors";
  for (const auto& [state, n] : p.errors) {
    os << " " << state << "=" << n;
  }
  for (const auto& t : p.texts) {
    os << "\n  " << t;
  }
}

struct Case {
  std::string name;
  std::string workers;
  std::string pool = "{}";
};

class Engines : public ::testing::TestWithParam<Case> {};

TEST_P(Engines, GiveTheSameNumbersAndTexts) {
  const auto& c = GetParam();
  const auto text = scenario_of(c.workers, c.pool);
  const auto threaded = run_json(text, threads());
  EXPECT_EQ(threaded.engine, "threads");
  EXPECT_EQ(threaded.engine_threads, 0);
  const auto on_threads = picture_of(threaded);
  // One loop holds every worker (the most suspending and waking on one
  // thread); two spread them; and one whose every socket wait goes through
  // its epoll set (a loop past 64 sockets, which this server's 20
  // connections cannot reach otherwise).
  struct Variant {
    int loops;
    std::size_t epoll_above;
  };
  for (const auto v : {Variant{1, 64}, Variant{2, 64}, Variant{1, 0}}) {
    const auto run = run_json(text, fibers(v.loops, v.epoll_above));
    EXPECT_EQ(run.engine, "fibers");
    EXPECT_EQ(run.engine_threads, v.loops);
    if (v.epoll_above == 0) {  // the statements' waits went through the set
      EXPECT_GT(run.engine_epoll_waits, 0U) << c.name;
    } else {  // 20 connections cannot take a loop past 64 waits
      EXPECT_EQ(run.engine_epoll_waits, 0U) << c.name;
    }
    const auto on_fibers = picture_of(run);
    std::ostringstream a, b;
    print(a, on_threads);
    print(b, on_fibers);
    EXPECT_TRUE(on_fibers == on_threads)
        << c.name << " on " << v.loops << " loop(s), epoll above " << v.epoll_above
        << "\nthreads: " << a.str() << "\nfibers:  " << b.str();
  }
}

// The most sessions open at once, counted on pgleak's side as they open and
// close (db::SessionTally): the three a held_by_object fleet keeps for the
// run, all open by the time the sampler first saw them on the server (give
// or take the moment between a backend's listing and its first answer).
TEST(SessionsPeak, IsTheMostOpenAtOnceOnEitherEngine) {
  const auto text = scenario_of(R"({"pattern": "held_by_object", "count": 3, "iterations": 1})");
  for (const auto& engine : {threads(), fibers(2)}) {
    const auto run = run_json(text, engine);
    ASSERT_TRUE(run.sessions_peak) << engine.name();
    EXPECT_EQ(run.sessions_peak->open, 3) << engine.name();
    EXPECT_EQ(run.series.peak_own, 3) << engine.name();
    EXPECT_GT(run.sessions_peak->at_s, 0) << engine.name();
    EXPECT_LE(run.sessions_peak->at_s, run.series.peak_own_at_s + 0.5)
        << engine.name() << ": the server showed all three at " << run.series.peak_own_at_s << " s";
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryPatternAndAQueue, Engines,
    ::testing::Values(
        Case{"scoped",
             R"({"pattern": "scoped", "count": 4, "iterations": 3, "think_time": "20ms"})"},
        Case{"held_by_object",
             R"({"pattern": "held_by_object", "count": 3, "iterations": 2, "think_time": "20ms"})"},
        Case{"outside_loop",
             R"({"pattern": "outside_loop", "count": 3, "iterations": 2, "think_time": "20ms"})"},
        Case{"global_session",
             R"({"pattern": "global_session", "count": 3, "iterations": 2, "think_time": "20ms"})"},
        Case{"leak_on_error",
             R"({"pattern": "leak_on_error", "count": 2, "iterations": 2, "think_time": "20ms",
                 "options": {"error_rate": 1}})"},
        Case{"idle_in_transaction", R"({"pattern": "idle_in_transaction", "count": 2,
                                        "iterations": 2, "think_time": "20ms"})"},
        Case{"slow_statement", R"({"pattern": "slow_statement", "count": 2, "iterations": 1})",
             R"({"connect": {"statement_timeout": "100ms"}})"},
        Case{"connection_per_task", R"({"pattern": "connection_per_task", "count": 2,
                                        "iterations": 2, "think_time": "20ms"})"},
        // Six workers queue on a pool of one that each holds for the run:
        // five time out after 200 ms, in the library's words.
        Case{"pool_timeouts", R"({"pattern": "held_by_object", "count": 6, "iterations": 1})",
             R"({"pool_size": 1, "max_overflow": 0, "pool_timeout": "200ms"})"}),
    [](const auto& p) { return p.param.name; });

}  // namespace
}  // namespace pgleak::run

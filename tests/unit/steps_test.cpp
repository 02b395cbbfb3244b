// The "steps" grammar (scenario/steps.hpp): what it accepts, what it refuses
// and where, the built-in patterns' twins, and process lifecycles.
#include <gtest/gtest.h>

#include "scenario/loader.hpp"
#include "scenario_problems.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::scenario {
namespace {

using Op = Step::Op;

std::string with_group(const std::string& group, const std::string& process_extra = "") {
  return R"({"name": "t", "duration": "1s", "processes": [{"name": "p", )" + process_extra +
         R"("workers": [)" + group + "]}]}";
}

TEST(Steps, ReadsEveryKindOfStep) {
  const auto sc = parse_ok(with_group(R"({"name": "g", "steps": [
      {"open": "db"}, {"open": "g1", "shared": true},
      {"loop": [
        {"try": [{"execute": "db", "sql": "SELECT 2"}, {"raise": "boom", "probability": 0.5},
                 {"commit": "db"}],
         "except": [{"rollback": "db"}, {"keep": "db"}],
         "finally": [{"open": "db"}]},
        {"execute": "g1"}, {"sleep": "20ms"}, {"dispose": true}, {"collect": true}]},
      {"close": "db", "after": "2s"}, {"open": "db"}, {"drop": "db", "after": "1s"},
      {"sleep": "process_end"}]})"));
  const auto& w = sc.processes[0].workers[0];
  EXPECT_EQ(w.pattern, kStepsPattern);
  ASSERT_EQ(w.steps.size(), 7u);
  EXPECT_TRUE(w.steps[1].shared);
  const auto& loop = w.steps[2];
  ASSERT_EQ(loop.op, Op::kLoop);
  ASSERT_EQ(loop.body[0].op, Op::kTry);
  EXPECT_EQ(loop.body[0].body[0].sql, "SELECT 2");
  EXPECT_DOUBLE_EQ(loop.body[0].body[1].probability, 0.5);
  EXPECT_EQ(loop.body[0].body[1].message, "boom");
  EXPECT_EQ(loop.body[0].handler.size(), 2u);
  EXPECT_EQ(loop.body[0].cleanup[0].op, Op::kOpen);
  EXPECT_EQ(loop.body[2].sleep->applied, std::chrono::milliseconds{20});
  EXPECT_EQ(w.steps[3].after->applied, std::chrono::seconds{2});
  EXPECT_FALSE(w.steps[6].sleep.has_value());  // until the process ends
}

TEST(Steps, ReportsEveryProblemWithItsPointer) {
  const auto problems = problems_of(with_group(R"({"steps": [
      {"execute": "db"},
      {"open": "9x"},
      {"open": "db", "commit": "db"},
      {"loop": [{"loop": [{"open": "a"}]}]},
      {"loop": [{"try": [{"open": "b"}]}]},
      {"sleep": "forever"},
      {"raise": ""},
      {"dispose": false},
      {"open": "c", "probability": 2},
      {"execute": "c", "sql": " ; "},
      {"close": "c", "after": "soon"},
      {"wander": "c"},
      {"open": "d", "colour": "red"},
      "open"],
      "options": {}})"));
  const auto all = dump(problems);
  const std::string g = "/processes/0/workers/0";
  EXPECT_TRUE(has_problem(problems, g + "/steps/0/execute", "used before any step opens it"))
      << all;
  EXPECT_TRUE(has_problem(problems, g + "/steps/1/open", "must start with a letter")) << all;
  EXPECT_TRUE(has_problem(problems, g + "/steps/2/commit", "a step does one thing")) << all;
  EXPECT_TRUE(has_problem(problems, g + "/steps/3/loop/0/loop", "top level")) << all;
  EXPECT_TRUE(has_problem(problems, g + "/steps/4/loop", "one unit-of-work loop")) << all;
  EXPECT_TRUE(has_problem(problems, g + "/steps/4/loop/0/try", "needs \"except\"")) << all;
  EXPECT_TRUE(has_problem(problems, g + "/steps/5/sleep", "")) << all;
  EXPECT_TRUE(has_problem(problems, g + "/steps/6/raise", "1 to 200 characters")) << all;
  EXPECT_TRUE(has_problem(problems, g + "/steps/7/dispose", "must be true")) << all;
  EXPECT_TRUE(has_problem(problems, g + "/steps/8/probability", "from 0 to 1")) << all;
  EXPECT_TRUE(has_problem(problems, g + "/steps/9/sql", "must not be empty")) << all;
  EXPECT_TRUE(has_problem(problems, g + "/steps/10/after", "")) << all;
  EXPECT_TRUE(has_problem(problems, g + "/steps/11", "must name what it does")) << all;
  EXPECT_TRUE(has_problem(problems, g + "/steps/12/colour", "unknown key")) << all;
  EXPECT_TRUE(has_problem(problems, g + "/steps/13", "must be an object")) << all;
  EXPECT_TRUE(has_problem(problems, g + "/options", "belong to a built-in pattern")) << all;
}

TEST(Steps, APatternOrStepsNotBothNorNeither) {
  auto problems = problems_of(with_group(R"({"pattern": "scoped", "steps": [{"open": "a"}]})"));
  EXPECT_TRUE(has_problem(problems, "/processes/0/workers/0/steps", "not both")) << dump(problems);
  problems = problems_of(with_group(R"({"count": 2})"));
  EXPECT_TRUE(has_problem(problems, "/processes/0/workers/0/pattern", "is required"))
      << dump(problems);
  problems = problems_of(with_group(R"({"pattern": "steps"})"));
  EXPECT_TRUE(has_problem(problems, "/processes/0/workers/0/pattern", "\"steps\": [...]"))
      << dump(problems);
  problems = problems_of(with_group(R"({"steps": []})"));
  EXPECT_TRUE(has_problem(problems, "/processes/0/workers/0/steps", "non-empty array"))
      << dump(problems);
}

// Python's `except: pass` is "except": [] (handled, nothing done); an
// empty try body or finally is still refused, as Python refuses them.
TEST(Steps, AnEmptyExceptIsExceptPass) {
  const auto sc = parse_ok(
      with_group(R"({"steps": [{"open": "db"}, {"try": [{"close": "db"}], "except": []}]})"));
  const auto& t = sc.processes[0].workers[0].steps[1];
  EXPECT_TRUE(t.catches);
  EXPECT_TRUE(t.handler.empty());
  const auto problems = problems_of(with_group(
      R"({"steps": [{"open": "db"}, {"try": [], "except": []},
                    {"try": [{"close": "db"}], "finally": []}]})"));
  EXPECT_TRUE(has_problem(problems, "/processes/0/workers/0/steps/1/try", "non-empty"))
      << dump(problems);
  EXPECT_TRUE(has_problem(problems, "/processes/0/workers/0/steps/2/finally", "non-empty"))
      << dump(problems);
}

TEST(Steps, AGroupHasABoundedNumberOfSteps) {
  std::string many;
  for (size_t i = 0; i <= kMaxSteps; ++i) {
    many += std::string{many.empty() ? "" : ", "} + R"({"collect": true})";
  }
  const auto problems = problems_of(with_group(R"({"steps": [)" + many + "]}"));
  EXPECT_TRUE(has_problem(problems, "/processes/0/workers/0/steps/256", "at most 256"))
      << dump(problems);
}

// Every built-in pattern's documented twin is valid steps.
TEST(Steps, EveryBuiltInPatternHasATwinThatParses) {
  for (const auto& p : workload::PatternRegistry::builtin().all()) {
    ASSERT_FALSE(p.twin.empty()) << p.name;
    const auto pool = p.twin_null_pool ? R"("pool": {"poolclass": "NullPool"}, )" : "";
    const auto sc = parse_ok(with_group(R"({"steps": )" + p.twin + "}", pool));
    EXPECT_FALSE(sc.processes[0].workers[0].steps.empty()) << p.name;
    EXPECT_EQ(sc.processes[0].pool.null_pool, p.twin_null_pool) << p.name;
  }
}

TEST(Lifecycle, ReadsExitCrashAndRestart) {
  const auto sc = parse_ok(
      with_group(R"({"pattern": "scoped"})",
                 R"("lifecycle": {"end": "crash", "at": "30s", "restart_after": "5s"}, )"));
  const auto& l = *sc.processes[0].lifecycle;
  EXPECT_EQ(l.end, Lifecycle::End::kCrash);
  EXPECT_EQ(l.at->applied, std::chrono::seconds{30});
  EXPECT_EQ(l.restart_after->applied, std::chrono::seconds{5});
  const auto units = parse_ok(with_group(R"({"pattern": "scoped"})",
                                         R"("lifecycle": {"end": "exit", "after_units": 7}, )"));
  EXPECT_EQ(units.processes[0].lifecycle->after_units, 7);
  EXPECT_FALSE(units.processes[0].lifecycle->restart_after);
}

TEST(Lifecycle, RefusesWhatItCannotRun) {
  const auto p = "/processes/0/lifecycle";
  auto problems =
      problems_of(with_group(R"({"pattern": "scoped"})", R"("lifecycle": {"end": "vanish"}, )"));
  EXPECT_TRUE(has_problem(problems, std::string{p} + "/end", "\"exit\"")) << dump(problems);
  EXPECT_TRUE(has_problem(problems, p, "needs \"at\"")) << dump(problems);
  problems =
      problems_of(with_group(R"({"pattern": "scoped"})",
                             R"("lifecycle": {"end": "exit", "at": "1s", "after_units": 3}, )"));
  EXPECT_TRUE(has_problem(problems, std::string{p} + "/after_units", "not both")) << dump(problems);
  problems = problems_of(
      with_group(R"({"pattern": "scoped"})", R"("pool": {"poolclass": "SingletonThreadPool"}, )"));
  EXPECT_TRUE(has_problem(problems, "/processes/0/pool/poolclass", "NullPool")) << dump(problems);
}

}  // namespace
}  // namespace pgleak::scenario

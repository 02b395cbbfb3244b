// Inputs written to break pgleak: each must be refused with its pointer (or
// read safely), never crash, hang or run. The corpus under tests/data/hostile
// does the same through the real binary (tests/integration/hostile_corpus_test.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "db/conninfo.hpp"
#include "scenario/loader.hpp"
#include "util/duration.hpp"
#include "util/errors.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::scenario {
namespace {

using namespace std::chrono_literals;

std::vector<Problem> problems_of(const std::string& text, LoadOptions options = {}) {
  try {
    parse(text, "hostile.json", workload::PatternRegistry::builtin().catalog(), options);
  } catch (const ScenarioError& e) {
    return e.problems();
  }
  ADD_FAILURE() << "expected the scenario to be rejected: " << text.substr(0, 200);
  return {};
}

::testing::AssertionResult has_problem(const std::vector<Problem>& problems,
                                       const std::string& pointer, const std::string& fragment) {
  std::string all;
  for (const auto& p : problems) {
    if (p.pointer == pointer && p.message.find(fragment) != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
    all += p.pointer + ": " + p.message + "\n";
  }
  return ::testing::AssertionFailure() << "no \"" << fragment << "\" at " << pointer << " in:\n"
                                       << all;
}

std::string with(const std::string& top, const std::string& worker = R"("pattern": "scoped")") {
  return R"({"name": "h", "duration": "10s", )" + top +
         R"( "processes": [{"name": "p", "workers": [{)" + worker + "}]}]}";
}

TEST(HostileScenario, HugeNameIsRefusedByLengthNotByARecursiveRegex) {
  const std::string name(50'000, 'a');
  EXPECT_TRUE(has_problem(problems_of(R"({"name": ")" + name + R"(", "duration": "1s",
    "processes": [{"name": "p", "workers": [{"pattern": "scoped"}]}]})"),
                          "/name", "at most 32 characters"));
  // A name that is long and also invalid must not take a regex engine down either.
  const std::string weird = std::string(50'000, 'a') + "!";
  const auto doc = R"({"name": ")" + weird + R"(", "duration": "1s", "processes": [{"name": ")" +
                   weird + R"(", "workers": [{"pattern": "scoped", "name": ")" + weird +
                   R"("}]}]})";
  const auto problems = problems_of(doc);
  EXPECT_TRUE(has_problem(problems, "/name", "at most 32"));
  EXPECT_TRUE(has_problem(problems, "/processes/0/name", "at most 32"));
  EXPECT_TRUE(has_problem(problems, "/processes/0/workers/0/name", "at most 32"));
}

TEST(HostileScenario, DuplicateKeysAreReportedWithTheirPointer) {
  const auto problems = problems_of(R"({"name": "a", "name": "b", "duration": "1s",
    "processes": [{"name": "p", "workers": [{"pattern": "scoped", "count": 1, "count": 9}]}]})");
  EXPECT_TRUE(has_problem(problems, "/name", "duplicate key"));
  EXPECT_TRUE(has_problem(problems, "/processes/0/workers/0/count", "duplicate key"));
}

TEST(HostileScenario, PointersAreEscapedAsRfc6901Says) {
  const auto problems = problems_of(with(R"("a/b~c": 1, "expect": {"x/y": "== 0"},)"));
  EXPECT_TRUE(has_problem(problems, "/a~1b~0c", "unknown key"));
  EXPECT_TRUE(has_problem(problems, "/expect/x~1y", "unknown metric"));
}

TEST(HostileScenario, DeepNestingIsRefusedBeforeATreeIsBuilt) {
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  const auto problems = problems_of(R"({"name": "h", "description": )" + deep + "}");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].message.find("nested deeper than"), std::string::npos);
}

TEST(HostileScenario, TimeScaleMustBeFiniteAndKeepEveryDurationRunnable) {
  LoadOptions nan;
  nan.time_scale = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(has_problem(problems_of(with(""), nan), "/time_scale", "--time-scale"));
  LoadOptions inf;
  inf.time_scale = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(has_problem(problems_of(with(""), inf), "/time_scale", "--time-scale"));
  // A 10-minute scenario at 1e-12 would apply as 0 s and pass without running.
  EXPECT_TRUE(has_problem(problems_of(R"({"name": "h", "duration": "10m", "time_scale": 1e-12,
    "processes": [{"name": "p", "workers": [{"pattern": "scoped"}]}]})"),
                          "/duration", "rounds to zero"));
  // 1200 days does not fit at any scale; 300 days at 100x would overflow.
  EXPECT_TRUE(has_problem(problems_of(R"({"name": "h", "duration": "1200d", "time_scale": 100,
    "processes": [{"name": "p", "workers": [{"pattern": "scoped"}]}]})"),
                          "/duration", "longest duration"));
  EXPECT_TRUE(has_problem(problems_of(R"({"name": "h", "duration": "300d", "time_scale": 100,
    "processes": [{"name": "p", "workers": [{"pattern": "scoped"}]}]})"),
                          "/duration", "longer than"));
  // Pattern options are durations like any other.
  EXPECT_TRUE(
      has_problem(problems_of(with(R"("time_scale": 1000,)",
                                   R"("pattern": "slow_statement", "options": {"sleep": "300d"})")),
                  "/processes/0/workers/0/options/sleep", "longer than"));
}

TEST(HostileScenario, IntegersPastInt64DoNotWrap) {
  const auto problems = problems_of(with(R"("pool": {"max_overflow": 18446744073709551615},)"));
  EXPECT_TRUE(has_problem(problems, "/pool/max_overflow", "must be <= 10000"));
  // 1e400 does not fit a double: invalid JSON, reported, never an internal error.
  EXPECT_TRUE(has_problem(problems_of(with(R"("time_scale": 1e400,)")), "", "number overflow"));
}

TEST(HostileScenario, ExpectNumbersOutOfRangeAreProblemsNotCrashes) {
  const std::string digits(400, '9');
  const auto problems = problems_of(with(R"("expect": {"peak_connections": "< 1e400",
    "pool_timeouts": "< )" + digits + R"(", "holders": "<= -5.5.5", "checkouts": "<="},)"));
  EXPECT_TRUE(has_problem(problems, "/expect/peak_connections", "comparison"));
  EXPECT_TRUE(has_problem(problems, "/expect/pool_timeouts", "between"));
  EXPECT_TRUE(has_problem(problems, "/expect/holders", "comparison"));
  EXPECT_TRUE(has_problem(problems, "/expect/checkouts", "comparison"));
}

TEST(HostileScenario, WorkerCountsAreSummedWideAndCheckedBeforeAnythingIsAllocated) {
  std::string groups;
  for (int i = 0; i < 22; ++i) {
    groups += std::string{i == 0 ? "" : ","} + R"({"pattern": "scoped", "name": "g)" +
              std::to_string(i) + R"(", "count": 10000})";
  }
  const auto problems = problems_of(R"({"name": "h", "duration": "1s",
    "processes": [{"name": "p", "replicas": 10000, "workers": [)" +
                                    groups + "]}]}");
  EXPECT_TRUE(has_problem(problems, "/processes", "2200000000 workers in all"));
}

TEST(HostileScenario, AbsurdArrivalRatesAreBounded) {
  EXPECT_TRUE(has_problem(problems_of(with("", R"("pattern": "scoped", "arrival_rate": "1e12/s")")),
                          "/processes/0/workers/0/arrival_rate", "at most 10000/s"));
  // 100/s is fine at scale 1, not at 0.001 (100,000/s applied).
  EXPECT_TRUE(has_problem(problems_of(with(R"("time_scale": 0.001,)",
                                           R"("pattern": "scoped", "arrival_rate": "100/s")")),
                          "/processes/0/workers/0/arrival_rate", "100000 arrivals per second"));
}

TEST(HostileScenario, CheckScalingNamesEachFailure) {
  EXPECT_FALSE(util::check_scaling(10s, 0.01));
  EXPECT_TRUE(util::check_scaling(10s, 0.0));
  EXPECT_TRUE(util::check_scaling(10s, -1));
  EXPECT_TRUE(util::check_scaling(1us, 0.1));
  EXPECT_FALSE(util::check_scaling(0us, 1e-12));  // zero stays zero
  EXPECT_TRUE(util::check_scaling(util::kMaxDuration, 2));
  // scale() clamps whatever it is given.
  EXPECT_EQ(util::ScaledDuration::scale(util::kMaxDuration, 1e300).applied, util::kMaxDuration);
  EXPECT_EQ(util::ScaledDuration::scale(10s, std::nan("")).applied.count(), 0);
}

}  // namespace
}  // namespace pgleak::scenario

namespace pgleak::db {
namespace {

std::string usage_error(const std::string& dsn) {
  try {
    ConnInfo::parse(dsn);
  } catch (const util::UsageError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a usage error";
  return {};
}

TEST(HostileDsn, ValuesLibpqChecksOnlyAtConnectAreUsageErrors) {
  EXPECT_NE(usage_error("postgresql://u@127.0.0.1:99999999/db").find("not a TCP port"),
            std::string::npos);
  EXPECT_NE(usage_error("host=h port=5432,0").find("not a TCP port"), std::string::npos);
  EXPECT_NE(usage_error("host=h sslmode=bogus").find("sslmode"), std::string::npos);
  EXPECT_NE(usage_error("host=h connect_timeout=soon").find("connect_timeout"), std::string::npos);
  EXPECT_NE(usage_error("host=h target_session_attrs=any-old").find("target_session_attrs"),
            std::string::npos);
  EXPECT_NO_THROW(ConnInfo::parse("host=a,b port=5432,"));
}

TEST(HostileDsn, AnUnparseableDsnIsNeverEchoed) {
  // libpq quotes the text around a mistake, which here is the password.
  for (const std::string dsn : {"postgresql://app:hunter2?x@host/db?no_such_parameter=1",
                                "host=h password=hun ter2", "host=h password=hunter2&x sslmode",
                                "postgresql://app:hunter2@[::1/db", "password='hunter2 user=x"}) {
    const auto why = usage_error(dsn);
    EXPECT_EQ(why.find("hunter2"), std::string::npos) << why;
    EXPECT_EQ(why.find("hun"), std::string::npos) << why;
  }
}

TEST(HostileDsn, RedactionMasksPasswordsInEveryFormAndExpandedDbnames) {
  // Passwords holding '?' and '&', in URL and keyword form.
  for (const std::string dsn : {"postgresql://app:Zq%3FXw%26Vy@h/db", "host=h password='Zq&Xw?Vy'",
                                "postgresql://h/db?password=Zq%26Vy&user=u"}) {
    const auto info = ConnInfo::parse(dsn);
    EXPECT_TRUE(info.has_password()) << dsn;
    const auto shown = info.redacted();
    EXPECT_NE(shown.find("password=********"), std::string::npos) << shown;
    EXPECT_EQ(shown.find("Zq"), std::string::npos) << shown;
    EXPECT_EQ(shown.find("Vy"), std::string::npos) << shown;
  }
  const auto expanded = ConnInfo::parse("dbname='postgresql://u:s3cr3t@h/db'");
  EXPECT_EQ(expanded.redacted().find("s3cr3t"), std::string::npos) << expanded.redacted();
  // Found by the DSN fuzzer: a URL query pasted into a keyword DSN.
  const auto pasted = ConnInfo::parse("host=/t?password=s3cr3t");
  EXPECT_EQ(pasted.redacted().find("s3cr3t"), std::string::npos) << pasted.redacted();
}

TEST(HostileDsn, OverlongOrNulDsnsAreRefused) {
  EXPECT_NE(usage_error(std::string(10'000, 'h')).find("longer than"), std::string::npos);
  EXPECT_NE(usage_error(std::string("host=h\0password=x", 17)).find("NUL"), std::string::npos);
}

}  // namespace
}  // namespace pgleak::db

#include "util/duration.hpp"

#include <gtest/gtest.h>

#include "util/coarse_clock.hpp"

namespace pgleak::util {
namespace {

using namespace std::chrono_literals;

TEST(Duration, ParsesEveryUnit) {
  EXPECT_EQ(parse_duration("500us", nullptr), Micros{500});
  EXPECT_EQ(parse_duration("250ms", nullptr), Micros{250'000});
  EXPECT_EQ(parse_duration("1.5s", nullptr), Micros{1'500'000});
  EXPECT_EQ(parse_duration("10m", nullptr), Micros{600'000'000});
  EXPECT_EQ(parse_duration("1h", nullptr), Micros{3'600'000'000});
  EXPECT_EQ(parse_duration("0s", nullptr), Micros{0});
}

TEST(Duration, RejectsMissingOrUnknownUnitsWithAReason) {
  std::string why;
  EXPECT_FALSE(parse_duration("30", &why));
  EXPECT_NE(why.find("needs a unit"), std::string::npos) << why;
  EXPECT_FALSE(parse_duration("30sec", &why));
  EXPECT_NE(why.find("unknown unit"), std::string::npos) << why;
  EXPECT_FALSE(parse_duration("-1s", &why));
  EXPECT_FALSE(parse_duration("s", &why));
  EXPECT_FALSE(parse_duration("", &why));
  EXPECT_FALSE(parse_duration("1.2.3s", &why));
}

TEST(Duration, FormatsReadably) {
  EXPECT_EQ(format_duration(250ms), "250ms");
  EXPECT_EQ(format_duration(1500ms), "1.5s");
  EXPECT_EQ(format_duration(10min), "10m");
  EXPECT_EQ(format_duration(2h), "2h");
  EXPECT_EQ(format_duration(Micros{0}), "0s");
}

TEST(Duration, ScalesByTimeScale) {
  const auto d = ScaledDuration::scale(60s, 0.01);
  EXPECT_EQ(d.nominal, 60s);
  EXPECT_EQ(d.applied, 600ms);
  EXPECT_EQ(ScaledDuration::scale(900s, 0.02).applied, 18s);
}

}  // namespace
}  // namespace pgleak::util

namespace pgleak::util {
namespace {

// util::coarse_now() is steady_clock's own clock read from the last tick:
// never ahead of it, and behind by at most a tick (1-4 ms; 20 ms allowed).
TEST(CoarseClock, IsTheSteadyClockAtMostATickBehind) {
  for (int i = 0; i < 1000; ++i) {
    const auto before = std::chrono::steady_clock::now();
    const auto coarse = coarse_now();
    const auto after = std::chrono::steady_clock::now();
    ASSERT_LE(coarse, after);
    ASSERT_GT(coarse, before - std::chrono::milliseconds{20});  // however long it was preempted
  }
}

}  // namespace
}  // namespace pgleak::util

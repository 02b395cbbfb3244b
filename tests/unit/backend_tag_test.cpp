#include "scenario/backend_tag.hpp"

#include <gtest/gtest.h>

namespace pgleak::scenario {
namespace {

TEST(BackendTag, RoundTrips) {
  const BackendTag tag{"dispatching_api", "k3x9q2", "route_builder_launcher", 24, "outside_loop"};
  EXPECT_EQ(tag.str(), "dispatching_api/k3x9q2/route_builder_launcher.24/outside_loop");
  const auto parsed = BackendTag::parse(tag.str());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->process, "route_builder_launcher");
  EXPECT_EQ(parsed->replica, 24);
  EXPECT_EQ(parsed->pattern, "outside_loop");
  EXPECT_EQ(parsed->run_id, "k3x9q2");
}

TEST(BackendTag, MarkersMatchTheRunAndOneProcessOnly) {
  const BackendTag tag{"pgleak", "k3x9q2", "launcher", 3, "scoped"};
  EXPECT_NE(tag.str().find(BackendTag::run_marker("k3x9q2")), std::string::npos);
  EXPECT_NE(tag.str().find(BackendTag::process_marker("k3x9q2", "launcher")), std::string::npos);
  EXPECT_EQ(tag.str().find(BackendTag::process_marker("k3x9q2", "launch")), std::string::npos);
  EXPECT_EQ(tag.str().find(BackendTag::run_marker("k3x9q3")), std::string::npos);
}

TEST(BackendTag, RejectsOtherApplicationNames) {
  EXPECT_FALSE(BackendTag::parse("psql"));
  EXPECT_FALSE(BackendTag::parse("a/short/p.0/x"));
  EXPECT_FALSE(BackendTag::parse("a/abcdef/p.x/scoped"));
  EXPECT_FALSE(BackendTag::parse("a/abcdef/p/scoped"));
}

}  // namespace
}  // namespace pgleak::scenario

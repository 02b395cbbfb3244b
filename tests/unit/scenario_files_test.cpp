// Every scenario pgleak ships must validate; the invalid fixtures must not.
#include <gtest/gtest.h>

#include <filesystem>

#include "scenario/loader.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::scenario {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> json_files(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator{dir}) {
    if (e.path().extension() == ".json") {
      files.push_back(e.path());
    }
  }
  return files;
}

TEST(ScenarioFiles, ShippedScenariosAreValid) {
  const auto files = json_files(fs::path{PGLEAK_SOURCE_DIR} / "scenarios");
  ASSERT_GE(files.size(), 2u);
  for (const auto& f : files) {
    EXPECT_NO_THROW(load(f.string(), workload::PatternRegistry::builtin().catalog())) << f;
  }
}

TEST(ScenarioFiles, IncidentBeforeCanExceedTheServerLimit) {
  const auto s = load(std::string{PGLEAK_SOURCE_DIR} + "/scenarios/incident-before.json",
                      workload::PatternRegistry::builtin().catalog());
  int launchers = 0;
  for (const auto& p : s.processes) {
    if (p.name == "route_builder_launcher") {
      launchers = p.replicas;
      EXPECT_EQ(p.pool.pool_size, 5);
      EXPECT_EQ(p.pool.max_overflow, 10);
    }
  }
  EXPECT_EQ(launchers, 25);
  EXPECT_EQ(s.server.max_connections, 100);
  EXPECT_LT(s.duration.applied, std::chrono::seconds{30});
}

TEST(ScenarioFiles, IncidentAfterUsesThePostmortemSettings) {
  const auto s = load(std::string{PGLEAK_SOURCE_DIR} + "/scenarios/incident-after.json",
                      workload::PatternRegistry::builtin().catalog());
  for (const auto& p : s.processes) {
    EXPECT_EQ(p.pool.pool_size, 3) << p.name;
    EXPECT_EQ(p.pool.max_overflow, 5) << p.name;
    EXPECT_EQ(p.pool.pool_timeout.nominal, std::chrono::seconds{10});
    EXPECT_EQ(p.pool.pool_recycle->nominal, std::chrono::seconds{900});
    EXPECT_TRUE(p.pool.pool_pre_ping);
    EXPECT_EQ(p.pool.connect.statement_timeout->nominal, std::chrono::seconds{30});
    EXPECT_EQ(p.pool.connect.idle_in_transaction_session_timeout->nominal,
              std::chrono::seconds{60});
    EXPECT_EQ(p.pool.connect.connect_timeout->nominal, std::chrono::seconds{10});
    EXPECT_EQ(p.pool.connect.application_name, "dispatching_api");
    EXPECT_EQ(p.replicas, 1) << p.name;
    for (const auto& w : p.workers) {
      EXPECT_EQ(w.pattern, "scoped") << p.name;
    }
  }
  EXPECT_LT(s.duration.applied, std::chrono::seconds{30});
}

TEST(ScenarioFiles, InvalidFixturesAreRejected) {
  const auto files = json_files(fs::path{PGLEAK_SOURCE_DIR} / "tests" / "data" / "invalid");
  ASSERT_FALSE(files.empty());
  for (const auto& f : files) {
    EXPECT_THROW(load(f.string(), workload::PatternRegistry::builtin().catalog()), ScenarioError)
        << f;
  }
}

}  // namespace
}  // namespace pgleak::scenario

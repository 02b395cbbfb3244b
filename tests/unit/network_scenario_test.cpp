// The scenario's network section and TCP settings (scenario/network_reader.cpp):
// what is read, and every problem reported with its JSON pointer.
#include <gtest/gtest.h>

#include "scenario/loader.hpp"
#include "scenario_problems.hpp"

namespace pgleak::scenario {
namespace {

using namespace std::chrono_literals;
using Action = NetworkFault::Action;

std::string with(const std::string& extra, double time_scale = 1.0) {
  return R"({"name": "n", "duration": "20s", "time_scale": )" + std::to_string(time_scale) +
         R"(, "processes": [{"name": "api", "workers": [{"pattern": "scoped"}]}])" + extra + "}";
}

TEST(NetworkScenario, FaultsAreReadInTimeOrderWithTheirScaledTimes) {
  const auto s = parse_ok(with(R"(, "network": {"faults": [
      {"at": "10s", "action": "half_open", "target": "api", "for": "2s"},
      {"at": "0s", "action": "blackhole", "for": "4s"},
      {"at": "6s", "action": "partition", "for": "1s"},
      {"at": "8s", "action": "reset"}]})",
                               0.5));
  ASSERT_EQ(s.network_faults.size(), 4u);
  EXPECT_TRUE(s.has_network());
  EXPECT_TRUE(s.needs_embedded_server());
  EXPECT_EQ(s.network_faults[0].action, Action::kBlackhole);
  EXPECT_EQ(s.network_faults[0].target, "all");
  EXPECT_EQ(s.network_faults[0].lasts->applied, 2s);
  EXPECT_EQ(s.network_faults[1].action, Action::kPartition);
  EXPECT_EQ(s.network_faults[2].action, Action::kReset);
  EXPECT_FALSE(s.network_faults[2].lasts);
  EXPECT_EQ(s.network_faults[3].action, Action::kHalfOpen);
  EXPECT_EQ(s.network_faults[3].target, "api");
  EXPECT_EQ(s.network_faults[3].at.nominal, 10s);
  EXPECT_EQ(s.network_faults[3].at.applied, 5s);
}

TEST(NetworkScenario, EveryProblemOfEveryFaultIsReportedWithItsPointer) {
  const auto p = problems_of(with(R"(, "network": {"faults": [
      {"action": "jam"},
      {"at": "1s", "action": "partition"},
      {"at": "1s", "action": "reset", "for": "2s"},
      {"at": "1s", "action": "blackhole", "target": "api"},
      {"at": "1s", "action": "half_open", "target": "nobody"},
      {"at": "1s", "action": "reset", "colour": "red"}]})"));
  EXPECT_TRUE(has_problem(p, "/network/faults/0/at", "is required")) << dump(p);
  EXPECT_TRUE(has_problem(p, "/network/faults/0/action", "must be blackhole, partition"))
      << dump(p);
  EXPECT_TRUE(has_problem(p, "/network/faults/1/for", "required for a partition")) << dump(p);
  EXPECT_TRUE(has_problem(p, "/network/faults/2/for", "has no \"for\"")) << dump(p);
  EXPECT_TRUE(has_problem(p, "/network/faults/3/target", "must be \"all\"")) << dump(p);
  EXPECT_TRUE(has_problem(p, "/network/faults/4/target", "neither \"all\" nor a process"))
      << dump(p);
  EXPECT_TRUE(has_problem(p, "/network/faults/5/colour", "unknown key")) << dump(p);
}

TEST(NetworkScenario, TheRelaysFaultsNeedNoNamespaceAndScaleTheirRate) {
  const auto s = parse_ok(with(R"(, "network": {"faults": [
      {"at": "2s", "action": "latency", "delay": "40ms", "jitter": "10ms", "for": "4s"},
      {"at": "3s", "action": "bandwidth", "rate": "64KB/s", "direction": "to_client"}]})",
                               0.5));
  EXPECT_TRUE(s.needs_relay());
  EXPECT_FALSE(s.needs_namespace());
  EXPECT_FALSE(s.needs_embedded_server());  // any target will do
  const auto& latency = s.network_faults[0];
  EXPECT_EQ(latency.delay->applied, 20ms);
  EXPECT_EQ(latency.jitter->applied, 5ms);
  EXPECT_EQ(latency.direction, NetworkFault::Direction::kBoth);
  const auto& bandwidth = s.network_faults[1];
  EXPECT_EQ(bandwidth.rate_nominal, 64'000);
  EXPECT_EQ(bandwidth.rate_applied, 128'000);  // half the time, so twice the rate
  EXPECT_EQ(bandwidth.direction, NetworkFault::Direction::kToClient);
}

TEST(NetworkScenario, EachActionTakesOnlyItsOwnFields) {
  const auto p = problems_of(with(R"(, "network": {"faults": [
      {"at": "1s", "action": "latency", "jitter": "5ms"},
      {"at": "1s", "action": "latency", "delay": "5ms", "jitter": "10ms"},
      {"at": "1s", "action": "bandwidth", "rate": "fast", "direction": "sideways"},
      {"at": "1s", "action": "bandwidth"},
      {"at": "1s", "action": "blackhole", "delay": "5ms", "rate": "1MB/s"},
      {"at": "1s", "action": "latency", "delay": "5ms", "target": "api"}]})"));
  EXPECT_TRUE(has_problem(p, "/network/faults/0/delay", "is required for latency")) << dump(p);
  EXPECT_TRUE(has_problem(p, "/network/faults/1/jitter", "must not exceed delay")) << dump(p);
  EXPECT_TRUE(has_problem(p, "/network/faults/2/rate", "must be a rate")) << dump(p);
  EXPECT_TRUE(has_problem(p, "/network/faults/2/direction", "both, to_server or to_client"))
      << dump(p);
  EXPECT_TRUE(has_problem(p, "/network/faults/3/rate", "required")) << dump(p);
  EXPECT_TRUE(has_problem(p, "/network/faults/4/delay", "blackhole has no \"delay\"")) << dump(p);
  EXPECT_TRUE(has_problem(p, "/network/faults/4/rate", "blackhole has no \"rate\"")) << dump(p);
  EXPECT_TRUE(has_problem(p, "/network/faults/5/target", "must be \"all\"")) << dump(p);
}

TEST(NetworkScenario, AFaultAtOrAfterTheRunsEndIsRefused) {
  // It would never happen, and the run would pass without it.
  const auto p = problems_of(with(R"(, "faults": [{"at": "25s", "action": "cancel_backends"}],
      "network": {"faults": [{"at": "20s", "action": "reset"},
                             {"at": "19s", "action": "latency", "delay": "5ms"}]})"));
  EXPECT_TRUE(has_problem(p, "/faults/0/at", "not before the end of the run (duration 20s)"))
      << dump(p);
  EXPECT_TRUE(has_problem(p, "/network/faults/0/at", "would never happen")) << dump(p);
  EXPECT_FALSE(has_problem(p, "/network/faults/1/at", "")) << dump(p);
}

TEST(NetworkScenario, AnEmptyNetworkSectionIsAProblemNotANoOp) {
  const auto p = problems_of(with(R"(, "network": {"faults": []})"));
  EXPECT_TRUE(has_problem(p, "/network/faults", "non-empty array")) << dump(p);
}

TEST(NetworkScenario, HalfOpenBehindPgBouncerIsRefused) {
  const auto p = problems_of(with(R"(, "pgbouncer": {"pool_mode": "transaction"},
      "network": {"faults": [{"at": "1s", "action": "half_open"}]})"));
  EXPECT_TRUE(has_problem(p, "/network/faults/0/action", "behind PgBouncer")) << dump(p);
}

TEST(NetworkScenario, KeepaliveSettingsAreReadForTheServerAndTheClients) {
  const auto s = parse_ok(with(R"(, "server": {"tcp_keepalives_idle": "2s",
      "tcp_keepalives_interval": "1s", "tcp_keepalives_count": 3, "tcp_user_timeout": "1500ms"},
      "pool": {"connect": {"keepalives": true, "keepalives_idle": "5s",
      "keepalives_interval": "2s", "keepalives_count": 4, "tcp_user_timeout": "3s"}})"));
  EXPECT_EQ(s.server.tcp_keepalives_idle->applied, 2s);
  EXPECT_EQ(s.server.tcp_keepalives_interval->applied, 1s);
  EXPECT_EQ(s.server.tcp_keepalives_count, 3);
  EXPECT_EQ(s.server.tcp_user_timeout->applied, 1500ms);
  const auto& c = s.processes[0].pool.connect;
  EXPECT_EQ(c.keepalives, true);
  EXPECT_EQ(c.keepalives_idle->applied, 5s);
  EXPECT_EQ(c.keepalives_interval->applied, 2s);
  EXPECT_EQ(c.keepalives_count, 4);
  EXPECT_EQ(c.tcp_user_timeout->applied, 3s);
  EXPECT_FALSE(s.has_network());
}

TEST(NetworkScenario, KeepaliveTimesThatScaleBelowASecondAreRefused) {
  // The kernel counts keepalive time in whole seconds: 10 s x 0.01 cannot be kept.
  const auto p = problems_of(with(R"(, "server": {"tcp_keepalives_idle": "10s",
      "tcp_keepalives_count": 0},
      "pool": {"connect": {"keepalives_interval": "50s", "tcp_user_timeout": "50us"}})",
                                  0.01));
  EXPECT_TRUE(has_problem(p, "/server/tcp_keepalives_idle", "whole seconds")) << dump(p);
  EXPECT_TRUE(has_problem(p, "/server/tcp_keepalives_count", "")) << dump(p);
  EXPECT_TRUE(has_problem(p, "/pool/connect/keepalives_interval", "whole seconds")) << dump(p);
  EXPECT_TRUE(has_problem(p, "/pool/connect/tcp_user_timeout", "whole milliseconds")) << dump(p);
}

}  // namespace
}  // namespace pgleak::scenario

// The scenario model's own answers (scenario.hpp); the loader fills it.
#include "scenario/scenario.hpp"

#include <algorithm>
#include <array>

namespace pgleak::scenario {

int PgBouncerSettings::server_connections() const {
  const int pool = default_pool_size + reserve_pool_size;
  return max_db_connections > 0 ? std::min(pool, max_db_connections) : pool;
}

std::string_view to_string(Fault::Action action) {
  switch (action) {
    case Fault::Action::kTerminateBackends:
      return "terminate_backends";
    case Fault::Action::kCancelBackends:
      return "cancel_backends";
    case Fault::Action::kRestartServer:
      return "restart_server";
  }
  return "terminate_backends";
}

namespace {
// The network faults' actions, as a scenario names them.
constexpr std::array<std::pair<NetworkFault::Action, std::string_view>, 4> kNetworkActions{{
    {NetworkFault::Action::kBlackhole, "blackhole"},
    {NetworkFault::Action::kPartition, "partition"},
    {NetworkFault::Action::kReset, "reset"},
    {NetworkFault::Action::kHalfOpen, "half_open"},
}};
}  // namespace

std::string_view to_string(NetworkFault::Action action) {
  for (const auto& [a, name] : kNetworkActions) {
    if (a == action) {
      return name;
    }
  }
  return "blackhole";
}

std::optional<NetworkFault::Action> network_action(std::string_view name) {
  for (const auto& [a, n] : kNetworkActions) {
    if (n == name) {
      return a;
    }
  }
  return std::nullopt;
}

bool Scenario::needs_embedded_server() const {
  return has_network() || std::any_of(faults.begin(), faults.end(), [](const Fault& f) {
           return f.action == Fault::Action::kRestartServer;
         });
}

int64_t Scenario::total_workers() const {
  // Each factor is bounded by validation (replicas and count <= 10,000), the
  // number of groups by the file size: a 64-bit sum cannot overflow.
  int64_t total = 0;
  for (const auto& p : processes) {
    for (const auto& w : p.workers) {
      total += int64_t{p.replicas} * w.count;
    }
  }
  return total;
}

}  // namespace pgleak::scenario

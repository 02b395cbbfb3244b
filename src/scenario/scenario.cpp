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
// The network faults, one row each: the action, its name, and whether the
// kernel makes it (else the relay).
struct NetworkActionRow {
  NetworkFault::Action action;
  std::string_view name;
  bool kernel;
};
constexpr std::array<NetworkActionRow, 6> kNetworkActions{{
    {NetworkFault::Action::kBlackhole, "blackhole", true},
    {NetworkFault::Action::kPartition, "partition", true},
    {NetworkFault::Action::kReset, "reset", true},
    {NetworkFault::Action::kHalfOpen, "half_open", true},
    {NetworkFault::Action::kLatency, "latency", false},
    {NetworkFault::Action::kBandwidth, "bandwidth", false},
}};

const NetworkActionRow& row_of(NetworkFault::Action action) {
  for (const auto& row : kNetworkActions) {
    if (row.action == action) {
      return row;
    }
  }
  return kNetworkActions.front();
}

}  // namespace

std::string_view to_string(NetworkFault::Action action) {
  return row_of(action).name;
}

bool kernel_fault(NetworkFault::Action action) {
  return row_of(action).kernel;
}

std::string_view to_string(NetworkFault::Direction direction) {
  switch (direction) {
    case NetworkFault::Direction::kToServer:
      return "to_server";
    case NetworkFault::Direction::kToClient:
      return "to_client";
    case NetworkFault::Direction::kBoth:
      break;
  }
  return "both";
}

std::optional<NetworkFault::Action> network_action(std::string_view name) {
  for (const auto& row : kNetworkActions) {
    if (row.name == name) {
      return row.action;
    }
  }
  return std::nullopt;
}

bool Scenario::needs_namespace() const {
  return std::any_of(network_faults.begin(), network_faults.end(),
                     [](const NetworkFault& f) { return kernel_fault(f.action); });
}

bool Scenario::needs_relay() const {
  return std::any_of(network_faults.begin(), network_faults.end(),
                     [](const NetworkFault& f) { return !kernel_fault(f.action); });
}

bool Scenario::needs_embedded_server() const {
  return needs_namespace() || std::any_of(faults.begin(), faults.end(), [](const Fault& f) {
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

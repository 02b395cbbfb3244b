// The scenario's network: its "network" section of faults the kernel makes
// (NetworkFault), and the TCP settings of the server ("server") and of the
// workers' libpq ("pool"."connect") that decide when a dead peer is noticed.
#include <fmt/format.h>

#include <algorithm>

#include "scenario/json_pointer.hpp"
#include "scenario/object_reader.hpp"
#include "util/rate.hpp"

namespace pgleak::scenario::detail {
namespace {

using nlohmann::json;
using Action = NetworkFault::Action;

// A keepalive time: the kernel counts it in whole seconds, at least 1, so a
// value that scales below 1 s cannot be honoured and is refused.
std::optional<ScaledDuration> whole_seconds(ObjectReader& r, const std::string& key) {
  auto d = r.duration(key, true);
  if (d && d->applied < std::chrono::seconds{1}) {
    r.problem(key, fmt::format("{} at time_scale {} applies as {}ms; the kernel counts keepalive "
                               "time in whole seconds (at least 1s): raise it or time_scale",
                               util::format_duration(d->nominal), r.time_scale(),
                               d->applied.count() / 1000));
    return std::nullopt;
  }
  return d;
}

// tcp_user_timeout is whole milliseconds, and 0 means the kernel's default.
std::optional<ScaledDuration> user_timeout(ObjectReader& r, const std::string& key) {
  auto d = r.duration(key, true);
  if (d && d->applied < std::chrono::milliseconds{1}) {
    r.problem(key, fmt::format("applies as {}us at time_scale {}; tcp_user_timeout counts whole "
                               "milliseconds, and 0 would switch it off",
                               d->applied.count(), r.time_scale()));
    return std::nullopt;
  }
  return d;
}

bool is_process(const Scenario& s, const std::string& name) {
  return std::any_of(s.processes.begin(), s.processes.end(),
                     [&](const ProcessSpec& p) { return p.name == name; });
}

// What the relay's faults take (delay, jitter, rate, direction); refused on
// the kernel's, which have none of them.
void read_relay_fields(ObjectReader& fr, NetworkFault& f) {
  const bool latency = f.action == Action::kLatency;
  const bool bandwidth = f.action == Action::kBandwidth;
  for (const auto& [key, applies] :
       {std::pair{"delay", latency}, std::pair{"jitter", latency}, std::pair{"rate", bandwidth},
        std::pair{"direction", latency || bandwidth}}) {
    if (!applies && fr.find(key) != nullptr) {  // found, so not also an unknown key
      fr.problem(key, fmt::format("{} has no \"{}\"", to_string(f.action), key));
    }
  }
  if (latency) {
    f.delay = fr.duration("delay");
    f.jitter = fr.duration("jitter");
    if (!f.delay && !fr.has("delay")) {
      fr.problem("delay", "is required for latency (one way, e.g. \"40ms\")");
    } else if (f.delay && f.jitter && f.jitter->applied > f.delay->applied) {
      fr.problem("jitter", "must not exceed delay (a chunk is never held less than 0)");
    }
  }
  if (bandwidth) {
    if (auto text = fr.string("rate", true)) {
      std::string why;
      if (auto rate = util::parse_rate(*text, &why)) {
        f.rate_nominal = *rate;
        f.rate_applied =
            std::clamp<int64_t>(static_cast<int64_t>(static_cast<double>(*rate) / fr.time_scale()),
                                1, int64_t{100'000'000'000});
      } else {
        fr.problem("rate", why);
      }
    }
  }
  if (auto way = fr.string("direction")) {
    if (*way == "to_server") {
      f.direction = NetworkFault::Direction::kToServer;
    } else if (*way == "to_client") {
      f.direction = NetworkFault::Direction::kToClient;
    } else if (*way != "both") {
      fr.problem("direction", "must be both, to_server or to_client");
    }
  }
}

NetworkFault read_fault(ObjectReader& fr, const Scenario& s) {
  NetworkFault f;
  f.at = read_fault_at(fr, s);
  if (auto action = fr.string("action", true)) {
    if (auto a = network_action(*action)) {
      f.action = *a;
    } else {
      fr.problem("action", "must be blackhole, partition, reset, half_open, latency or bandwidth");
    }
  }
  f.lasts = fr.duration("for", true);
  if (f.action == Action::kPartition && !f.lasts && !fr.has("for")) {
    fr.problem("for",
               "is required for a partition (how long until it heals, e.g. \"5s\"); a "
               "network that never heals is a blackhole");
  }
  if (f.action == Action::kReset && fr.has("for")) {
    fr.problem("for", "a reset is one moment: it has no \"for\"");
  }
  if (f.action == Action::kHalfOpen && s.pgbouncer) {
    fr.problem("action",
               "half_open is a client that vanishes; behind PgBouncer the server's "
               "client is PgBouncer, which does not: use blackhole, partition or reset");
  }
  read_relay_fields(fr, f);
  f.target = fr.string("target").value_or("all");
  const bool per_connection = f.action == Action::kReset || f.action == Action::kHalfOpen;
  if (f.target != "all" && !per_connection) {
    fr.problem("target", fmt::format("{} acts on the whole network to the server, new connects "
                                     "included: target must be \"all\"",
                                     to_string(f.action)));
  } else if (f.target != "all" && !is_process(s, f.target)) {
    fr.problem("target", fmt::format("\"{}\" is neither \"all\" nor a process of this scenario",
                                     excerpt(f.target)));
  }
  return f;
}

}  // namespace

ScaledDuration read_fault_at(ObjectReader& fr, const Scenario& s) {
  const auto at = fr.duration("at");
  if (!at) {
    if (!fr.has("at")) {
      fr.problem("at", "is required (when, from the start of the run, e.g. \"10s\")");
    }
    return {};
  }
  if (s.duration.nominal.count() > 0 && at->nominal >= s.duration.nominal) {
    fr.problem("at", fmt::format("{} is not before the end of the run (duration {}): the fault "
                                 "would never happen",
                                 util::format_duration(at->nominal),
                                 util::format_duration(s.duration.nominal)));
  }
  return *at;
}

void read_network(ObjectReader& r, Scenario& s) {
  const json* faults = r.find("faults");
  if (faults == nullptr || !faults->is_array() || faults->empty()) {
    r.problem("faults", "must be a non-empty array of network faults");
    return;
  }
  for (size_t i = 0; i < faults->size(); ++i) {
    auto fr = r.child((*faults)[i], fmt::format("/network/faults/{}", i));
    s.network_faults.push_back(read_fault(fr, s));
  }
  std::stable_sort(
      s.network_faults.begin(), s.network_faults.end(),
      [](const NetworkFault& a, const NetworkFault& b) { return a.at.applied < b.at.applied; });
}

void read_server_tcp(ObjectReader& r, ServerSettings& server) {
  server.tcp_keepalives_idle = whole_seconds(r, "tcp_keepalives_idle");
  server.tcp_keepalives_interval = whole_seconds(r, "tcp_keepalives_interval");
  server.tcp_keepalives_count = r.integer("tcp_keepalives_count", 1, 127);
  server.tcp_user_timeout = user_timeout(r, "tcp_user_timeout");
}

void read_client_tcp(ObjectReader& r, ConnectArgs& args) {
  if (auto on = r.boolean("keepalives")) {
    args.keepalives = on;
  }
  if (auto d = whole_seconds(r, "keepalives_idle")) {
    args.keepalives_idle = d;
  }
  if (auto d = whole_seconds(r, "keepalives_interval")) {
    args.keepalives_interval = d;
  }
  if (auto n = r.integer("keepalives_count", 1, 127)) {
    args.keepalives_count = n;
  }
  if (auto d = user_timeout(r, "tcp_user_timeout")) {
    args.tcp_user_timeout = d;
  }
}

}  // namespace pgleak::scenario::detail

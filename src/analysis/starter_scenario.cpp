#include "analysis/starter_scenario.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>

namespace pgleak::analysis {
namespace {

using nlohmann::json;

// The capture is replayed in about this many seconds.
constexpr double kReplaySeconds = 20;
// Held sessions are started in at most this many groups, by when they began.
constexpr size_t kMaxHeldGroups = 8;

// A capture's times, as a scenario duration (clamped to a year: a capture
// is a file anyone may have written).
std::string seconds(double s) {
  const double ms = std::clamp(std::isfinite(s) ? s * 1000 : 0.0, 0.0, 3.2e10);
  return fmt::format("{}ms", static_cast<int64_t>(std::llround(ms)));
}

// Connections opened together and then kept idle by the pool: each worker
// holds a transaction a moment (so that all are out at once), gives it back
// and waits for the end.
json idle_connections(int count) {
  return {{"name", "pooled"},
          {"count", count},
          {"steps", json::array({{{"open", "db"}},
                                 {{"execute", "db"}},
                                 {{"sleep", "2s"}},
                                 {{"close", "db"}},
                                 {{"sleep", "process_end"}}})}};
}

// The held sessions, in groups by when they began: each worker opens its
// session at that time and leaves its transaction open (outside_loop).
json held_groups(const AppDiagnosis& a, double span) {
  json groups = json::array();
  const double width = std::max(span, 1.0) / kMaxHeldGroups;
  std::map<size_t, std::pair<double, int>> buckets;  // bucket -> first start, count
  for (const auto& h : a.held) {
    const auto since = std::max(0.0, h.since_s);
    const auto b = std::min(kMaxHeldGroups - 1, static_cast<size_t>(since / width));
    auto& [first, n] = buckets.try_emplace(b, since, 0).first->second;
    first = std::min(first, since);
    ++n;
  }
  for (const auto& [b, bucket] : buckets) {
    groups.push_back({{"name", fmt::format("held-{}", b)},
                      {"pattern", "outside_loop"},
                      {"count", bucket.second},
                      {"start_after", seconds(bucket.first)},
                      {"think_time", "1s"}});
  }
  return groups;
}

// The time between the starts of a duplicated application's replicas: the
// capture's median gap between its groups, at most a year (a capture is a
// file anyone may have written).
double start_interval_s(const AppDiagnosis& a) {
  return std::isfinite(a.group_gap_s) ? std::clamp(a.group_gap_s, 0.0, 3.2e7) : 0.0;
}

json process_for(const AppDiagnosis& a, const std::string& name, double span) {
  if (a.duplicates()) {
    return {{"name", name},
            {"description", fmt::format("{}: {} processes of {} pooled connections", a.application,
                                        a.start_groups, a.group_size)},
            {"replicas", a.start_groups},
            {"start_interval", seconds(start_interval_s(a))},
            {"pool", {{"pool_size", a.group_size}, {"max_overflow", 0}}},
            {"workers", json::array({idle_connections(a.group_size)})}};
  }
  auto workers = held_groups(a, span);
  const int held = static_cast<int>(a.held.size());
  const int rest = std::max(0, a.peak - held);
  if (rest > 0 || workers.empty()) {
    workers.push_back(idle_connections(std::max(rest, 1)));
  }
  return {{"name", name},
          {"description", a.application},
          {"pool", {{"pool_size", std::max(held + rest, 1)}, {"max_overflow", 0}}},
          {"workers", workers}};
}

// How long a replay takes to start every replica of the duplicated
// applications, start_interval apart. The capture saw them all open at once
// for the whole of its span (it may have begun long after they started), so
// the replay lasts this long and then the span.
double replicas_ramp_s(const CaptureDiagnosis& d) {
  double ramp = 0;
  for (const auto& a : d.apps) {
    if (a.peak > 0 && a.duplicates()) {
      ramp = std::max(ramp, (a.start_groups - 1) * start_interval_s(a));
    }
  }
  return std::min(ramp, 3.2e7);
}

std::string description_of(const CaptureDiagnosis& d) {
  std::string text = fmt::format(
      "Diagnosed from a capture of {:.0f}s ({} snapshots) of PostgreSQL {} with "
      "max_connections {}. Inferred: one process per application (replicas where its "
      "connections opened in groups, each started as far after the last as they were; the "
      "replay lasts as long as the capture once all have started), pool sizes from the "
      "connections each held at its peak, "
      "sessions held idle in transaction from when they began. Assumed: SQLAlchemy's QueuePool "
      "with max_overflow 0; the held sessions are sessions used outside a loop and never "
      "committed (outside_loop); the rest of each application's connections are opened "
      "together and then kept idle by its pool.",
      d.span_s, d.snapshots, d.server.server_version, d.server.max_connections);
  return text;
}

}  // namespace

std::string identifier_for(const std::string& text, std::map<std::string, int>& taken) {
  std::string id;
  for (const char c : text) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
    id.push_back(ok ? c : '-');
  }
  if (id.empty() || std::isalpha(static_cast<unsigned char>(id[0])) == 0) {
    id = "app-" + id;
  }
  id.resize(std::min<size_t>(id.size(), 28));
  const int n = taken[id]++;
  return n == 0 ? id : fmt::format("{}-{}", id, n + 1);
}

StarterScenario starter_scenario(const CaptureDiagnosis& d, const std::string& name) {
  StarterScenario out;
  const double span = std::max(10.0, std::ceil(d.span_s + replicas_ramp_s(d)));
  const double time_scale = std::min(1.0, kReplaySeconds / span);
  const auto applied_ms = span * time_scale * 1000;
  std::map<std::string, int> taken;
  json processes = json::array();
  for (const auto& a : d.apps) {
    if (a.peak == 0) {
      continue;
    }
    const auto process = identifier_for(a.application, taken);
    out.process_of[a.application] = process;
    processes.push_back(process_for(a, process, d.span_s));
  }
  out.scenario = {
      {"name", name},
      {"description", description_of(d)},
      {"duration", seconds(span)},
      {"time_scale", time_scale},
      {"sample_interval",
       fmt::format("{}ms", std::max<int64_t>(100, std::llround(applied_ms / 150)))},
      {"leak_threshold", seconds(std::max(5.0, span / 4))},
      {"server",
       {{"max_connections", std::max(d.server.max_connections, 1)},
        {"superuser_reserved_connections", std::min(d.server.superuser_reserved_connections,
                                                    std::max(d.server.max_connections, 1) - 1)}}},
      {"processes", processes}};
  return out;
}

}  // namespace pgleak::analysis

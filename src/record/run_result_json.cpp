#include "record/run_result_json.hpp"

#include <algorithm>

#include "record/record_json.hpp"
#include "util/duration.hpp"

namespace pgleak::record {
namespace {

using nlohmann::json;

// Every field of PoolStats "stats" holds, once: both directions read it.
struct StatsField {
  const char* name;
  int PoolStats::*count;       // a current count, or
  uint64_t PoolStats::*total;  // a running total
  bool added_later = false;    // reports written before it lack it: 0 then
};
constexpr StatsField kStatsFields[] = {
    {"checked_out", &PoolStats::checked_out, nullptr},
    {"idle", &PoolStats::idle, nullptr},
    {"overflow", &PoolStats::overflow, nullptr},
    {"open", &PoolStats::open, nullptr},
    {"checkouts", nullptr, &PoolStats::checkouts},
    {"checkins", nullptr, &PoolStats::checkins},
    {"timeouts", nullptr, &PoolStats::timeouts},
    {"connects", nullptr, &PoolStats::connects},
    {"connect_failures", nullptr, &PoolStats::connect_failures},
    {"closes", nullptr, &PoolStats::closes},
    {"overflow_closed", nullptr, &PoolStats::overflow_closed},
    {"recycled", nullptr, &PoolStats::recycled},
    {"invalidated", nullptr, &PoolStats::invalidated},
    {"pre_pings", nullptr, &PoolStats::pre_pings},
    {"pre_ping_failures", nullptr, &PoolStats::pre_ping_failures},
    {"reset_failures", nullptr, &PoolStats::reset_failures},
    {"disposals", nullptr, &PoolStats::disposals},
    {"leak_warnings", nullptr, &PoolStats::leak_warnings, true},
    {"retired_out", &PoolStats::retired_out, nullptr},
    {"retired_idle", &PoolStats::retired_idle, nullptr},
};

}  // namespace

std::string_view to_string(RunStatus status) {
  switch (status) {
    case RunStatus::kCompleted:
      return "completed";
    case RunStatus::kInterrupted:
      return "interrupted";
    case RunStatus::kTargetLost:
      return "target_lost";
    case RunStatus::kAborted:
      return "aborted";
  }
  return "completed";
}

std::optional<RunStatus> run_status_from_string(std::string_view text) {
  for (const auto st : {RunStatus::kCompleted, RunStatus::kInterrupted, RunStatus::kTargetLost,
                        RunStatus::kAborted}) {
    if (to_string(st) == text) {
      return st;
    }
  }
  return std::nullopt;
}

json histogram_json(const util::LatencyHistogram& h) {
  const auto b = h.buckets();
  json buckets = json::array();
  for (const auto& [bucket, n] : b.counts) {
    buckets.push_back({bucket, n});
  }
  return {{"max_us", b.max.count()}, {"buckets", std::move(buckets)}};
}

void add_histogram_json(util::LatencyHistogram& into, const json& j) {
  util::LatencyHistogram::Buckets b;
  b.max = util::Micros{j.at("max_us").get<int64_t>()};
  for (const auto& pair : j.at("buckets")) {
    b.counts.emplace_back(checked_int(pair.at(0)), pair.at(1).get<uint64_t>());
  }
  into.add_buckets(b);
}

json pool_stats_json(const PoolStats& s) {
  json out = json::object();
  for (const auto& f : kStatsFields) {
    out[f.name] = f.count != nullptr ? json(s.*f.count) : json(s.*f.total);
  }
  return out;
}

PoolStats pool_stats_from_json(const json& j) {
  PoolStats s;
  for (const auto& f : kStatsFields) {
    if (f.added_later && !j.contains(f.name)) {
      continue;
    }
    if (f.count != nullptr) {
      s.*f.count = checked_int(j.at(f.name));
    } else {
      s.*f.total = j.at(f.name).get<uint64_t>();
    }
  }
  return s;
}

json pool_outcome_json(const PoolOutcome& p) {
  return {{"process", p.process},
          {"replica", p.replica},
          {"held_at_end", p.outstanding},
          // Returns by pgleak's own clean-up once a process ended or the
          // scenario did (the held sessions), not counted in stats.checkins,
          // which are the application's.
          {"checkins_by_cleanup", p.stats.checkins_by_cleanup},
          {"stats", pool_stats_json(p.stats)}};
}

PoolOutcome pool_outcome_from_json(const json& j) {
  PoolOutcome p;
  p.process = j.at("process").get<std::string>();
  p.replica = checked_int(j.at("replica"));
  p.stats = pool_stats_from_json(j.at("stats"));
  p.stats.checkins_by_cleanup = j.at("checkins_by_cleanup").get<uint64_t>();
  p.outstanding = checked_int(j.at("held_at_end"));
  return p;
}

json load_outcome_json(const LoadOutcome& l) {
  json entry = {{"process", l.process},
                {"replica", l.replica},
                {"group", l.group},
                {"model", l.open_model ? "open" : "closed"}};
  if (l.open_model) {
    const auto& h = *l.start_delays;
    entry["arrivals"] = l.arrivals;
    entry["dropped"] = l.dropped;
    entry["start_delay_ms"] = {{"count", h.count()},
                               {"p50", util::to_millis(h.quantile(0.5))},
                               {"p95", util::to_millis(h.quantile(0.95))},
                               {"p99", util::to_millis(h.quantile(0.99))},
                               {"max", util::to_millis(h.max())}};
  }
  return entry;
}

LoadOutcome load_outcome_from_json(const json& j, const json& start_delays) {
  LoadOutcome l;
  l.process = j.at("process").get<std::string>();
  l.replica = checked_int(j.at("replica"));
  l.group = j.at("group").get<std::string>();
  l.open_model = j.at("model").get<std::string>() == "open";
  l.arrivals = j.value("arrivals", uint64_t{0});
  l.dropped = j.value("dropped", uint64_t{0});
  l.start_delays = std::make_shared<util::LatencyHistogram>();
  if (!start_delays.is_null()) {
    add_histogram_json(*l.start_delays, start_delays);
  }
  return l;
}

json network_fault_outcome_json(const NetworkFaultOutcome& f) {
  json lived = nullptr;
  if (!f.lived_s.empty()) {
    auto sorted = f.lived_s;
    std::sort(sorted.begin(), sorted.end());
    lived = {
        {"min", sorted.front()}, {"median", sorted[sorted.size() / 2]}, {"max", sorted.back()}};
  }
  return {{"action", f.action},
          {"target", f.target},
          {"began_s", f.began_s < 0 ? json(nullptr) : json(f.began_s)},
          {"ended_s", f.ended_s ? json(*f.ended_s) : json(nullptr)},
          {"cut_off", f.cut_off},
          {"ended_on_server", f.lived_s.size()},
          {"lived_s", lived},
          {"left", f.left},
          {"unchecked", f.unchecked},
          {"error", f.error.empty() ? json(nullptr) : json(f.error)}};
}

json holder_json(const Holder& h) {
  return {{"process", h.process},
          {"replica", h.replica},
          {"worker", h.worker},
          {"pattern", h.pattern},
          {"backend_pid", h.backend_pid},
          {"since_s", h.since_s},
          {"age_s", h.age_s},
          {"age_nominal_s", h.age_nominal_s}};
}

Holder holder_from_json(const json& j) {
  return {j.at("process").get<std::string>(), checked_int(j.at("replica")),
          j.at("worker").get<std::string>(),  j.at("pattern").get<std::string>(),
          checked_int(j.at("backend_pid")),   j.at("since_s").get<double>(),
          j.at("age_s").get<double>(),        j.at("age_nominal_s").get<double>()};
}

json target_json(const TargetDescription& t) {
  return {{"kind", t.embedded ? "embedded" : "external"},
          {"dsn", t.embedded ? json(nullptr) : json(t.dsn_redacted)},
          {"server_version", t.server.server_version},
          {"max_connections", t.server.max_connections},
          {"superuser_reserved_connections", t.server.superuser_reserved_connections},
          {"pgbouncer", t.pgbouncer ? json{{"kind", t.pgbouncer_embedded ? "embedded" : "external"},
                                           {"console", t.pgbouncer_console}}
                                    : json(nullptr)}};
}

json target_info_json(const TargetDescription& t) {
  return {{"superuser", t.server.superuser},
          {"role_connection_limit", t.server.role_connection_limit},
          {"database_connection_limit", t.server.database_connection_limit},
          {"connections_in_use", t.server.connections_in_use},
          {"connections_before", t.connections_before},
          {"app_role_superuser", t.app_role_superuser}};
}

TargetDescription target_from_json(const json& tj, const json& info) {
  TargetDescription t;
  t.embedded = tj.at("kind").get<std::string>() == "embedded";
  t.dsn_redacted = tj.value("dsn", json("")).is_string() ? tj.at("dsn").get<std::string>() : "";
  t.server.server_version = tj.at("server_version").get<std::string>();
  t.server.max_connections = checked_int(tj.at("max_connections"));
  t.server.superuser_reserved_connections = checked_int(tj.at("superuser_reserved_connections"));
  t.server.superuser = info.at("superuser").get<bool>();
  t.server.role_connection_limit = checked_int(info.at("role_connection_limit"));
  t.server.database_connection_limit = checked_int(info.at("database_connection_limit"));
  t.server.connections_in_use = checked_int(info.at("connections_in_use"));
  t.connections_before = checked_int(info.at("connections_before"));
  t.app_role_superuser = info.at("app_role_superuser").get<bool>();
  if (const auto& b = tj.at("pgbouncer"); b.is_object()) {
    t.pgbouncer = true;
    t.pgbouncer_embedded = b.at("kind").get<std::string>() == "embedded";
    t.pgbouncer_console = b.at("console").get<std::string>();
  }
  return t;
}

}  // namespace pgleak::record

#pragma once

// What the merge, timeline and report fuzzers start from: a two-shard fleet
// scenario and shard I's report as `pgleak run --shard I/2` writes it.
#include <string>

#include "analysis/summary.hpp"
#include "analysis/verdict.hpp"
#include "report/json_report.hpp"
#include "scenario/loader.hpp"
#include "scenario/shard.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::fuzz {

inline const char* kScenario = R"({"name": "fleet", "duration": "1m", "leak_threshold": "10s",
  "processes": [
    {"name": "api", "replicas": 3, "workers": [{"name": "w", "pattern": "scoped", "count": 2}]},
    {"name": "batch", "replicas": 1, "workers": [{"name": "b", "pattern": "held_by_object"}]}]})";

inline const scenario::Scenario& fleet() {
  static const auto sc = [] {
    scenario::LoadOptions o;
    o.shards = 2;
    return scenario::parse(kScenario, "fleet.json", workload::PatternRegistry::builtin().catalog(),
                           o);
  }();
  return sc;
}

// Shard `index` of 2 as `pgleak run --shard` would report it.
inline std::string shard_report(int index) {
  const auto& sc = fleet();
  record::RunResult r;
  r.run_id = "fuzz01";
  r.started_at_utc = "2026-11-30T00:00:00Z";
  r.wall_s = 60;
  r.target.embedded = false;
  r.target.server.server_version = "15";
  r.target.server.max_connections = 100;
  r.target.server.superuser_reserved_connections = 3;
  auto& sh = r.shard.emplace();
  sh.shard = {index, 2};
  sh.run_name = "fuzz";
  sh.samples_server = index == 0;
  sh.replicas = scenario::split_replicas(sc, 2)[static_cast<size_t>(index)];
  r.checkout_waits = std::make_shared<util::LatencyHistogram>();
  r.checkout_waits->record(util::Micros{1234});
  r.timeout_lateness = std::make_shared<util::LatencyHistogram>();
  for (const auto& ref : sh.replicas) {
    record::PoolOutcome p;
    p.process = sc.processes[ref.process].name;
    p.replica = ref.replica;
    p.stats.checkouts = 10;
    r.pools.push_back(p);
    r.holders.push_back({p.process, p.replica, "w.0", "scoped", 42, 1.0, 20.0, 20.0});
  }
  record::Event e;
  e.t_s = 2;
  e.kind = record::kConnectError;
  e.sqlstate = "53300";
  e.message = "sorry, too many clients already";
  r.events.push_back(e);
  r.events_by_kind[e.kind] = 1;
  r.errors_by_sqlstate["53300"] = 1;
  record::Sample s;
  s.t_s = 1;
  s.own = s.total = 4;
  s.by_state["idle"] = 4;
  s.pools.push_back({"api", 0, 1, 0, 0, 0, 1});
  r.samples.push_back(s);
  r.series.taken = 1;
  r.series.last = s;
  const auto summary = analysis::summarize(r, sc);
  return report::report_text(report::build_report(sc, r, summary, analysis::judge(summary, r, sc)));
}

}  // namespace pgleak::fuzz

// libFuzzer target: `pgleak merge` reads shard reports anyone may have
// written. With shard 0's report well-formed, any bytes given as shard 1's
// (a report, or a gzip timeline) must merge and be judged, or be refused
// with util::UsageError; never crash, hang or throw anything else.
// Seeds (fuzz/run.sh): shard 1's report as pgleak writes it, which this
// binary writes when PGLEAK_FUZZ_SEED names a file.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "analysis/summary.hpp"
#include "analysis/verdict.hpp"
#include "report/json_report.hpp"
#include "report/merge.hpp"
#include "scenario/loader.hpp"
#include "util/errors.hpp"
#include "workload/pattern_registry.hpp"

namespace {

using namespace pgleak;

const char* kScenario = R"({"name": "fleet", "duration": "1m", "leak_threshold": "10s",
  "processes": [
    {"name": "api", "replicas": 3, "workers": [{"name": "w", "pattern": "scoped", "count": 2}]},
    {"name": "batch", "replicas": 1, "workers": [{"name": "b", "pattern": "held_by_object"}]}]})";

const scenario::Scenario& fleet() {
  static const auto sc = [] {
    scenario::LoadOptions o;
    o.shards = 2;
    return scenario::parse(kScenario, "fleet.json", workload::PatternRegistry::builtin().catalog(),
                           o);
  }();
  return sc;
}

// Shard `index` of 2 as `pgleak run --shard` would report it.
std::string shard_report(int index) {
  const auto& sc = fleet();
  run::RunResult r;
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
    run::PoolOutcome p;
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

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* seed = std::getenv("PGLEAK_FUZZ_SEED"); seed != nullptr) {
    std::ofstream{seed} << shard_report(1);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto catalog = workload::PatternRegistry::builtin().catalog();
  static const auto zero = shard_report(0);
  try {
    const auto merged = report::merge_shards(
        {{"shard-0.json", zero},
         {"shard-1.json", std::string(reinterpret_cast<const char*>(data), size)}},
        catalog);
    const auto summary = analysis::summarize(merged.result, merged.scenario);
    const auto verdict = analysis::judge(summary, merged.result, merged.scenario);
    auto doc = report::build_report(merged.scenario, merged.result, summary, verdict);
    doc["merge"] = merged.merge;
    report::report_text(doc);
  } catch (const util::UsageError&) {
    // Refused, with the file and the reason: what merge must do with bad input.
  }
  return 0;
}

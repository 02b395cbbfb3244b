#include "report/merge.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "record/record_json.hpp"
#include "record/recorder.hpp"
#include "record/run_result_json.hpp"
#include "report/json_report.hpp"
#include "report/merge_input.hpp"
#include "run/worker_engine.hpp"
#include "scenario/shard.hpp"
#include "util/errors.hpp"
#include "util/text.hpp"

namespace pgleak::report {
namespace {

using merge_input::refuse;
using merge_input::Shard;
using nlohmann::json;

record::RunStatus status_of(const std::string& path, const std::string& text) {
  if (const auto status = record::run_status_from_string(text)) {
    return *status;
  }
  refuse(path, "run.status \"" + text + "\" is not one pgleak writes");
}

template <typename Map>
void add_counts(Map& into, const json& from) {
  for (const auto& [key, n] : from.items()) {
    into[key] += n.template get<uint64_t>();
  }
}

// The sample of `samples` (sorted by time) nearest to t.
const record::Sample* nearest(const std::vector<record::Sample>& samples, double t) {
  if (samples.empty()) {
    return nullptr;
  }
  const auto it = std::lower_bound(samples.begin(), samples.end(), t,
                                   [](const record::Sample& s, double v) { return s.t_s < v; });
  if (it == samples.end()) {
    return &samples.back();
  }
  if (it != samples.begin() && t - std::prev(it)->t_s < it->t_s - t) {
    return &*std::prev(it);
  }
  return &*it;
}

// Refuses a report whose pools or holders name a replica that is not this
// shard's under the scenario's split: it is not this run's shard (or was edited).
void check_replicas(const Shard& s, const scenario::Scenario& sc) {
  std::set<std::pair<std::string, int>> mine;
  const auto split = scenario::split_replicas(sc, s.count);
  for (const auto& ref : split[static_cast<size_t>(s.index)]) {
    mine.insert({sc.processes[ref.process].name, ref.replica});
  }
  for (const char* list : {"pools", "holders"}) {
    for (const auto& p : s.report->at(list)) {
      const auto process = p.at("process").get<std::string>();
      const auto replica = record::checked_int(p.at("replica"));
      if (!mine.contains({process, replica})) {
        refuse(s.path, fmt::format("its {} name replica {} of process \"{}\", which is not shard "
                                   "{}/{}'s under the scenario's split",
                                   list, replica, util::printable(process), s.index, s.count));
      }
    }
  }
}

// What one shard's report adds to the fleet's record.
void add_report(const Shard& s, record::RunResult& r, std::vector<record::Sample>& samples) {
  const auto& doc = *s.report;
  const auto& sh = doc.at("shard");
  const auto& summary = doc.at("summary");
  for (const auto& e : doc.at("events")) {
    r.events.push_back(record::event_from_json(e));
  }
  r.events_dropped += doc.at("events_dropped").get<uint64_t>();
  add_counts(r.events_by_kind, sh.at("events_by_kind"));
  add_counts(r.errors_by_sqlstate, summary.at("errors_by_sqlstate"));
  add_counts(r.server_errors_by_sqlstate, summary.at("server_errors_by_sqlstate"));
  add_counts(r.pgbouncer_errors, summary.at("pgbouncer_errors"));
  r.pool_timeouts += summary.at("pool_timeouts").get<uint64_t>();
  r.connections_lost += summary.at("connections_lost").get<uint64_t>();
  r.connect_attempts += sh.at("connect_attempts").get<uint64_t>();
  const auto& h = sh.at("histograms");
  // Every sample of a shard with a waiting checkout: at least this many of the fleet's.
  r.series.with_waiters =
      std::max(r.series.with_waiters, summary.at("samples_with_waiters").get<uint64_t>());
  if (!h.at("checkout_waits").is_null()) {
    record::add_histogram_json(*r.checkout_waits, h.at("checkout_waits"));
  }
  auto lateness = std::const_pointer_cast<util::LatencyHistogram>(r.timeout_lateness);
  if (!h.at("timeout_lateness").is_null()) {
    record::add_histogram_json(*lateness, h.at("timeout_lateness"));
  }
  for (const auto& p : doc.at("pools")) {
    r.pools.push_back(record::pool_outcome_from_json(p));
  }
  const auto& delays = h.at("load_start_delays");
  size_t i = 0;
  for (const auto& l : doc.at("loads")) {
    r.loads.push_back(
        record::load_outcome_from_json(l, i < delays.size() ? delays.at(i) : json(nullptr)));
    ++i;
  }
  for (const auto& hj : doc.at("holders")) {
    r.holders.push_back(record::holder_from_json(hj));
  }
  r.leftover_backends_terminated +=
      record::checked_int(doc.at("cleanup").at("leftover_backends_terminated"));
  // Reports before "checked" was written made the check or said why not in the note.
  r.cleanup_checked = r.cleanup_checked && doc.at("cleanup").value("checked", true);
  for (const auto& sj : doc.at("samples")) {
    samples.push_back(record::sample_from_json(sj));
  }
}

// What a killed shard's timeline adds: its events (kept and counted as its
// recorder kept and counted them) and its samples.
void add_timeline(const Shard& s, record::RunResult& r, std::vector<record::Sample>& samples) {
  const auto& t = *s.timeline;
  for (auto& e : t.events()) {
    r.events.push_back(std::move(e));
  }
  r.events_dropped += t.dropped_events();
  for (const auto& [kind, n] : t.events_by_kind()) {
    r.events_by_kind[kind] += n;
  }
  for (const auto& [code, n] : t.errors_by_sqlstate()) {
    r.errors_by_sqlstate[code] += n;
  }
  for (const auto& [code, n] : t.server_errors_by_sqlstate()) {
    r.server_errors_by_sqlstate[code] += n;
  }
  for (const auto& [reason, n] : t.pgbouncer_errors()) {
    r.pgbouncer_errors[reason] += n;
  }
  r.pool_timeouts += t.pool_timeouts();
  r.connections_lost += t.connections_lost();
  std::const_pointer_cast<util::LatencyHistogram>(r.timeout_lateness)
      ->merge_from(t.timeout_lateness());
  auto kept = t.samples();
  samples.insert(samples.end(), kept.begin(), kept.end());
}

// The target as the sampling shard saw it before the run.
record::TargetDescription target_of(const Shard& s) {
  return record::target_from_json(s.report->at("target"), s.report->at("shard").at("target_info"));
}

// The fleet's samples: the sampling shard's, each with every other shard's
// pools from that shard's sample nearest in time.
std::vector<record::Sample> merge_samples(std::vector<std::vector<record::Sample>> per_shard) {
  for (auto& samples : per_shard) {
    std::stable_sort(samples.begin(), samples.end(),
                     [](const auto& a, const auto& b) { return a.t_s < b.t_s; });
  }
  auto merged = per_shard.empty() ? std::vector<record::Sample>{} : per_shard[0];
  for (auto& sample : merged) {
    for (size_t i = 1; i < per_shard.size(); ++i) {
      if (const auto* other = nearest(per_shard[i], sample.t_s)) {
        sample.pools.insert(sample.pools.end(), other->pools.begin(), other->pools.end());
      }
    }
    if (sample.pools.size() > record::kMaxDetailPerSample) {
      record::fold_sample(sample);
    }
  }
  return merged;
}

// What the shards say of themselves, in the merged report's "merge" block,
// and the run's start as the barrier released each.
struct Listing {
  json shards = json::array();
  std::vector<std::string> ended_early;
  std::optional<int64_t> first_start;
  std::optional<int64_t> last_start;

  // A shard that did not complete: named, and the run did not either.
  void ended(record::RunResult& r, record::RunStatus status, std::string what) {
    ended_early.push_back(std::move(what));
    if (r.status == record::RunStatus::kCompleted) {
      r.status = status;
    }
  }
};

// The server's view, from the shard that sampled it.
void take_server_view(const Shard& s, record::RunResult& r) {
  r.target = target_of(s);
  const auto& log = s.report->at("server_log");
  r.server_log_available = log.at("available").get<bool>();
  r.server_log_note = log.value("note", json()).is_string() ? log.at("note") : "";
  const auto& sampler = s.report->at("sampler");
  r.sampler_missed_intervals = sampler.at("missed_intervals").get<uint64_t>();
  r.sampler_max_lag_ms = sampler.at("max_lag_ms").get<double>();
  r.series.taken = sampler.at("samples").get<uint64_t>();
  const auto& summary = s.report->at("summary");
  r.series.peak_own = record::checked_int(summary.at("peak_connections"));
  r.series.peak_own_at_s = summary.at("peak_at_s").get<double>();
  r.series.peak_total = record::checked_int(summary.at("peak_total_connections"));
}

// What ran a shard's workers, as its report says: "fibers", "threads", or
// empty (a report from before the field, or a value that is neither).
std::string engine_of(const json& run) {
  const auto it = run.find("engine");
  if (it == run.end() || !it->is_string()) {
    return {};
  }
  const auto name = it->get<std::string>();
  return run::WorkerEngine::parse(name) ? name : std::string{};
}

// A shard's own peak of open sessions, as its report says (null from a
// report before the field). Read, not copied: the report is a file.
json sessions_peak_of(const json& run) {
  const auto it = run.find("sessions_peak");
  if (it == run.end() || it->is_null()) {
    return nullptr;
  }
  const int open = record::checked_int(it->at("open"));
  if (open < 0) {
    throw json::out_of_range::create(
        406, "sessions_peak.open " + std::to_string(open) + " is below zero", &*it);
  }
  const auto& at = it->at("at_s");
  return {{"open", open}, {"at_s", at.is_null() ? json(nullptr) : json(at.get<double>())}};
}

// A shard that wrote its report.
void take_report(const Shard& s, const scenario::Scenario& sc, record::RunResult& r,
                 std::vector<record::Sample>& samples, Listing& listing) {
  check_replicas(s, sc);
  add_report(s, r, samples);
  const auto& run = s.report->at("run");
  const auto& sh = s.report->at("shard");
  const auto status = status_of(s.path, run.at("status").get<std::string>());
  const double wall = run.at("wall_s").get<double>();
  r.wall_s = std::max(r.wall_s, wall);
  const auto engine = engine_of(run);
  if (!engine.empty()) {
    r.engine = r.engine.empty() || r.engine == engine ? engine : "mixed";
  }
  const auto started = sh.at("started_at_unix_ms").get<int64_t>();
  listing.first_start = std::min(listing.first_start.value_or(started), started);
  listing.last_start = std::max(listing.last_start.value_or(started), started);
  listing.shards.push_back({{"index", s.index},
                            {"file", s.path},
                            {"status", run.at("status")},
                            {"status_detail", run.at("status_detail")},
                            {"wall_s", wall},
                            {"engine", engine.empty() ? json(nullptr) : json(engine)},
                            {"sessions_peak", sessions_peak_of(run)},
                            {"samples_server", sh.at("samples_server")},
                            {"barrier_wait_s", sh.at("barrier_wait_s")},
                            {"started_at_unix_ms", started},
                            {"replicas", sh.at("replicas").size()},
                            {"ended_early", status != record::RunStatus::kCompleted}});
  if (status != record::RunStatus::kCompleted) {
    const auto& detail = run.at("status_detail");
    const auto said = detail.is_string() ? detail.get<std::string>() : std::string{};
    listing.ended(r, status,
                  fmt::format("shard {}/{} {}{}", s.index, s.count, record::to_string(status),
                              said.empty() ? "" : ": " + said));
  }
  if (r.started_at_utc.empty()) {
    r.started_at_utc = run.at("started_at").get<std::string>();
  }
  if (sh.at("samples_server").get<bool>()) {
    take_server_view(s, r);
  }
  const auto& note = s.report->at("cleanup").at("note");
  if (note.is_string() && r.cleanup_note.find(note.get<std::string>()) == std::string::npos) {
    r.cleanup_note += (r.cleanup_note.empty() ? "" : "; ") + note.get<std::string>();
  }
}

// A shard killed before it wrote its report, from its timeline.
void take_timeline(const Shard& s, record::RunResult& r, std::vector<record::Sample>& samples,
                   Listing& listing) {
  add_timeline(s, r, samples);
  const auto how = fmt::format("killed before it wrote its report; its timeline {} at {:.1f}s",
                               s.timeline_cut ? "was cut off" : "ends", s.last_t_s);
  listing.shards.push_back({{"index", s.index},
                            {"file", s.path},
                            {"status", "killed"},
                            {"status_detail", how},
                            {"wall_s", nullptr},
                            {"samples_server", s.index == 0},
                            {"ended_early", true}});
  listing.ended(r, record::RunStatus::kInterrupted,
                fmt::format("shard {}/{} {}", s.index, s.count, how));
  if (s.index == 0) {
    const auto series = s.timeline->series_stats();
    r.series.taken = series.taken;
    if (series.peak_own > r.series.peak_own) {
      r.series.peak_own = series.peak_own;
      r.series.peak_own_at_s = series.peak_own_at_s;
    }
    r.series.peak_total = std::max(r.series.peak_total, series.peak_total);
    r.server_log_note = "shard 0 was killed: the target and the server log are unknown";
  }
}

}  // namespace

MergedRun merge_shards(const std::vector<ShardFile>& files,
                       const scenario::PatternCatalog& catalog) {
  std::vector<Shard> given;
  for (const auto& f : files) {
    given.push_back(merge_input::read_shard(f));
  }
  auto shards = merge_input::pick_shards(std::move(given));
  MergedRun m{merge_input::recover_scenario(shards, catalog), {}, json::object()};
  auto& r = m.result;
  r.run_id = shards[0].run_id;
  r.checkout_waits = std::make_shared<util::LatencyHistogram>();
  r.timeout_lateness = std::make_shared<util::LatencyHistogram>();

  std::vector<std::vector<record::Sample>> samples(shards.size());
  Listing listing;
  // Each shard's file is named in what is wrong with it.
  std::string reading;
  try {
    for (size_t i = 0; i < shards.size(); ++i) {
      reading = shards[i].path;
      if (shards[i].report) {
        take_report(shards[i], m.scenario, r, samples[i], listing);
      } else {
        take_timeline(shards[i], r, samples[i], listing);
      }
    }
    if (r.target.server.server_version.empty()) {
      // Shard 0 was killed: the target as another shard saw it before the run.
      const auto reported = std::find_if(shards.begin(), shards.end(),
                                         [](const Shard& s) { return s.report.has_value(); });
      reading = reported->path;
      r.target = target_of(*reported);  // recover_scenario found one
    }
  } catch (const json::exception& e) {
    merge_input::refuse(reading, std::string{"a shard report lacks a field or has one of the "
                                             "wrong shape: "} +
                                     e.what());
  } catch (const std::invalid_argument& e) {
    merge_input::refuse(reading,
                        std::string{"a shard report holds a malformed histogram: "} + e.what());
  }
  const auto& ended_early = listing.ended_early;
  if (!ended_early.empty()) {
    r.status_detail = fmt::format("{}", fmt::join(ended_early, "; "));
  }
  std::stable_sort(r.events.begin(), r.events.end(),
                   [](const auto& a, const auto& b) { return a.t_s < b.t_s; });
  if (r.events.size() > record::Recorder::kMaxEvents) {
    // As one run's recorder keeps them: the first kMaxEvents, the rest counted.
    r.events_dropped += r.events.size() - record::Recorder::kMaxEvents;
    r.events.resize(record::Recorder::kMaxEvents);
  }
  std::stable_sort(r.holders.begin(), r.holders.end(),
                   [](const auto& a, const auto& b) { return a.since_s < b.since_s; });
  r.samples = merge_samples(std::move(samples));
  uint64_t with_waiters = 0;
  for (const auto& sample : r.samples) {
    const bool waiting = std::any_of(sample.pools.begin(), sample.pools.end(),
                                     [](const auto& p) { return p.waiting > 0; });
    with_waiters += waiting ? 1 : 0;
  }
  r.series.with_waiters = std::max(r.series.with_waiters, with_waiters);
  if (!r.samples.empty()) {
    r.series.last = r.samples.back();
  }
  m.merge = {
      {"run_name", shards[0].run_name},
      {"shards", listing.shards},
      {"ended_early", ended_early},
      {"start_skew_ms",
       listing.first_start ? json(*listing.last_start - *listing.first_start) : json(nullptr)}};
  return m;
}

}  // namespace pgleak::report
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
#include "report/json_report.hpp"
#include "scenario/shard.hpp"
#include "util/errors.hpp"
#include "util/gzip_file.hpp"
#include "util/line_splitter.hpp"
#include "util/text.hpp"

namespace pgleak::report {
namespace {

using nlohmann::json;

// Distinct event kinds and SQLSTATEs one timeline may name (PostgreSQL has
// about 260 SQLSTATEs; pgleak about 20 kinds): the counts stay bounded.
constexpr size_t kMaxDistinctCodes = 1024;
// How much of an event's text merge keeps from a timeline, and the most
// entries a sample may hold once folded as the recorder folds it (states,
// processes, pool lines): so a killed shard's recorder (1,500 samples, 20,000
// events) stays well under 1 GB whatever the file holds.
constexpr size_t kMaxEventText = 4096;
constexpr size_t kMaxSampleEntries = 1024;

void clip(std::string& text, size_t most) {
  if (text.size() > most) {
    text.resize(most);
  }
}

// One shard as given: its report, or (killed before it wrote one) its timeline.
struct Shard {
  std::string path;
  int index = 0;
  int count = 0;
  std::string run_id;
  std::string run_name;
  std::string digest;
  std::optional<json> report;
  // From a timeline only: its samples and events as a run's recorder keeps
  // them (bounded: the peaks of at most kKeptSamples samples, kMaxEvents
  // events, counts of everything).
  std::shared_ptr<record::Recorder> timeline;
  bool timeline_cut = false;  // no "end" line: the writer was killed
  double last_t_s = 0;
};

[[noreturn]] void refuse(const std::string& path, const std::string& why) {
  throw util::UsageError(path + ": " + why);
}

// A report is a file anyone may have written: nothing in it may be nested
// past what pgleak writes, nor be a number pgleak's counters could not hold
// (a conversion of such a number to an integer would be undefined).
void refuse_hostile_values(const std::string& path, const json& j, int depth = 0) {
  if (depth > 32) {
    refuse(path, "nested deeper than a pgleak report is");
  }
  if (j.is_number_float() &&
      !(std::isfinite(j.get<double>()) && std::fabs(j.get<double>()) <= 9.007199254740992e15)) {
    refuse(path, "holds a number out of range: " + j.dump());
  }
  if (j.is_number_unsigned() && j.get<uint64_t>() > (uint64_t{1} << 62)) {
    refuse(path, "holds a number out of range: " + j.dump());
  }
  if (j.is_structured()) {
    for (const auto& item : j) {
      refuse_hostile_values(path, item, depth + 1);
    }
  }
}

Shard read_report_shard(const std::string& path, const std::string& bytes) {
  if (bytes.size() > kMaxReportBytes) {
    refuse(path, fmt::format("a report of {} bytes is larger than {} MiB, the most merge reads "
                             "of one (pgleak writes far less)",
                             bytes.size(), kMaxReportBytes >> 20));
  }
  json doc;
  try {
    doc = json::parse(bytes);
  } catch (const json::exception& e) {
    refuse(path, std::string{"not JSON, nor a gzip timeline: "} + e.what());
  }
  if (!doc.is_object() || doc.value("schema", json()) != kReportSchema) {
    refuse(path, std::string{"not a pgleak report (no \"schema\": \""} + kReportSchema + "\")");
  }
  for (const auto& [key, most] : {std::pair{"events", record::Recorder::kMaxEvents},
                                  std::pair{"samples", record::Recorder::kKeptSamples}}) {
    if (const auto it = doc.find(key); it != doc.end() && it->is_array() && it->size() > most) {
      refuse(path, fmt::format("holds {} {}: pgleak writes at most {}", it->size(), key, most));
    }
  }
  if (doc.contains("merge")) {
    refuse(path, "a merged report, not a shard's: give the shards' own reports");
  }
  refuse_hostile_values(path, doc);
  const auto it = doc.find("shard");
  if (it == doc.end() || !it->is_object()) {
    refuse(path,
           "the report of a run that was not sharded; merge takes the reports of "
           "pgleak run --shard I/N");
  }
  Shard s;
  s.path = path;
  try {
    s.index = record::checked_int(it->at("index"));
    s.count = record::checked_int(it->at("count"));
    s.run_name = it->at("run_name").get<std::string>();
    s.digest = it->at("scenario_digest").get<std::string>();
    s.run_id = doc.at("run").at("id").get<std::string>();
  } catch (const json::exception& e) {
    refuse(path, std::string{"a shard report without its shard fields: "} + e.what());
  }
  s.report = std::move(doc);
  return s;
}

// Which shard of which run a timeline's header says it is.
void read_timeline_header(Shard& s, const json& line) {
  const auto sh = line.find("shard");
  if (sh == line.end() || !sh->is_object()) {
    refuse(s.path, "the timeline of a run that was not sharded");
  }
  s.index = record::checked_int(sh->at("index"));
  s.count = record::checked_int(sh->at("count"));
  s.run_name = sh->at("run_name").get<std::string>();
  s.run_id = line.at("run_id").get<std::string>();
  s.digest = line.at("scenario_digest").get<std::string>();
}

// A killed shard's timeline, a line at a time (util::gunzip_each): what it
// holds is its recorder's, bounded whatever the file's length.
Shard read_timeline_shard(const std::string& path, const std::string& bytes) {
  Shard s;
  s.path = path;
  s.timeline_cut = true;
  s.timeline = std::make_shared<record::Recorder>(std::chrono::steady_clock::now());
  size_t line_number = 0;
  bool header = false;
  std::set<std::string> codes;  // distinct SQLSTATEs and kinds: PostgreSQL has about 260
  const auto on_line = [&](std::string_view text) {
    ++line_number;
    json line;
    try {
      line = json::parse(text);
    } catch (const json::exception& e) {
      refuse(path, fmt::format("line {} of the timeline is not JSON: {}", line_number, e.what()));
    }
    refuse_hostile_values(path, line);
    const auto type = line.is_object() ? line.value("type", std::string{}) : std::string{};
    try {
      if (!header) {
        if (type != "header") {
          refuse(path, "not a pgleak timeline (its first line is not a header)");
        }
        header = true;
        read_timeline_header(s, line);
      } else if (type == "sample") {
        auto sample = record::sample_from_json(line);
        record::fold_sample(sample);  // as the recorder keeps it
        if (sample.by_state.size() + sample.by_process.size() + sample.pools.size() >
            kMaxSampleEntries) {
          refuse(path, fmt::format("line {}: a sample of more than {} states, processes and "
                                   "pools: not a timeline pgleak wrote",
                                   line_number, kMaxSampleEntries));
        }
        s.last_t_s = std::max(s.last_t_s, sample.t_s);
        s.timeline->add_sample(std::move(sample));
      } else if (type == "event") {
        auto event = record::event_from_json(line);
        clip(event.message, kMaxEventText);
        for (auto* field : {&event.kind, &event.sqlstate, &event.process, &event.worker,
                            &event.pattern, &event.code_source, &event.pgbouncer_error}) {
          clip(*field, 256);
        }
        codes.insert(event.kind);
        codes.insert(event.sqlstate);
        if (codes.size() > kMaxDistinctCodes) {
          refuse(path, fmt::format("more than {} distinct event kinds and SQLSTATEs: not a "
                                   "timeline pgleak wrote",
                                   kMaxDistinctCodes));
        }
        s.last_t_s = std::max(s.last_t_s, event.t_s);
        s.timeline->add_event(std::move(event));
      } else if (type == "end") {
        s.timeline_cut = false;
      }
    } catch (const json::exception& e) {
      refuse(path, std::string{"a timeline line of the wrong shape: "} + e.what());
    }
  };
  util::LineSplitter lines;
  try {
    util::gunzip_each(bytes, kMaxTimelineDecompressed,
                      [&](std::string_view chunk) { lines.feed(chunk, on_line); });
  } catch (const util::UsageError& e) {
    refuse(path, e.what());
  }
  if (lines.overlong() > 0) {
    refuse(path, fmt::format("holds a line longer than {} bytes: not a timeline pgleak wrote",
                             util::LineSplitter::kMaxLine));
  }
  if (!header) {
    refuse(path, "an empty timeline");
  }
  return s;  // a line cut short by the kill is left in `lines`
}

Shard read_shard(const ShardFile& f) {
  const bool gzip = f.bytes.size() >= 2 && static_cast<unsigned char>(f.bytes[0]) == 0x1f &&
                    static_cast<unsigned char>(f.bytes[1]) == 0x8b;
  return gzip ? read_timeline_shard(f.path, f.bytes) : read_report_shard(f.path, f.bytes);
}

// One shard per index: two reports of one index are refused, a report wins
// over a timeline of the same shard; every index from 0 to N-1 must be there.
std::vector<Shard> pick_shards(std::vector<Shard> given) {
  if (given.empty()) {
    throw util::UsageError("no shard reports given");
  }
  const auto& first = given.front();
  for (const auto& s : given) {
    if (s.run_id != first.run_id || s.run_name != first.run_name) {
      refuse(s.path, fmt::format("shard of run {} ({}), but {} is of run {} ({}): shards of "
                                 "different runs",
                                 s.run_id, s.run_name, first.path, first.run_id, first.run_name));
    }
    if (s.count != first.count) {
      refuse(s.path, fmt::format("shard {}/{}, but {} is shard {}/{}: every shard of a run has "
                                 "the same N",
                                 s.index, s.count, first.path, first.index, first.count));
    }
    if (s.digest != first.digest) {
      refuse(s.path, fmt::format("ran scenario digest {}, but {} ran {}: shards of different "
                                 "scenarios (or --time-scale)",
                                 s.digest, first.path, first.digest));
    }
    if (s.count < 1 || s.count > scenario::kMaxShards) {
      refuse(s.path, fmt::format("shard {}/{}: N must be from 1 to {}", s.index, s.count,
                                 scenario::kMaxShards));
    }
    if (s.index < 0 || s.index >= s.count) {
      refuse(s.path, fmt::format("shard index {} is not from 0 to {}", s.index, s.count - 1));
    }
  }
  std::vector<std::optional<Shard>> by_index(static_cast<size_t>(first.count));
  for (auto& s : given) {
    auto& slot = by_index[static_cast<size_t>(s.index)];
    if (slot && slot->report.has_value() == s.report.has_value()) {
      refuse(s.path, fmt::format("shard {}/{} is given twice: {} and {}", s.index, s.count,
                                 slot->path, s.path));
    }
    if (!slot || s.report) {
      slot = std::move(s);
    }
  }
  std::vector<std::string> missing;
  for (size_t i = 0; i < by_index.size(); ++i) {
    if (!by_index[i]) {
      missing.push_back(std::to_string(i));
    }
  }
  if (!missing.empty()) {
    throw util::UsageError(fmt::format(
        "missing shard(s) {} of {} (give each shard's report, or the timeline of a shard killed "
        "before it wrote one)",
        fmt::join(missing, ", "), by_index.size()));
  }
  std::vector<Shard> out;
  for (auto& s : by_index) {
    out.push_back(std::move(*s));
  }
  return out;
}

scenario::Scenario recover_scenario(const std::vector<Shard>& shards,
                                    const scenario::PatternCatalog& catalog) {
  for (const auto& s : shards) {
    if (!s.report) {
      continue;
    }
    const auto& sh = s.report->at("shard");
    scenario::LoadOptions options;
    options.time_scale = sh.at("time_scale").get<double>();
    options.shards = s.count;
    scenario::Scenario sc;
    try {
      sc = scenario::parse(sh.at("scenario_text").get<std::string>(),
                           s.report->at("scenario").value("source", std::string{}), catalog,
                           options);
    } catch (const scenario::ScenarioError& e) {
      refuse(s.path, std::string{"its scenario_text is not a valid scenario: "} + e.what());
    }
    if (sc.digest != s.digest) {
      refuse(s.path, "its scenario_text does not match its scenario_digest (was it edited?)");
    }
    return sc;
  }
  throw util::UsageError(
      "no shard's report, only timelines: the scenario cannot be recovered from them");
}

run::RunStatus status_of(const std::string& path, const std::string& text) {
  for (const auto st : {run::RunStatus::kCompleted, run::RunStatus::kInterrupted,
                        run::RunStatus::kTargetLost, run::RunStatus::kAborted}) {
    if (run::to_string(st) == text) {
      return st;
    }
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
void add_report(const Shard& s, run::RunResult& r, std::vector<record::Sample>& samples) {
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
    add_histogram_json(*r.checkout_waits, h.at("checkout_waits"));
  }
  auto lateness = std::const_pointer_cast<util::LatencyHistogram>(r.timeout_lateness);
  if (!h.at("timeout_lateness").is_null()) {
    add_histogram_json(*lateness, h.at("timeout_lateness"));
  }
  for (const auto& p : doc.at("pools")) {
    auto stats = stats_from_json(p.at("stats"));
    stats.checkins_by_cleanup = p.at("checkins_by_cleanup").get<uint64_t>();
    r.pools.push_back({p.at("process").get<std::string>(), record::checked_int(p.at("replica")),
                       stats, record::checked_int(p.at("held_at_end"))});
  }
  const auto& delays = h.at("load_start_delays");
  size_t i = 0;
  for (const auto& l : doc.at("loads")) {
    run::LoadOutcome load;
    load.process = l.at("process").get<std::string>();
    load.replica = record::checked_int(l.at("replica"));
    load.group = l.at("group").get<std::string>();
    load.open_model = l.at("model").get<std::string>() == "open";
    load.arrivals = l.value("arrivals", uint64_t{0});
    load.dropped = l.value("dropped", uint64_t{0});
    load.start_delays = std::make_shared<util::LatencyHistogram>();
    if (i < delays.size() && !delays.at(i).is_null()) {
      add_histogram_json(*load.start_delays, delays.at(i));
    }
    ++i;
    r.loads.push_back(std::move(load));
  }
  for (const auto& hj : doc.at("holders")) {
    r.holders.push_back({hj.at("process").get<std::string>(), record::checked_int(hj.at("replica")),
                         hj.at("worker").get<std::string>(), hj.at("pattern").get<std::string>(),
                         record::checked_int(hj.at("backend_pid")), hj.at("since_s").get<double>(),
                         hj.at("age_s").get<double>(), hj.at("age_nominal_s").get<double>()});
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
void add_timeline(const Shard& s, run::RunResult& r, std::vector<record::Sample>& samples) {
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
run::TargetDescription target_of(const Shard& s) {
  run::TargetDescription t;
  const auto& doc = *s.report;
  const auto& tj = doc.at("target");
  const auto& info = doc.at("shard").at("target_info");
  t.embedded = tj.at("kind").get<std::string>() == "embedded";
  t.dsn_redacted = tj.value("dsn", json("")).is_string() ? tj.at("dsn").get<std::string>() : "";
  t.server.server_version = tj.at("server_version").get<std::string>();
  t.server.max_connections = record::checked_int(tj.at("max_connections"));
  t.server.superuser_reserved_connections =
      record::checked_int(tj.at("superuser_reserved_connections"));
  t.server.superuser = info.at("superuser").get<bool>();
  t.server.role_connection_limit = record::checked_int(info.at("role_connection_limit"));
  t.server.database_connection_limit = record::checked_int(info.at("database_connection_limit"));
  t.server.connections_in_use = record::checked_int(info.at("connections_in_use"));
  t.connections_before = record::checked_int(info.at("connections_before"));
  t.app_role_superuser = info.at("app_role_superuser").get<bool>();
  if (const auto& b = tj.at("pgbouncer"); b.is_object()) {
    t.pgbouncer = true;
    t.pgbouncer_embedded = b.at("kind").get<std::string>() == "embedded";
    t.pgbouncer_console = b.at("console").get<std::string>();
  }
  return t;
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
  void ended(run::RunResult& r, run::RunStatus status, std::string what) {
    ended_early.push_back(std::move(what));
    if (r.status == run::RunStatus::kCompleted) {
      r.status = status;
    }
  }
};

// The server's view, from the shard that sampled it.
void take_server_view(const Shard& s, run::RunResult& r) {
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

// A shard that wrote its report.
void take_report(const Shard& s, const scenario::Scenario& sc, run::RunResult& r,
                 std::vector<record::Sample>& samples, Listing& listing) {
  check_replicas(s, sc);
  add_report(s, r, samples);
  const auto& run = s.report->at("run");
  const auto& sh = s.report->at("shard");
  const auto status = status_of(s.path, run.at("status").get<std::string>());
  const double wall = run.at("wall_s").get<double>();
  r.wall_s = std::max(r.wall_s, wall);
  const auto started = sh.at("started_at_unix_ms").get<int64_t>();
  listing.first_start = std::min(listing.first_start.value_or(started), started);
  listing.last_start = std::max(listing.last_start.value_or(started), started);
  listing.shards.push_back({{"index", s.index},
                            {"file", s.path},
                            {"status", run.at("status")},
                            {"status_detail", run.at("status_detail")},
                            {"wall_s", wall},
                            {"samples_server", sh.at("samples_server")},
                            {"barrier_wait_s", sh.at("barrier_wait_s")},
                            {"started_at_unix_ms", started},
                            {"replicas", sh.at("replicas").size()},
                            {"ended_early", status != run::RunStatus::kCompleted}});
  if (status != run::RunStatus::kCompleted) {
    const auto& detail = run.at("status_detail");
    const auto said = detail.is_string() ? detail.get<std::string>() : std::string{};
    listing.ended(r, status,
                  fmt::format("shard {}/{} {}{}", s.index, s.count, run::to_string(status),
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
void take_timeline(const Shard& s, run::RunResult& r, std::vector<record::Sample>& samples,
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
  listing.ended(r, run::RunStatus::kInterrupted,
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
    given.push_back(read_shard(f));
  }
  auto shards = pick_shards(std::move(given));
  MergedRun m{recover_scenario(shards, catalog), {}, json::object()};
  auto& r = m.result;
  r.run_id = shards[0].run_id;
  r.checkout_waits = std::make_shared<util::LatencyHistogram>();
  r.timeout_lateness = std::make_shared<util::LatencyHistogram>();

  std::vector<std::vector<record::Sample>> samples(shards.size());
  Listing listing;
  try {
    for (size_t i = 0; i < shards.size(); ++i) {
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
      r.target = target_of(*reported);  // recover_scenario found one
    }
  } catch (const json::exception& e) {
    throw util::UsageError(std::string{"a shard report lacks a field or has one of the wrong "
                                       "shape: "} +
                           e.what());
  } catch (const std::invalid_argument& e) {
    throw util::UsageError(std::string{"a shard report holds a malformed histogram: "} + e.what());
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

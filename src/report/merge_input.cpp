#include "report/merge_input.hpp"

#include <fmt/format.h>

#include <cmath>
#include <set>

#include "record/record_json.hpp"
#include "report/json_report.hpp"
#include "scenario/shard.hpp"
#include "util/errors.hpp"
#include "util/gzip_file.hpp"
#include "util/line_splitter.hpp"

namespace pgleak::report::merge_input {
namespace {

using nlohmann::json;

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

}  // namespace

void refuse(const std::string& path, const std::string& why) {
  throw util::UsageError(path + ": " + why);
}

namespace {

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

}  // namespace

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

}  // namespace pgleak::report::merge_input

#include "record/record_json.hpp"

#include <fmt/compile.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <iterator>
#include <limits>
#include <string_view>

namespace pgleak::record {

using nlohmann::json;

namespace {

// Every member of a sample's JSON, with "pools" empty: sample_json fills it
// as a document, sample_line as text.
json sample_json_without_pools(const Sample& sample) {
  json out = {{"t_s", sample.t_s},
              {"total", sample.total},
              {"own", sample.own},
              {"by_state", sample.by_state},
              {"by_application", sample.by_application},
              {"by_process", sample.by_process},
              {"pools", json::array()},
              {"lag_ms", sample.lag_ms}};
  if (sample.pgbouncer) {
    const auto& b = *sample.pgbouncer;
    out["pgbouncer"] = {{"cl_active", b.cl_active},     {"cl_waiting", b.cl_waiting},
                        {"sv_active", b.sv_active},     {"sv_idle", b.sv_idle},
                        {"sv_used", b.sv_used},         {"sv_login", b.sv_login},
                        {"maxwait_ms", b.maxwait_ms},   {"xact_count", b.xact_count},
                        {"query_count", b.query_count}, {"wait_time_ms", b.wait_time_ms}};
  }
  if (sample.folded) {
    out["folded"] = true;
  }
  return out;
}

// A pool's counts, each row its member's name and value, sorted by name as
// nlohmann's std::map writes them; sample_json and sample_line both read
// this table. The names sort either before "process" or after "replicas",
// so that sample_line can write them around those two without sorting.
struct PoolCount {
  std::string_view name;
  int PoolSample::*value;
};
constexpr std::array kPoolCounts{
    PoolCount{"checked_out", &PoolSample::checked_out},
    PoolCount{"idle", &PoolSample::idle},
    PoolCount{"open", &PoolSample::open},
    PoolCount{"overflow", &PoolSample::overflow},
    PoolCount{"waiting", &PoolSample::waiting},
};
constexpr bool before_process(const PoolCount& c) {
  return c.name < std::string_view{"process"};
}
static_assert(std::is_sorted(kPoolCounts.begin(), kPoolCounts.end(),
                             [](const auto& a, const auto& b) { return a.name < b.name; }));
static_assert(std::all_of(kPoolCounts.begin(), kPoolCounts.end(), [](const auto& c) {
  return before_process(c) || c.name > std::string_view{"replicas"};
}));

// A member's name and value, after `sep`: `{` or `,`.
void put_count(std::string& out, char sep, std::string_view name, int value) {
  out += sep;
  out += '"';
  out += name;
  out += "\":";
  fmt::format_to(std::back_inserter(out), FMT_COMPILE("{}"), value);
}

// A pool's JSON as sample_json has it; `process` already escaped. Appended
// by hand, with compiled number formats, because formatting pools was a
// tenth of pgleak's CPU under perf while it held 1,000 pools sampled at
// 20 Hz: through nlohmann a line of 1,000 pools took 790-1,290 us, with one
// compiled format per pool 480-960 us (eight runs each). Read from the
// table, the pools' part of such a line took 253-410 us against 236-356 us
// for the one format per pool (six alternating runs).
void put_pool_text(std::string& out, const PoolSample& p, const std::string& process) {
  char sep = '{';
  for (const auto& c : kPoolCounts) {
    if (before_process(c)) {
      put_count(out, sep, c.name, p.*c.value);
      sep = ',';
    }
  }
  out += sep;
  out += R"("process":)";
  out += process;
  if (p.replica < 0) {
    put_count(out, ',', "replicas", p.replicas);
  } else {
    put_count(out, ',', "replica", p.replica);
  }
  for (const auto& c : kPoolCounts) {
    if (!before_process(c)) {
      put_count(out, ',', c.name, p.*c.value);
    }
  }
  out += '}';
}

}  // namespace

json sample_json(const Sample& sample) {
  json out = sample_json_without_pools(sample);
  json& pools = out["pools"];
  for (const auto& p : sample.pools) {
    json pool = {{"process", p.process}};
    if (p.replica < 0) {
      pool["replicas"] = p.replicas;
    } else {
      pool["replica"] = p.replica;
    }
    for (const auto& c : kPoolCounts) {
      pool[std::string{c.name}] = p.*c.value;
    }
    pools.push_back(std::move(pool));
  }
  return out;
}

std::string sample_line(const Sample& sample) {
  std::string line = json_line(sample_json_without_pools(sample), "sample");
  // Every quote inside a dumped string is escaped, so an unescaped
  // "pools":[] can only be that member; the pools go in before its "]".
  static constexpr std::string_view kEmpty = R"("pools":[])";
  const auto at = line.rfind(kEmpty) + kEmpty.size() - 1;
  std::string pools;
  pools.reserve(sample.pools.size() * 96);
  // A process's replicas come together and share its name: escaped once.
  const std::string* name = nullptr;
  std::string escaped;
  for (const auto& p : sample.pools) {
    if (name == nullptr || *name != p.process) {
      escaped = json(p.process).dump(-1, ' ', false, json::error_handler_t::replace);
      name = &p.process;
    }
    if (!pools.empty()) {
      pools += ',';
    }
    put_pool_text(pools, p, escaped);
  }
  line.insert(at, pools);
  return line;
}

json event_json(const Event& e) {
  json ev = {{"t_s", e.t_s},
             {"kind", e.kind},
             {"sqlstate", e.sqlstate.empty() ? json(nullptr) : json(e.sqlstate)},
             {"message", e.message},
             {"process", e.process.empty() ? json(nullptr) : json(e.process)},
             {"replica", e.replica < 0 ? json(nullptr) : json(e.replica)},
             {"worker", e.worker.empty() ? json(nullptr) : json(e.worker)},
             {"pattern", e.pattern.empty() ? json(nullptr) : json(e.pattern)}};
  if (!e.code_source.empty()) {
    ev["code_source"] = e.code_source;
  }
  if (!e.pgbouncer_error.empty()) {
    ev["pgbouncer_error"] = e.pgbouncer_error;
  }
  if (e.waited_ms) {
    ev["waited_ms"] = *e.waited_ms;
  }
  if (e.timeout_ms) {
    ev["timeout_ms"] = *e.timeout_ms;
  }
  return ev;
}

namespace {

std::string text_or_empty(const json& j, const char* key) {
  const auto it = j.find(key);
  return it == j.end() || it->is_null() ? std::string{} : it->get<std::string>();
}

std::optional<double> number_or_none(const json& j, const char* key) {
  const auto it = j.find(key);
  return it == j.end() || it->is_null() ? std::nullopt : std::optional{it->get<double>()};
}

}  // namespace

int checked_int(const json& j) {
  if (!j.is_number()) {
    (void)j.get<int64_t>();  // throws type_error, naming what it is
  }
  // A float is refused before any conversion: 1.9e58 does not fit an integer.
  const auto v = j.is_number_integer() ? j.get<int64_t>() : int64_t{0};
  if (!j.is_number_integer() || v < std::numeric_limits<int>::min() ||
      v > std::numeric_limits<int>::max()) {
    throw json::out_of_range::create(406, j.dump() + " is not an int", &j);
  }
  return static_cast<int>(v);
}

Sample sample_from_json(const json& j) {
  Sample s;
  s.t_s = j.at("t_s").get<double>();
  s.total = checked_int(j.at("total"));
  s.own = checked_int(j.at("own"));
  s.by_state = j.at("by_state").get<std::map<std::string, int>>();
  s.by_application = j.at("by_application").get<std::map<std::string, int>>();
  s.by_process = j.at("by_process").get<std::map<std::string, int>>();
  s.lag_ms = j.value("lag_ms", 0.0);
  s.folded = j.value("folded", false);
  for (const auto& p : j.at("pools")) {
    PoolSample pool;
    pool.process = p.at("process").get<std::string>();
    if (p.contains("replicas")) {
      pool.replica = -1;
      pool.replicas = checked_int(p.at("replicas"));
    } else {
      pool.replica = checked_int(p.at("replica"));
    }
    pool.checked_out = checked_int(p.at("checked_out"));
    pool.idle = checked_int(p.at("idle"));
    pool.overflow = checked_int(p.at("overflow"));
    pool.waiting = checked_int(p.at("waiting"));
    pool.open = checked_int(p.at("open"));
    s.pools.push_back(std::move(pool));
  }
  if (const auto it = j.find("pgbouncer"); it != j.end() && !it->is_null()) {
    PgBouncerSample b;
    b.cl_active = checked_int(it->at("cl_active"));
    b.cl_waiting = checked_int(it->at("cl_waiting"));
    b.sv_active = checked_int(it->at("sv_active"));
    b.sv_idle = checked_int(it->at("sv_idle"));
    b.sv_used = checked_int(it->at("sv_used"));
    b.sv_login = checked_int(it->at("sv_login"));
    b.maxwait_ms = it->at("maxwait_ms").get<double>();
    b.xact_count = it->at("xact_count").get<uint64_t>();
    b.query_count = it->at("query_count").get<uint64_t>();
    b.wait_time_ms = it->at("wait_time_ms").get<double>();
    s.pgbouncer = b;
  }
  return s;
}

Event event_from_json(const json& j) {
  Event e;
  e.t_s = j.at("t_s").get<double>();
  e.kind = j.at("kind").get<std::string>();
  e.sqlstate = text_or_empty(j, "sqlstate");
  e.message = j.at("message").get<std::string>();
  e.process = text_or_empty(j, "process");
  const auto replica = j.find("replica");
  e.replica = replica == j.end() || replica->is_null() ? -1 : checked_int(*replica);
  e.worker = text_or_empty(j, "worker");
  e.pattern = text_or_empty(j, "pattern");
  e.code_source = text_or_empty(j, "code_source");
  e.pgbouncer_error = text_or_empty(j, "pgbouncer_error");
  e.waited_ms = number_or_none(j, "waited_ms");
  e.timeout_ms = number_or_none(j, "timeout_ms");
  return e;
}

std::string json_line(json document, const char* type) {
  document["type"] = type;
  return document.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace pgleak::record

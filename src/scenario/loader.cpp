#include "scenario/loader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <regex>
#include <set>

#include "scenario/backend_tag.hpp"
#include "scenario/json_pointer.hpp"
#include "scenario/json_shape.hpp"
#include "scenario/object_reader.hpp"
#include "scenario/shard.hpp"
#include "util/errors.hpp"
#include "util/files.hpp"

namespace pgleak::scenario {
namespace {

using detail::check_identifier;
using detail::ObjectReader;
using detail::read_pool;
using detail::read_process;
using nlohmann::json;

std::string join_problems(const std::string& file, const std::vector<Problem>& problems) {
  std::string out;
  for (const auto& p : problems) {
    out += fmt::format("{}: {}: {}\n", file, p.pointer.empty() ? "/" : p.pointer, p.message);
  }
  if (!out.empty()) {
    out.pop_back();
  }
  return out;
}

}  // namespace

void detail::check_identifier(ObjectReader& r, const std::string& key, const std::string& value) {
  const auto letter = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
  const auto rest = [&](char c) {
    return letter(c) || (c >= '0' && c <= '9') || c == '_' || c == '-';
  };
  if (value.size() > 32) {
    r.problem(key, fmt::format("must be at most 32 characters (it has {})", value.size()));
  } else if (value.empty() || !letter(value[0]) || !std::all_of(value.begin(), value.end(), rest)) {
    r.problem(key, "must start with a letter and hold only letters, digits, '_' and '-'");
  }
}

namespace {

// A shard's tags carry "@<shard>" after the run id (BackendTag::shard).
void check_tags_fit(const Scenario& s, int shards, std::vector<Problem>& problems) {
  for (size_t i = 0; i < s.processes.size(); ++i) {
    const auto& p = s.processes[i];
    for (size_t j = 0; j < p.workers.size(); ++j) {
      BackendTag tag{p.pool.connect.application_name.value_or("pgleak"),
                     std::string(kRunIdLength, 'x'),
                     p.name,
                     p.replicas - 1,
                     p.workers[j].pattern,
                     shards > 1 ? shards - 1 : -1};
      const auto length = tag.str().size();
      if (length > kMaxApplicationName) {
        problems.push_back(
            {fmt::format("/processes/{}/name", i),
             fmt::format("backend tag \"{}\" is {} bytes; PostgreSQL keeps {} of application_name: "
                         "shorten the process name or the pool's application_name",
                         tag.str(), length, kMaxApplicationName)});
      }
    }
  }
}

void read_expect(ObjectReader& r, const json& expect, Scenario& s) {
  if (!expect.is_object()) {
    r.problem("expect", "must be an object of metric: \"<op> <number>\"");
    return;
  }
  for (const auto& [metric, value] : expect.items()) {
    const auto at = "/expect/" + pointer_token(metric);
    if (auto why = check_metric(metric)) {
      r.problems().push_back({at, *why});
      continue;
    }
    std::string text;
    bool abort_on_fail = false;
    if (value.is_string()) {
      text = value.get<std::string>();
    } else if (value.is_object()) {
      auto er = r.child(value, at);
      text = er.string("expr", true).value_or("");
      abort_on_fail = er.boolean("abort_on_fail").value_or(false);
      if (text.empty()) {
        continue;
      }
    } else {
      r.problems().push_back(
          {at, "must be \"<op> <number>\" or {\"expr\": ..., \"abort_on_fail\": true}"});
      continue;
    }
    std::string why;
    if (abort_on_fail && !can_abort_early(metric)) {
      r.problems().push_back(
          {at + "/abort_on_fail",
           "supported for metrics pgleak watches while it runs and that only "
           "grow (pgleak list marks them), and the counts errors.X, server_errors.X "
           "and pgbouncer_errors.X"});
      continue;
    }
    if (auto e = parse_expectation(metric, text, &why)) {
      e->abort_on_fail = abort_on_fail;
      s.expect.push_back(std::move(*e));
    } else {
      r.problems().push_back({at, why});
    }
  }
}

void read_faults(ObjectReader& r, const json& faults, Scenario& s) {
  if (!faults.is_array()) {
    r.problem("faults", "must be an array of faults");
    return;
  }
  for (size_t i = 0; i < faults.size(); ++i) {
    auto fr = r.child(faults[i], fmt::format("/faults/{}", i));
    Fault f;
    f.at = read_fault_at(fr, s);
    if (auto action = fr.string("action", true)) {
      if (*action == "terminate_backends") {
        f.action = Fault::Action::kTerminateBackends;
      } else if (*action == "cancel_backends") {
        f.action = Fault::Action::kCancelBackends;
      } else if (*action == "restart_server") {
        f.action = Fault::Action::kRestartServer;
      } else {
        fr.problem("action", "must be terminate_backends, cancel_backends or restart_server");
      }
    }
    f.target = fr.string("target").value_or("all");
    const bool known =
        f.target == "all" || std::any_of(s.processes.begin(), s.processes.end(),
                                         [&](const ProcessSpec& p) { return p.name == f.target; });
    if (!known) {
      fr.problem("target", fmt::format("\"{}\" is neither \"all\" nor a process of this scenario",
                                       excerpt(f.target)));
    } else if (f.action == Fault::Action::kRestartServer && f.target != "all") {
      fr.problem("target", "restart_server restarts the whole server: target must be \"all\"");
    }
    s.faults.push_back(std::move(f));
  }
  std::stable_sort(s.faults.begin(), s.faults.end(),
                   [](const Fault& a, const Fault& b) { return a.at.applied < b.at.applied; });
}

// PgBouncer's pool modes, as pgbouncer.ini spells them.
constexpr std::array<std::pair<PgBouncerSettings::Mode, std::string_view>, 3> kPoolModes{{
    {PgBouncerSettings::Mode::kSession, "session"},
    {PgBouncerSettings::Mode::kTransaction, "transaction"},
    {PgBouncerSettings::Mode::kStatement, "statement"},
}};

PgBouncerSettings read_pgbouncer(ObjectReader& r, std::vector<Problem>& problems) {
  PgBouncerSettings b;
  if (auto mode = r.string("pool_mode")) {
    const auto* m = std::find_if(kPoolModes.begin(), kPoolModes.end(),
                                 [&](const auto& entry) { return entry.second == *mode; });
    if (m == kPoolModes.end()) {
      r.problem("pool_mode", "must be \"session\", \"transaction\" or \"statement\"");
    } else {
      b.pool_mode = m->first;
    }
  }
  b.default_pool_size = r.integer("default_pool_size", 1, 10000).value_or(b.default_pool_size);
  b.min_pool_size = r.integer("min_pool_size", 0, 10000).value_or(b.min_pool_size);
  b.reserve_pool_size = r.integer("reserve_pool_size", 0, 10000).value_or(b.reserve_pool_size);
  b.max_client_conn = r.integer("max_client_conn", 1, 100000).value_or(b.max_client_conn);
  b.max_db_connections = r.integer("max_db_connections", 0, 10000).value_or(0);
  if (b.min_pool_size > b.default_pool_size) {
    r.problem("min_pool_size", "must be at most default_pool_size");
  }
  if (const json* ignore = r.find("ignore_startup_parameters"); ignore != nullptr) {
    bool ok = ignore->is_array() && ignore->size() <= 16;
    for (const auto& p : ok ? *ignore : json::array()) {
      static const std::regex kName{"[A-Za-z_][A-Za-z0-9_]{0,62}"};
      ok = ok && p.is_string() && std::regex_match(p.get<std::string>(), kName);
      if (ok) {
        b.ignore_startup_parameters.push_back(p.get<std::string>());
      }
    }
    if (!ok) {
      r.problem("ignore_startup_parameters",
                "must be an array of at most 16 parameter names (letters, digits, _)");
    }
  }
  // PgBouncer's defaults are production values: scaled like written ones.
  // PgBouncer reads its timeouts in seconds to the millisecond, and 0 means
  // "disabled": a timeout that scales below 1 ms would silently switch off.
  const auto with_default = [&](const char* key, util::Micros nominal) {
    const bool written = r.has(key);
    ScaledDuration d;
    if (auto given = r.duration(key)) {
      d = *given;
    } else if (written) {
      return ScaledDuration{};  // the reader reported it
    } else if (auto why = util::check_scaling(nominal, r.time_scale());
               why && nominal.count() > 0) {
      problems.push_back({r.at(key), "PgBouncer's default " + *why});
      return ScaledDuration{};
    } else {
      d = ScaledDuration::scale(nominal, r.time_scale());
    }
    if (d.nominal.count() > 0 && d.applied < std::chrono::milliseconds{1}) {
      problems.push_back(
          {r.at(key),
           fmt::format("{}{} at time_scale {} applies as {}us, below PgBouncer's resolution of 1 "
                       "ms: PgBouncer would read 0, which disables it; {}",
                       written ? "" : "PgBouncer's default ", util::format_duration(d.nominal),
                       r.time_scale(), d.applied.count(),
                       written ? "raise the value or time_scale" : "set it, or raise time_scale")});
    }
    return d;
  };
  using std::chrono::seconds;
  b.reserve_pool_timeout = with_default("reserve_pool_timeout", seconds{5});
  b.server_idle_timeout = with_default("server_idle_timeout", seconds{600});
  b.server_lifetime = with_default("server_lifetime", seconds{3600});
  b.query_wait_timeout = with_default("query_wait_timeout", seconds{120});
  b.idle_transaction_timeout = with_default("idle_transaction_timeout", seconds{0});
  return b;
}

}  // namespace

std::string_view to_string(PgBouncerSettings::Mode mode) {
  for (const auto& [m, name] : kPoolModes) {
    if (m == mode) {
      return name;
    }
  }
  return "session";
}

ScenarioError::ScenarioError(std::string file, std::vector<Problem> problems)
    : util::UsageError(join_problems(file, problems)),
      file_(std::move(file)),
      problems_(std::move(problems)) {}

namespace {

// The text as JSON, or a ScenarioError: a syntax error at its line and
// column, a value nlohmann cannot hold, nesting past the shape check's bound.
json parse_document(const std::string& text, const std::string& source,
                    std::vector<Problem>& problems) {
  problems = detail::shape_problems(text);
  for (const auto& p : problems) {
    if (p.message.rfind("nested deeper", 0) == 0) {
      throw ScenarioError(source, {p});  // not worth building a tree for
    }
  }
  try {
    return json::parse(text, nullptr, true, /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    // Turn nlohmann's byte offset into line:column, which editors understand.
    size_t line = 1;
    size_t column = 1;
    for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    std::string what = e.what();
    const auto colon = what.find("syntax error");
    throw ScenarioError(
        source, {{"", fmt::format("invalid JSON at line {}, column {}: {}", line, column,
                                  colon == std::string::npos ? what : what.substr(colon))}});
  } catch (const json::exception& e) {
    // Not a syntax error but a value nlohmann cannot hold (a number like 1e400).
    std::string what = e.what();
    const auto bracket = what.find("] ");
    throw ScenarioError(
        source, {{"", "invalid JSON: " +
                          (bracket == std::string::npos ? what : what.substr(bracket + 2))}});
  }
}

// The time scale every duration is read at: --time-scale, or the file's
// (whose own problems the full reader reports), or 1.
double time_scale_of(const json& doc, const LoadOptions& options, std::vector<Problem>& problems) {
  double time_scale = 1.0;
  if (const auto it = doc.find("time_scale"); it != doc.end() && it->is_number()) {
    const double ts = it->get<double>();
    if (std::isfinite(ts) && ts > 0 && ts <= 1000) {
      time_scale = ts;
    }
  }
  if (options.time_scale) {
    if (!std::isfinite(*options.time_scale) || *options.time_scale <= 0 ||
        *options.time_scale > 1000) {
      problems.push_back({"/time_scale", "--time-scale must be a number > 0 and <= 1000"});
    } else {
      time_scale = *options.time_scale;
    }
  }
  return time_scale;
}

void read_server(ObjectReader& sr, ServerSettings& server) {
  server.max_connections = sr.integer("max_connections", 1, 10000).value_or(100);
  server.superuser_reserved_connections =
      sr.integer("superuser_reserved_connections", 0, 10000).value_or(3);
  if (server.superuser_reserved_connections >= server.max_connections) {
    sr.problem("superuser_reserved_connections", "must be less than max_connections");
  }
  if (const json* role = sr.find("role"); role != nullptr) {
    auto rr = sr.child(*role, "/server/role");
    server.app_role_superuser = rr.boolean("superuser").value_or(false);
    server.role_connection_limit = rr.integer("connection_limit", 0, 10000);
  }
  if (const json* db = sr.find("database"); db != nullptr) {
    auto dr = sr.child(*db, "/server/database");
    server.database_connection_limit = dr.integer("connection_limit", 0, 10000);
  }
  read_server_tcp(sr, server);
}

void read_processes(ObjectReader& r, Scenario& s, const PatternCatalog& catalog) {
  const json* processes = r.find("processes");
  if (processes == nullptr || !processes->is_array() || processes->empty()) {
    r.problem("processes", "must be a non-empty array of processes");
    return;
  }
  std::set<std::string> names;
  for (size_t i = 0; i < processes->size(); ++i) {
    auto pr = r.child((*processes)[i], fmt::format("/processes/{}", i));
    ProcessSpec p;
    read_process(pr, p, s.pool, catalog);
    if (!p.name.empty() && !names.insert(p.name).second) {
      pr.problem("name", fmt::format("duplicate process name \"{}\"", excerpt(p.name)));
    }
    s.processes.push_back(std::move(p));
  }
}

// Checks that need the whole scenario, once its parts are valid: the
// backend tags fit, and no pgleak process (or shard) runs too many workers.
void check_whole(const Scenario& s, int shards, std::vector<Problem>& problems) {
  check_tags_fit(s, shards, problems);
  // One pgleak process runs at most this many; a sharded run, this many per
  // shard. Fibers make a worker cheap (docs/ENGINE.md); the machine's own
  // limits (threads, vm.max_map_count) are checked before a run starts.
  constexpr int64_t kMaxWorkers = 100000;
  const int64_t busiest = busiest_shard_workers(s, shards);
  if (busiest > kMaxWorkers) {
    problems.push_back(
        {"/processes",
         shards > 1
             ? fmt::format("{} workers on the busiest of {} shards; a shard runs at most {}: "
                           "use more shards",
                           busiest, shards, kMaxWorkers)
             : fmt::format("{} workers in all; pgleak runs at most {} in one process; "
                           "more need shards (pgleak run --shard I/N)",
                           busiest, kMaxWorkers)});
  }
}

// The scenario's own fields, each checked as it is read.
void read_scenario(ObjectReader& r, Scenario& s, const PatternCatalog& catalog,
                   std::vector<Problem>& problems) {
  if (auto ts = r.number("time_scale"); ts && (!std::isfinite(*ts) || *ts <= 0 || *ts > 1000)) {
    r.problem("time_scale", "must be > 0 and <= 1000");
  }
  r.find("$schema");
  if (auto n = r.string("name", true)) {
    s.name = *n;
    check_identifier(r, "name", s.name);
  }
  s.description = r.string("description").value_or("");
  if (auto d = r.duration("duration", true)) {
    s.duration = *d;
  } else if (!r.has("duration")) {
    r.problem("duration", "is required (e.g. \"10m\")");
  }
  if (auto d = r.raw_duration("sample_interval")) {
    if (*d < std::chrono::milliseconds{10} || *d > std::chrono::hours{1}) {
      r.problem("sample_interval", "must be from 10ms to 1h");
    } else {
      s.sample_interval = *d;
    }
  }
  if (const json* server = r.find("server"); server != nullptr) {
    auto sr = r.child(*server, "/server");
    read_server(sr, s.server);
  }
  if (const json* pgbouncer = r.find("pgbouncer"); pgbouncer != nullptr) {
    auto br = r.child(*pgbouncer, "/pgbouncer");
    s.pgbouncer = read_pgbouncer(br, problems);
    br.finish();
  }
  // SQLAlchemy's default pool_timeout, scaled like a written one.
  constexpr util::Micros kDefaultPoolTimeout = std::chrono::seconds{30};
  if (auto why = util::check_scaling(kDefaultPoolTimeout, s.time_scale)) {
    problems.push_back({"/time_scale", "the default pool_timeout " + *why});
  }
  s.pool.pool_timeout = ScaledDuration::scale(kDefaultPoolTimeout, s.time_scale);
  if (const json* pool = r.find("pool"); pool != nullptr) {
    auto pr = r.child(*pool, "/pool");
    read_pool(pr, s.pool);
  }
  read_processes(r, s, catalog);
  s.leak_threshold = r.duration("leak_threshold", true);
  if (const json* expect = r.find("expect"); expect != nullptr) {
    read_expect(r, *expect, s);
  }
  if (const json* faults = r.find("faults"); faults != nullptr) {
    read_faults(r, *faults, s);
  }
  if (const json* network = r.find("network"); network != nullptr) {
    auto nr = r.child(*network, "/network");
    read_network(nr, s);
  }
}

}  // namespace

Scenario parse(const std::string& text, const std::string& source, const PatternCatalog& catalog,
               const LoadOptions& options) {
  std::vector<Problem> problems;
  const json doc = parse_document(text, source, problems);
  if (!doc.is_object()) {
    throw ScenarioError(source, {{"", "must be a JSON object (a scenario)"}});
  }
  Scenario s;
  s.source_path = source;
  s.source_text = text;
  // time_scale first: every other duration is scaled by it as it is read.
  s.time_scale = time_scale_of(doc, options, problems);
  {
    ObjectReader r{doc, "", problems, s.time_scale};
    read_scenario(r, s, catalog, problems);
    r.finish();
  }
  if (problems.empty()) {
    check_whole(s, options.shards, problems);
  }
  if (!problems.empty()) {
    throw ScenarioError(source, std::move(problems));
  }
  s.digest = scenario_digest(doc, s.time_scale);
  return s;
}

Scenario load(const std::string& path, const PatternCatalog& catalog, const LoadOptions& options) {
  std::string text;
  try {
    text = util::read_regular_file(path, kMaxScenarioBytes);
  } catch (const util::UsageError& e) {
    throw ScenarioError(path, {{"", e.what()}});
  }
  return parse(text, path, catalog, options);
}

}  // namespace pgleak::scenario

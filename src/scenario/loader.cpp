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

// Arrival rates are per nominal second; the applied rate (divided by
// time_scale) is what a group's arrival thread must keep up with.
constexpr double kMaxAppliedRate = 10000;

void check_rate(ObjectReader& r, const std::string& key, double per_second, double time_scale) {
  const double applied = per_second / time_scale;
  if (!std::isfinite(applied) || applied > kMaxAppliedRate) {
    r.problem(key, fmt::format("{:g}/s at time_scale {} is {:g} arrivals per second applied; "
                               "pgleak paces at most {:g}/s per worker group",
                               per_second, time_scale, applied, kMaxAppliedRate));
  }
}

void read_connect(ObjectReader& r, ConnectArgs& args) {
  if (auto d = r.duration("connect_timeout", true)) {
    args.connect_timeout = d;
  }
  if (auto d = r.duration("statement_timeout")) {
    args.statement_timeout = d;
  }
  if (auto d = r.duration("idle_in_transaction_session_timeout")) {
    args.idle_in_transaction_session_timeout = d;
  }
  if (auto s = r.string("application_name")) {
    if (s->empty() || s->find('/') != std::string::npos) {
      r.problem("application_name", "must be non-empty and must not contain '/'");
    } else {
      args.application_name = s;
    }
  }
}

// Reads a pool object over `pool`: only the keys present override it, which is
// how a process's "pool" refines the scenario's.
void read_pool(ObjectReader& r, PoolSettings& pool) {
  if (auto n = r.integer("pool_size", 0, 10000)) {
    pool.pool_size = *n;
  }
  if (auto n = r.integer("max_overflow", -1, 10000)) {
    pool.max_overflow = *n;
  }
  if (auto d = r.duration("pool_timeout")) {
    pool.pool_timeout = *d;
  }
  if (const json* v = r.find("pool_recycle"); v != nullptr) {
    if (v->is_null() || (v->is_number_integer() && v->get<int64_t>() == -1)) {
      pool.pool_recycle.reset();
    } else if (auto d = r.duration("pool_recycle", true)) {
      pool.pool_recycle = d;
    }
  }
  if (auto b = r.boolean("pool_pre_ping")) {
    pool.pool_pre_ping = *b;
  }
  if (auto b = r.boolean("use_lifo")) {
    pool.use_lifo = *b;
  }
  if (auto s = r.string("reset_on_return")) {
    if (*s == "rollback") {
      pool.reset_on_return = true;
    } else if (*s == "none") {
      pool.reset_on_return = false;
    } else {
      r.problem("reset_on_return", "must be \"rollback\" or \"none\"");
    }
  }
  if (auto s = r.string("poolclass")) {
    if (*s == "QueuePool") {
      pool.null_pool = false;
    } else if (*s == "NullPool") {
      pool.null_pool = true;
      // create_engine(poolclass=NullPool, pool_size=5) raises TypeError
      // ("Invalid argument(s) 'pool_size' sent to create_engine()"): NullPool
      // keeps nothing, so these say nothing.
      for (const char* key : {"pool_size", "max_overflow", "pool_timeout", "use_lifo"}) {
        if (r.has(key)) {
          r.problem(key, fmt::format("NullPool takes no {} (SQLAlchemy's create_engine raises "
                                     "TypeError: it keeps no connections and never waits)",
                                     key));
        }
      }
    } else {
      r.problem("poolclass", "must be \"QueuePool\" or \"NullPool\"");
    }
  }
  if (const json* c = r.find("connect"); c != nullptr) {
    auto cr = r.child(*c, r.at("connect"));
    read_connect(cr, pool.connect);
  }
}

void read_lifecycle(ObjectReader& r, Lifecycle& l) {
  if (auto e = r.string("end", true)) {
    if (*e == "exit") {
      l.end = Lifecycle::End::kExit;
    } else if (*e == "crash") {
      l.end = Lifecycle::End::kCrash;
    } else {
      r.problem("end", "must be \"exit\" (a clean exit) or \"crash\" (kill -9, OOM)");
    }
  }
  l.at = r.duration("at", true);
  l.after_units = r.integer("after_units", 1, 1'000'000'000);
  if (!r.has("at") && !r.has("after_units")) {
    r.problem("",
              "needs \"at\" (a time after each start) or \"after_units\" (units of work "
              "done by its workers)");
  } else if (r.has("at") && r.has("after_units")) {
    r.problem("after_units", "give at or after_units, not both");
  }
  l.restart_after = r.duration("restart_after");
  l.startup = r.duration("startup").value_or(ScaledDuration{});
  if (r.has("startup") && !r.has("restart_after")) {
    r.problem("startup", "is the start-up of a restarted process: give restart_after too");
  }
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

// "20/s", "300/m", "1000/h" -> per second.
std::optional<double> parse_rate(const std::string& text) {
  const auto slash = text.find('/');
  if (slash == std::string::npos) {
    return std::nullopt;
  }
  double count = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + slash, count);
  if (ec != std::errc{} || end != text.data() + slash || count < 0 || !std::isfinite(count)) {
    return std::nullopt;
  }
  const std::string unit = text.substr(slash + 1);
  const double seconds = unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : 0;
  if (seconds == 0) {
    return std::nullopt;
  }
  return count / seconds;
}

void read_stages(ObjectReader& r, const json& stages, WorkerGroup& w) {
  if (!stages.is_array() || stages.empty()) {
    r.problem("stages",
              "must be a non-empty array of {\"duration\", \"target\"} (closed model) "
              "or {\"duration\", \"rate\"} (open model)");
    return;
  }
  for (size_t i = 0; i < stages.size(); ++i) {
    auto sr = r.child(stages[i], fmt::format("{}/{}", r.at("stages"), i));
    Stage stage;
    if (auto d = sr.duration("duration")) {
      stage.duration = *d;
    } else if (!sr.has("duration")) {
      sr.problem("duration", "is required");
    }
    if (w.arrival_rate) {
      if (auto rate = sr.string("rate", true)) {
        if (auto parsed = parse_rate(*rate)) {
          stage.target = *parsed;
          check_rate(sr, "rate", *parsed, r.time_scale());
        } else {
          sr.problem("rate", "must be a rate like \"20/s\"");
        }
      }
    } else if (auto target = sr.integer("target", 0, w.count)) {
      stage.target = *target;
    } else if (!sr.has("target")) {
      sr.problem("target", "is required: how many of the group's workers run by the stage's end");
    }
    w.stages.push_back(stage);
  }
}

// The group's pattern, or its own steps.
void read_flow(ObjectReader& r, WorkerGroup& w, const PatternCatalog& catalog) {
  if (const json* steps = r.find("steps"); steps != nullptr) {
    if (r.has("pattern")) {
      r.problem("steps", "give a pattern or steps, not both");
    }
    w.pattern = kStepsPattern;
    w.steps = detail::read_steps(r, *steps);
    return;
  }
  const auto p = r.string("pattern");
  if (!p) {
    if (!r.has("pattern")) {
      r.problem("pattern", "is required (or write the group's own \"steps\": [...])");
    }
  } else if (*p == kStepsPattern) {
    r.problem("pattern", "a group's own flow is given as \"steps\": [...], not as a pattern");
  } else if (!catalog.exists(*p)) {
    r.problem("pattern",
              fmt::format("unknown pattern \"{}\" (known: {})", excerpt(*p), catalog.names()));
  } else {
    w.pattern = *p;
  }
}

void read_worker(ObjectReader& r, WorkerGroup& w, const PatternCatalog& catalog) {
  r.string("description");
  read_flow(r, w, catalog);
  w.name = r.string("name").value_or(w.pattern);
  if (r.has("name")) {
    check_identifier(r, "name", w.name);
  }
  w.count = r.integer("count", 1, 10000).value_or(1);
  w.iterations = r.integer("iterations", 1, 1'000'000'000);
  w.duration = r.duration("duration", true);
  if (w.iterations && w.duration) {
    r.problem("duration", "give iterations or duration, not both");
  }
  w.think_time = r.duration("think_time").value_or(ScaledDuration{});
  if (auto retry = r.string("connect_retry")) {
    if (*retry == "backoff") {
      w.connect_retry = WorkerGroup::ConnectRetry::kBackoff;
    } else if (*retry == "immediate") {
      w.connect_retry = WorkerGroup::ConnectRetry::kImmediate;
    } else {
      r.problem("connect_retry", "must be \"backoff\" (the default) or \"immediate\"");
    }
  }
  w.start_after = r.duration("start_after").value_or(ScaledDuration{});
  if (auto rate = r.string("arrival_rate")) {
    if (auto parsed = parse_rate(*rate)) {
      w.arrival_rate = ArrivalRate{*parsed};
      check_rate(r, "arrival_rate", *parsed, r.time_scale());
    } else {
      r.problem("arrival_rate", "must be a rate like \"20/s\", \"300/m\" or \"1000/h\"");
    }
  }
  if (w.arrival_rate && r.has("think_time")) {
    r.problem("think_time", "an open model (arrival_rate) paces units by arrivals, not think time");
  }
  if (const json* stages = r.find("stages"); stages != nullptr) {
    read_stages(r, *stages, w);
  }
  if (auto q = r.string("query")) {
    if (q->find_first_not_of(" \t\n;") == std::string::npos) {
      r.problem("query", "must not be empty");
    }
    w.query = q;
  }
  if (w.pattern == kStepsPattern) {
    if (r.has("options")) {
      r.find("options");
      r.problem("options", "options belong to a built-in pattern; steps say it all themselves");
    }
  } else if (const json* o = r.find("options"); o != nullptr) {
    if (!o->is_object()) {
      r.problem("options", "must be an object");
    } else {
      w.options = *o;
      if (!w.pattern.empty()) {
        catalog.check_options(w.pattern, *o, r.at("options"), r.time_scale(), r.problems());
      }
    }
  } else if (!w.pattern.empty()) {
    catalog.check_options(w.pattern, w.options, r.at("options"), r.time_scale(), r.problems());
  }
}

// "gc": "never", or the interval of the collector's automatic runs.
void read_gc(ObjectReader& r, GarbageCollector& gc) {
  gc.interval = ScaledDuration::scale(GarbageCollector::kDefaultInterval, r.time_scale());
  const json* v = r.find("gc");
  if (v == nullptr) {
    return;
  }
  if (!v->is_string()) {
    r.problem("gc", "must be \"never\" or a duration such as \"2s\"");
  } else if (*v == "never") {
    gc.interval.reset();
  } else {
    gc.interval = r.duration("gc", /*positive=*/true);  // or the reader's problem
  }
}

void read_process(ObjectReader& r, ProcessSpec& p, const PoolSettings& defaults,
                  const PatternCatalog& catalog) {
  r.string("description");
  if (auto n = r.string("name", true)) {
    p.name = *n;
    check_identifier(r, "name", p.name);
  }
  p.replicas = r.integer("replicas", 1, 10000).value_or(1);
  p.start_interval = r.duration("start_interval").value_or(ScaledDuration{});
  p.pool = defaults;
  if (const json* pool = r.find("pool"); pool != nullptr) {
    auto pr = r.child(*pool, r.at("pool"));
    read_pool(pr, p.pool);
  }
  if (const json* lifecycle = r.find("lifecycle"); lifecycle != nullptr) {
    auto lr = r.child(*lifecycle, r.at("lifecycle"));
    p.lifecycle.emplace();
    read_lifecycle(lr, *p.lifecycle);
  }
  read_gc(r, p.gc);
  const json* workers = r.find("workers");
  if (workers == nullptr || !workers->is_array() || workers->empty()) {
    r.problem("workers", "must be a non-empty array of worker groups");
    return;
  }
  std::set<std::string> names;
  for (size_t i = 0; i < workers->size(); ++i) {
    const auto pointer = fmt::format("{}/{}", r.at("workers"), i);
    auto wr = r.child((*workers)[i], pointer);
    WorkerGroup w;
    read_worker(wr, w, catalog);
    if (!w.name.empty() && !names.insert(w.name).second) {
      wr.problem("name", fmt::format("duplicate worker group name \"{}\" in this process; name the "
                                     "groups apart",
                                     excerpt(w.name)));
    }
    p.workers.push_back(std::move(w));
  }
}

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
    if (auto at = fr.duration("at")) {
      f.at = *at;
    } else if (!fr.has("at")) {
      fr.problem("at", "is required (when, from the start of the run, e.g. \"10s\")");
    }
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

int PgBouncerSettings::server_connections() const {
  const int pool = default_pool_size + reserve_pool_size;
  return max_db_connections > 0 ? std::min(pool, max_db_connections) : pool;
}

std::string_view to_string(Fault::Action action) {
  switch (action) {
    case Fault::Action::kTerminateBackends:
      return "terminate_backends";
    case Fault::Action::kCancelBackends:
      return "cancel_backends";
    case Fault::Action::kRestartServer:
      return "restart_server";
  }
  return "terminate_backends";
}

bool Scenario::needs_embedded_server() const {
  return std::any_of(faults.begin(), faults.end(),
                     [](const Fault& f) { return f.action == Fault::Action::kRestartServer; });
}

int64_t Scenario::total_workers() const {
  // Each factor is bounded by validation (replicas and count <= 10,000), the
  // number of groups by the file size: a 64-bit sum cannot overflow.
  int64_t total = 0;
  for (const auto& p : processes) {
    for (const auto& w : p.workers) {
      total += int64_t{p.replicas} * w.count;
    }
  }
  return total;
}

ScenarioError::ScenarioError(std::string file, std::vector<Problem> problems)
    : std::runtime_error(join_problems(file, problems)),
      file_(std::move(file)),
      problems_(std::move(problems)) {}

Scenario parse(const std::string& text, const std::string& source, const PatternCatalog& catalog,
               const LoadOptions& options) {
  std::vector<Problem> problems = detail::shape_problems(text);
  for (const auto& p : problems) {
    if (p.message.rfind("nested deeper", 0) == 0) {
      throw ScenarioError(source, {p});  // not worth building a tree for
    }
  }
  json doc;
  try {
    doc = json::parse(text, nullptr, true, /*ignore_comments=*/true);
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

  Scenario s;
  s.source_path = source;
  s.source_text = text;
  double time_scale = 1.0;
  if (!doc.is_object()) {
    throw ScenarioError(source, {{"", "must be a JSON object (a scenario)"}});
  }
  // time_scale first: every other duration is scaled by it as it is read. Its
  // own problems are reported by the full reader below.
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
  s.time_scale = time_scale;

  ObjectReader r{doc, "", problems, time_scale};
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
    s.server.max_connections = sr.integer("max_connections", 1, 10000).value_or(100);
    s.server.superuser_reserved_connections =
        sr.integer("superuser_reserved_connections", 0, 10000).value_or(3);
    if (s.server.superuser_reserved_connections >= s.server.max_connections) {
      sr.problem("superuser_reserved_connections", "must be less than max_connections");
    }
    if (const json* role = sr.find("role"); role != nullptr) {
      auto rr = sr.child(*role, "/server/role");
      s.server.app_role_superuser = rr.boolean("superuser").value_or(false);
      s.server.role_connection_limit = rr.integer("connection_limit", 0, 10000);
    }
    if (const json* db = sr.find("database"); db != nullptr) {
      auto dr = sr.child(*db, "/server/database");
      s.server.database_connection_limit = dr.integer("connection_limit", 0, 10000);
    }
  }
  if (const json* pgbouncer = r.find("pgbouncer"); pgbouncer != nullptr) {
    auto br = r.child(*pgbouncer, "/pgbouncer");
    s.pgbouncer = read_pgbouncer(br, problems);
    br.finish();
  }
  // SQLAlchemy's default pool_timeout, scaled like a written one.
  constexpr util::Micros kDefaultPoolTimeout = std::chrono::seconds{30};
  if (auto why = util::check_scaling(kDefaultPoolTimeout, time_scale)) {
    problems.push_back({"/time_scale", "the default pool_timeout " + *why});
  }
  s.pool.pool_timeout = ScaledDuration::scale(kDefaultPoolTimeout, time_scale);
  if (const json* pool = r.find("pool"); pool != nullptr) {
    auto pr = r.child(*pool, "/pool");
    read_pool(pr, s.pool);
  }
  const json* processes = r.find("processes");
  if (processes == nullptr || !processes->is_array() || processes->empty()) {
    r.problem("processes", "must be a non-empty array of processes");
  } else {
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
  s.leak_threshold = r.duration("leak_threshold", true);
  if (const json* expect = r.find("expect"); expect != nullptr) {
    read_expect(r, *expect, s);
  }
  if (const json* faults = r.find("faults"); faults != nullptr) {
    read_faults(r, *faults, s);
  }
  r.finish();
  if (problems.empty()) {
    check_tags_fit(s, options.shards, problems);
    // One pgleak process runs at most this many; a sharded run, this many per shard.
    constexpr int64_t kMaxWorkers = 5000;
    const int64_t busiest = busiest_shard_workers(s, options.shards);
    if (busiest > kMaxWorkers) {
      problems.push_back(
          {"/processes",
           options.shards > 1
               ? fmt::format("{} workers on the busiest of {} shards; a shard runs at most {} "
                             "(one thread each): use more shards",
                             busiest, options.shards, kMaxWorkers)
               : fmt::format("{} workers in all; pgleak runs at most {} (one thread each); "
                             "more need shards (pgleak run --shard I/N)",
                             busiest, kMaxWorkers)});
    }
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

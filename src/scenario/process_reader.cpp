// A process of a scenario, and the pool settings it (and the scenario) may
// give: the loader's readers for "pool" and "processes/N" (object_reader.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "scenario/object_reader.hpp"
#include "scenario/pool_kinds.hpp"

namespace pgleak::scenario::detail {
namespace {

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

// A connect is the server's own work (a fork, authentication), which time
// compression does not shorten: compressed below it, connect_timeout stops
// being a safety net and becomes a retry storm of abandoned backends (23
// workers at 10 s x 0.01 on a machine where a backend takes 20-50 ms to
// start). Compression stops at libpq's own minimum, 2 s; a value written
// below that is kept as written, and an uncompressed run is untouched.
constexpr util::Micros kConnectTimeoutFloor = std::chrono::seconds{2};

void read_connect(ObjectReader& r, ConnectArgs& args) {
  if (auto d = r.duration("connect_timeout", true)) {
    d->applied = std::max(d->applied, std::min(d->nominal, kConnectTimeoutFloor));
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
  read_client_tcp(r, args);
}

// Reads a pool object over `pool`: only the keys present override it, which is
// how a process's "pool" refines the scenario's.
}  // namespace

namespace {

void read_sqlalchemy(ObjectReader& r, PoolSettings& pool);

// A kind's own settings at their defaults, scaled like written ones.
void fill_defaults(ObjectReader& r, const PoolKind& kind, PoolSettings& pool) {
  pool.own.clear();
  if (kind.name == kSqlAlchemyKind) {
    return;  // its settings are PoolSettings' own fields
  }
  for (const auto& setting : kind.settings) {
    KindValue v;
    const std::string text{setting.default_value};
    if (setting.type == KindSetting::Type::kInt) {
      v.number = std::stoi(text);
    } else if (setting.type == KindSetting::Type::kBool) {
      v.flag = text == "true";
    } else if (setting.type == KindSetting::Type::kDuration) {
      // The table's defaults parse (tests/unit/pool_kinds_test.cpp).
      const auto d = util::parse_duration(text, nullptr).value_or(util::Micros{0});
      if (auto why = util::check_scaling(d, r.time_scale())) {
        r.problem("kind", fmt::format("the default {} {}", setting.name, *why));
      }
      v.duration = ScaledDuration::scale(d, r.time_scale());
    }
    pool.own.emplace(std::string{setting.name}, v);
  }
}

std::optional<ScaledDuration> own_duration(ObjectReader& r, const KindSetting& setting) {
  const std::string name{setting.name};
  const auto d = r.raw_duration(name);
  if (!d) {
    return std::nullopt;
  }
  const auto least = std::chrono::milliseconds{setting.min};
  if (*d < least && !(setting.zero_off && d->count() == 0)) {
    r.problem(name, fmt::format("must be at least {}ms{}", setting.min,
                                setting.zero_off ? " (or 0: off)" : ""));
    return std::nullopt;
  }
  if (auto why = util::check_scaling(*d, r.time_scale())) {
    r.problem(name, *why);
    return std::nullopt;
  }
  return ScaledDuration::scale(*d, r.time_scale());
}

// The settings of a kind other than SQLAlchemy's, by its library's names.
void read_own(ObjectReader& r, const PoolKind& kind, PoolSettings& pool) {
  std::string names;
  for (const auto& own : kind.settings) {
    names += (names.empty() ? "" : ", ") + std::string{own.name};
  }
  for (const auto& setting : find_pool_kind(kSqlAlchemyKind)->settings) {
    const std::string name{setting.name};
    if (r.find(name) != nullptr) {
      r.problem(name, fmt::format("is a SQLAlchemy setting; a {} pool takes {}", kind.name, names));
    }
  }
  for (const auto& setting : kind.settings) {
    auto& value = pool.own[std::string{setting.name}];
    const std::string name{setting.name};
    if (setting.type == KindSetting::Type::kInt) {
      value.number = r.integer(name, setting.min, setting.max).value_or(value.number);
    } else if (setting.type == KindSetting::Type::kBool) {
      value.flag = r.boolean(name).value_or(value.flag);
    } else if (setting.type == KindSetting::Type::kDuration) {
      value.duration = own_duration(r, setting).value_or(value.duration);
    }
  }
  for (const auto& [name, why] : kind.check(pool)) {
    r.problem(name, why);
  }
}

}  // namespace

// Reads a pool object over `pool`: only the keys present override it, which is
// how a process's "pool" refines the scenario's. A "kind" other than the one
// refined starts from that kind's defaults.
void read_pool(ObjectReader& r, PoolSettings& pool) {
  if (auto k = r.string("kind")) {
    const auto* kind = find_pool_kind(*k);
    if (kind == nullptr) {
      std::string names;
      for (const auto& known : pool_kinds()) {
        names += (names.empty() ? "\"" : ", \"") + std::string{known.name} + "\"";
      }
      r.problem("kind", "must be one of " + names);
    } else if (*k != pool.kind) {
      pool.kind = *k;
      fill_defaults(r, *kind, pool);
    }
  }
  if (pool.kind != kSqlAlchemyKind) {
    read_own(r, kind_of(pool), pool);
  } else {
    read_sqlalchemy(r, pool);
  }
  if (const json* c = r.find("connect"); c != nullptr) {
    auto cr = r.child(*c, r.at("connect"));
    read_connect(cr, pool.connect);
  }
}

namespace {

void read_sqlalchemy(ObjectReader& r, PoolSettings& pool) {
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
}

}  // namespace

namespace {

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

}  // namespace

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

}  // namespace pgleak::scenario::detail

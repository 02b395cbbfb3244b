#include "report/json_report.hpp"

#include <filesystem>
#include <fstream>

#include "analysis/budget.hpp"
#include "record/record_json.hpp"
#include "record/run_result_json.hpp"
#include "scenario/pool_kinds.hpp"
#include "util/errors.hpp"

namespace pgleak::report {
namespace {

using nlohmann::json;

json duration_json(const util::ScaledDuration& d) {
  return {{"nominal_s", util::to_seconds(d.nominal)}, {"applied_s", util::to_seconds(d.applied)}};
}

template <typename T>
json optional_duration(const std::optional<T>& d) {
  return d ? duration_json(*d) : json(nullptr);
}

json connect_json(const scenario::ConnectArgs& c) {
  return {{"connect_timeout", optional_duration(c.connect_timeout)},
          {"statement_timeout", optional_duration(c.statement_timeout)},
          {"idle_in_transaction_session_timeout",
           optional_duration(c.idle_in_transaction_session_timeout)},
          {"application_name", c.application_name ? json(*c.application_name) : json(nullptr)},
          {"keepalives", c.keepalives ? json(*c.keepalives) : json(nullptr)},
          {"keepalives_idle", optional_duration(c.keepalives_idle)},
          {"keepalives_interval", optional_duration(c.keepalives_interval)},
          {"keepalives_count", c.keepalives_count ? json(*c.keepalives_count) : json(nullptr)},
          {"tcp_user_timeout", optional_duration(c.tcp_user_timeout)}};
}

// Another library's pool: its settings by its own names.
json own_pool_json(const scenario::PoolSettings& p) {
  const auto& kind = scenario::kind_of(p);
  json settings = json::object();
  for (const auto& s : kind.settings) {
    const auto& v = p.own.at(std::string{s.name});
    settings[std::string{s.name}] = s.type == scenario::KindSetting::Type::kDuration
                                        ? duration_json(v.duration)
                                    : s.type == scenario::KindSetting::Type::kBool ? json(v.flag)
                                                                                   : json(v.number);
  }
  return {{"kind", kind.name},
          {"library", kind.library},
          {"settings", std::move(settings)},
          {"checkout_timeout", duration_json(p.own_duration(kind.timeout_setting))},
          {"connect", connect_json(p.connect)}};
}

json pool_json(const scenario::PoolSettings& p) {
  if (p.kind != scenario::kSqlAlchemyKind) {
    return own_pool_json(p);
  }
  return {{"kind", p.kind},
          {"library", scenario::kind_of(p).library},
          {"checkout_timeout", duration_json(p.pool_timeout)},
          {"pool_size", p.pool_size},
          {"max_overflow", p.max_overflow},
          {"pool_timeout", duration_json(p.pool_timeout)},
          {"pool_recycle", optional_duration(p.pool_recycle)},
          {"pool_pre_ping", p.pool_pre_ping},
          {"use_lifo", p.use_lifo},
          {"reset_on_return", p.reset_on_return ? "rollback" : "none"},
          {"poolclass", p.null_pool ? "NullPool" : "QueuePool"},
          {"connect", connect_json(p.connect)}};
}

json stages_json(const std::vector<scenario::Stage>& stages) {
  json out = json::array();
  for (const auto& st : stages) {
    out.push_back({{"duration", duration_json(st.duration)}, {"target", st.target}});
  }
  return out;
}

// Checkout waits in coarse bins (upper bounds in ms, each bin the count
// above the previous bound), up to the first bin that holds the longest.
json wait_histogram(const util::LatencyHistogram* waits) {
  json bins = json::array();
  if (waits == nullptr || waits->count() == 0) {
    return bins;
  }
  static constexpr double kEdgesMs[] = {0.1,   0.5,   1,     2,      5,      10,   20,
                                        50,    100,   200,   500,    1000,   2000, 5000,
                                        10000, 30000, 60000, 300000, 3600000};
  uint64_t below = 0;
  for (const double edge : kEdgesMs) {
    const auto at_most = waits->count_at_most(util::Micros{static_cast<int64_t>(edge * 1000)});
    bins.push_back({{"le_ms", edge}, {"count", at_most - below}});
    below = at_most;
    if (below >= waits->count()) {
      return bins;
    }
  }
  bins.push_back({{"le_ms", nullptr}, {"count", waits->count() - below}});  // longer still
  return bins;
}

// A group's steps as written, with each duration nominal and applied.
json steps_json(const std::vector<scenario::Step>& steps) {
  json out = json::array();
  for (const auto& st : steps) {
    const std::string key{scenario::step_kind(st.op).key};
    json j = json::object();
    switch (st.op) {
      case scenario::Step::Op::kSleep:
        j[key] = st.sleep ? duration_json(*st.sleep) : json("process_end");
        break;
      case scenario::Step::Op::kRaise:
        j[key] = st.message;
        break;
      case scenario::Step::Op::kDispose:
      case scenario::Step::Op::kCollect:
        j[key] = true;
        break;
      case scenario::Step::Op::kLoop:
      case scenario::Step::Op::kTry:
        j[key] = steps_json(st.body);
        break;
      default:
        j[key] = st.session;
    }
    if (st.shared) {
      j["shared"] = true;
    }
    if (st.sql) {
      j["sql"] = *st.sql;
    }
    if (st.after) {
      j["after"] = duration_json(*st.after);
    }
    if (st.probability < 1.0) {
      j["probability"] = st.probability;
    }
    if (st.catches) {
      j["except"] = steps_json(st.handler);
    }
    if (!st.cleanup.empty()) {
      j["finally"] = steps_json(st.cleanup);
    }
    out.push_back(std::move(j));
  }
  return out;
}

json pgbouncer_json(const std::optional<scenario::PgBouncerSettings>& b) {
  if (!b) {
    return nullptr;
  }
  return {{"pool_mode", scenario::to_string(b->pool_mode)},
          {"default_pool_size", b->default_pool_size},
          {"min_pool_size", b->min_pool_size},
          {"reserve_pool_size", b->reserve_pool_size},
          {"reserve_pool_timeout", duration_json(b->reserve_pool_timeout)},
          {"max_client_conn", b->max_client_conn},
          {"max_db_connections", b->max_db_connections},
          {"server_idle_timeout", duration_json(b->server_idle_timeout)},
          {"server_lifetime", duration_json(b->server_lifetime)},
          {"query_wait_timeout", duration_json(b->query_wait_timeout)},
          {"idle_transaction_timeout", duration_json(b->idle_transaction_timeout)},
          {"ignore_startup_parameters", b->ignore_startup_parameters},
          {"server_connections", b->server_connections()}};
}

json lifecycle_json(const std::optional<scenario::Lifecycle>& l) {
  if (!l) {
    return nullptr;
  }
  return {{"end", l->end == scenario::Lifecycle::End::kCrash ? "crash" : "exit"},
          {"at", optional_duration(l->at)},
          {"after_units", l->after_units ? json(*l->after_units) : json(nullptr)},
          {"restart_after", optional_duration(l->restart_after)},
          {"startup", duration_json(l->startup)}};
}

// Where the run's full record went, or null without one.
json side_file_json(const record::SideFile::Status& f) {
  if (f.path.empty()) {
    return nullptr;
  }
  return {{"path", f.path},
          {"format", "pgleak.timeline/1 (gzip JSON Lines)"},
          {"lines", f.lines},
          {"dropped_lines", f.dropped},
          {"compressed_bytes", f.compressed_bytes},
          {"error", f.error.empty() ? json(nullptr) : json(f.error)}};
}

// The most worker sessions open at once on pgleak's side, or null for a
// merge (the shards' peaks need not have come at once).
json sessions_peak_json(const record::RunResult& r) {
  if (!r.sessions_peak) {
    return nullptr;
  }
  const auto& p = *r.sessions_peak;
  return {{"open", p.open}, {"at_s", p.open > 0 ? json(p.at_s) : json(nullptr)}};
}

json shard_json(const record::ShardOutcome& shard, const scenario::Scenario& sc,
                const record::RunResult& r) {
  json replicas = json::array();
  for (const auto& ref : shard.replicas) {
    replicas.push_back({{"process", sc.processes[ref.process].name}, {"replica", ref.replica}});
  }
  const auto histogram = [](const auto& h) {
    return h ? record::histogram_json(*h) : json(nullptr);
  };
  json start_delays = json::array();
  for (const auto& l : r.loads) {
    start_delays.push_back(histogram(l.start_delays));
  }
  return {{"index", shard.shard.index},
          {"count", shard.shard.count},
          {"run_name", shard.run_name},
          {"scenario_digest", sc.digest},
          {"scenario_text", sc.source_text},
          {"time_scale", sc.time_scale},
          {"samples_server", shard.samples_server},
          {"barrier_wait_s", shard.barrier_wait_s},
          {"started_at_unix_ms", shard.started_at_unix_ms},
          {"replicas", replicas},
          {"events_by_kind", r.events_by_kind},
          {"connect_attempts", r.connect_attempts},
          {"target_info", record::target_info_json(r.target)},
          {"histograms",
           {{"checkout_waits", histogram(r.checkout_waits)},
            {"timeout_lateness", histogram(r.timeout_lateness)},
            {"load_start_delays", start_delays}}}};
}

// The scenario's network faults, as it gave them.
json network_faults_json(const scenario::Scenario& s) {
  json network = json::array();
  for (const auto& f : s.network_faults) {
    json fault = {{"at", duration_json(f.at)},
                  {"for", optional_duration(f.lasts)},
                  {"action", scenario::to_string(f.action)},
                  {"target", f.target}};
    if (!scenario::kernel_fault(f.action)) {
      fault["delay"] = optional_duration(f.delay);
      fault["jitter"] = optional_duration(f.jitter);
      fault["rate_bytes_per_s"] =
          f.rate_nominal > 0 ? json{{"nominal", f.rate_nominal}, {"applied", f.rate_applied}}
                             : json(nullptr);
      fault["direction"] = scenario::to_string(f.direction);
    }
    network.push_back(std::move(fault));
  }
  return network;
}

}  // namespace

json scenario_json(const scenario::Scenario& s) {
  json processes = json::array();
  for (const auto& p : s.processes) {
    json workers = json::array();
    for (const auto& w : p.workers) {
      workers.push_back(
          {{"name", w.name},
           {"pattern", w.pattern},
           {"count", w.count},
           {"iterations", w.iterations ? json(*w.iterations) : json(nullptr)},
           {"duration", optional_duration(w.duration)},
           {"think_time", duration_json(w.think_time)},
           {"connect_retry", w.connect_retry == scenario::WorkerGroup::ConnectRetry::kImmediate
                                 ? "immediate"
                                 : "backoff"},
           {"start_after", duration_json(w.start_after)},
           {"arrival_rate_per_s", w.arrival_rate
                                      ? json{{"nominal", w.arrival_rate->per_second},
                                             {"applied", w.arrival_rate->per_second / s.time_scale}}
                                      : json(nullptr)},
           {"stages", stages_json(w.stages)},
           {"query", w.query ? json(*w.query) : json(nullptr)},
           {"options", w.options},
           {"steps", w.steps.empty() ? json(nullptr) : steps_json(w.steps)}});
    }
    processes.push_back({{"name", p.name},
                         {"replicas", p.replicas},
                         {"start_interval", duration_json(p.start_interval)},
                         {"pool", pool_json(p.pool)},
                         {"lifecycle", lifecycle_json(p.lifecycle)},
                         {"gc", p.gc.interval ? duration_json(*p.gc.interval) : json("never")},
                         {"workers", workers}});
  }
  json faults = json::array();
  for (const auto& f : s.faults) {
    faults.push_back({{"at", duration_json(f.at)},
                      {"action", scenario::to_string(f.action)},
                      {"target", f.target}});
  }
  json expect = json::object();
  for (const auto& e : s.expect) {
    expect[e.metric] = {{"expr", e.text}, {"abort_on_fail", e.abort_on_fail}};
  }
  return {{"name", s.name},
          {"description", s.description},
          {"leak_threshold", optional_duration(s.leak_threshold)},
          {"expect", expect},
          {"source", s.source_path},
          {"time_scale", s.time_scale},
          {"duration", duration_json(s.duration)},
          {"sample_interval_ms", util::to_millis(s.sample_interval)},
          {"server",
           {{"max_connections", s.server.max_connections},
            {"superuser_reserved_connections", s.server.superuser_reserved_connections},
            {"tcp_keepalives_idle", optional_duration(s.server.tcp_keepalives_idle)},
            {"tcp_keepalives_interval", optional_duration(s.server.tcp_keepalives_interval)},
            {"tcp_keepalives_count",
             s.server.tcp_keepalives_count ? json(*s.server.tcp_keepalives_count) : json(nullptr)},
            {"tcp_user_timeout", optional_duration(s.server.tcp_user_timeout)}}},
          {"pool", pool_json(s.pool)},
          {"pgbouncer", pgbouncer_json(s.pgbouncer)},
          {"processes", processes},
          {"faults", faults},
          {"network", {{"faults", network_faults_json(s)}}}};
}

json build_report(const scenario::Scenario& sc, const record::RunResult& r,
                  const analysis::Summary& s, const analysis::Verdict& v) {
  json samples = json::array();
  for (const auto& sample : r.samples) {
    samples.push_back(record::sample_json(sample));
  }
  json events = json::array();
  for (const auto& e : r.events) {
    events.push_back(record::event_json(e));
  }
  json pools = json::array();
  for (const auto& p : r.pools) {
    pools.push_back(record::pool_outcome_json(p));
  }
  json loads = json::array();
  for (const auto& l : r.loads) {
    loads.push_back(record::load_outcome_json(l));
  }
  json holders = json::array();
  for (const auto& h : r.holders) {
    holders.push_back(record::holder_json(h));
  }
  json network = json::array();
  for (const auto& f : r.network_faults) {
    network.push_back(record::network_fault_outcome_json(f));
  }
  return {
      {"schema", kReportSchema},
      {"run",
       {{"id", r.run_id},
        {"started_at", r.started_at_utc},
        {"wall_s", r.wall_s},
        {"status", record::to_string(r.status)},
        {"status_detail", r.status_detail.empty() ? json(nullptr) : json(r.status_detail)},
        {"engine", r.engine.empty() ? json(nullptr) : json(r.engine)},
        {"engine_threads", r.engine_threads > 0 ? json(r.engine_threads) : json(nullptr)},
        {"sessions_peak", sessions_peak_json(r)}}},
      {"scenario", scenario_json(sc)},
      {"target", record::target_json(r.target)},
      {"server_log",
       {{"available", r.server_log_available},
        {"note", r.server_log_note.empty() ? json(nullptr) : json(r.server_log_note)}}},
      {"sampler",
       {{"interval_ms", util::to_millis(sc.sample_interval)},
        {"samples", r.series.taken},
        {"samples_kept", r.samples.size()},
        {"downsampled", r.samples.size() < r.series.taken},
        {"missed_intervals", r.sampler_missed_intervals},
        {"max_lag_ms", r.sampler_max_lag_ms}}},
      {"side_file", side_file_json(r.side_file)},
      {"budget", analysis::budget_json(s.budget)},
      {"samples", samples},
      {"events", events},
      {"events_dropped", r.events_dropped},
      {"pools", pools},
      {"loads", loads},
      {"holders", holders},
      {"network", network},
      {"summary", analysis::summary_json(s)},
      {"checkout_wait_histogram", wait_histogram(r.checkout_waits.get())},
      {"cleanup",
       {{"leftover_backends_terminated", r.leftover_backends_terminated},
        {"checked", r.cleanup_checked},
        {"note", r.cleanup_note.empty() ? json(nullptr) : json(r.cleanup_note)}}},
      {"verdict", analysis::verdict_json(v)},
      {"shard", r.shard ? shard_json(*r.shard, sc, r) : json(nullptr)},
  };
}

std::string report_text(const json& document) {
  return document.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace pgleak::report

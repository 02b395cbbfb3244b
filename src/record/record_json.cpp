#include "record/record_json.hpp"

namespace pgleak::record {

using nlohmann::json;

json sample_json(const Sample& sample) {
  json pools = json::array();
  for (const auto& p : sample.pools) {
    json pool = {{"process", p.process}};
    if (p.replica < 0) {
      pool["replicas"] = p.replicas;
    } else {
      pool["replica"] = p.replica;
    }
    pool["checked_out"] = p.checked_out;
    pool["idle"] = p.idle;
    pool["overflow"] = p.overflow;
    pool["waiting"] = p.waiting;
    pool["open"] = p.open;
    pools.push_back(std::move(pool));
  }
  json out = {{"t_s", sample.t_s},
              {"total", sample.total},
              {"own", sample.own},
              {"by_state", sample.by_state},
              {"by_application", sample.by_application},
              {"by_process", sample.by_process},
              {"pools", std::move(pools)},
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

std::string json_line(json document, const char* type) {
  document["type"] = type;
  return document.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace pgleak::record

#include "run/fleet.hpp"

#include <algorithm>

namespace pgleak::run {
namespace {

std::chrono::milliseconds to_ms(const util::ScaledDuration& d) {
  // PostgreSQL's timeouts are whole milliseconds, and 0 would mean "off".
  return std::max(std::chrono::milliseconds{1},
                  std::chrono::duration_cast<std::chrono::milliseconds>(d.applied));
}

}  // namespace

db::SessionSettings session_settings(const scenario::ConnectArgs& args) {
  db::SessionSettings s;
  if (args.connect_timeout) {
    s.connect_timeout = to_ms(*args.connect_timeout);
  }
  if (args.statement_timeout) {
    s.statement_timeout = to_ms(*args.statement_timeout);
  }
  if (args.idle_in_transaction_session_timeout) {
    s.idle_in_transaction_session_timeout = to_ms(*args.idle_in_transaction_session_timeout);
  }
  const auto seconds = [](const util::ScaledDuration& d) {  // whole, >= 1 (the loader checked)
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d.applied).count());
  };
  if (args.keepalives) {
    s.libpq_tcp.emplace_back("keepalives", *args.keepalives ? "1" : "0");
  }
  if (args.keepalives_idle) {
    s.libpq_tcp.emplace_back("keepalives_idle", seconds(*args.keepalives_idle));
  }
  if (args.keepalives_interval) {
    s.libpq_tcp.emplace_back("keepalives_interval", seconds(*args.keepalives_interval));
  }
  if (args.keepalives_count) {
    s.libpq_tcp.emplace_back("keepalives_count", std::to_string(*args.keepalives_count));
  }
  if (args.tcp_user_timeout) {
    s.libpq_tcp.emplace_back("tcp_user_timeout",
                             std::to_string(to_ms(*args.tcp_user_timeout).count()));
  }
  return s;
}

Fleet::Fleet(const scenario::Scenario& sc, const db::ConnInfo& app, const std::stop_token& stop,
             const std::optional<scenario::ShardRef>& shard) {
  for (const auto& ref : scenario::replicas_of(sc, shard)) {
    const auto& spec = sc.processes[ref.process];
    replicas_.push_back(std::make_unique<workload::ProcessReplica>(
        spec, ref.replica, sc.time_scale, [&](db::SocketRegistry& sockets) {
          sockets.count_in(&sessions_);
          return std::make_unique<db::PgConnectionFactory>(app, session_settings(spec.pool.connect),
                                                           &sockets, stop);
        }));
  }
}

int Fleet::cut_sockets() {
  int cut = 0;
  for (auto& rep : replicas_) {
    cut += rep->sockets().shutdown_all();
  }
  return cut;
}

std::vector<record::PoolSample> Fleet::pool_samples() const {
  std::vector<record::PoolSample> pools;
  pools.reserve(replicas_.size());
  for (const auto& rep : replicas_) {
    const auto s = rep->pool().stats();
    // What the process holds, the pools engine.dispose() replaced included.
    pools.push_back({rep->spec().name, rep->replica(), s.checked_out + s.retired_out,
                     s.idle + s.retired_idle, s.overflow, s.waiting, s.open});
  }
  return pools;
}

std::string Fleet::last_holder(const std::string& process, int replica, int pid) const {
  for (const auto& rep : replicas_) {
    if (rep->spec().name == process && rep->replica() == replica) {
      return rep->pool().last_holder(pid);
    }
  }
  return {};
}

}  // namespace pgleak::run

#include "analysis/budget.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "scenario/pool_kinds.hpp"
#include "scenario/shard.hpp"

namespace pgleak::analysis {

Budget compute_budget(const scenario::Scenario& sc, const probe::ServerLimits& limits) {
  Budget b;
  b.limits = limits;
  b.available = limits.max_connections - limits.superuser_reserved_connections -
                limits.reserved_connections - limits.other_clients;
  // The role's limit is the workers' own; the database's counts every
  // session in it, the other clients' too.
  if (limits.role_connection_limit >= 0) {
    b.available = std::min(b.available, limits.role_connection_limit);
  }
  if (limits.database_connection_limit >= 0) {
    b.available = std::min(b.available, limits.database_connection_limit - limits.other_clients);
  }
  for (const auto& p : sc.processes) {
    ProcessBudget pb;
    pb.name = p.name;
    pb.replicas = p.replicas;
    const auto& kind = scenario::kind_of(p.pool);
    pb.kind = kind.name;
    pb.eager = kind.eager(p.pool);
    const bool sqlalchemy = kind.name == scenario::kSqlAlchemyKind;
    pb.pool_size = sqlalchemy ? p.pool.pool_size : kind.capacity(p.pool);
    pb.max_overflow = sqlalchemy ? p.pool.max_overflow : 0;
    // NullPool has no cap, and each engine.dispose() gives the process a new
    // pool's worth beside what the old one still has out.
    pb.unbounded_by = !sqlalchemy               ? ""
                      : p.pool.null_pool        ? "NullPool"
                      : p.pool.max_overflow < 0 ? "max_overflow -1"
                      : p.pool.pool_size == 0   ? "pool_size 0"
                                                : "";
    bool uses_pool = false;
    for (const auto& w : p.workers) {
      if (w.pattern == "connection_per_task") {
        pb.pool_less += w.count;
      } else {
        uses_pool = true;
      }
      if (pb.unbounded_by.empty() && scenario::any_step(w.steps, [](const scenario::Step& s) {
            return s.op == scenario::Step::Op::kDispose;
          })) {
        pb.unbounded_by = "engine.dispose()";
      }
    }
    pb.unbounded = !pb.unbounded_by.empty();
    // An eager pool holds its minimum even when no worker asks.
    const int pool_cap = uses_pool && !pb.unbounded ? pb.pool_size + pb.max_overflow : pb.eager;
    pb.unbounded = pb.unbounded && uses_pool;
    if (!pb.unbounded) {
      pb.unbounded_by.clear();
    }
    pb.per_replica = pool_cap + pb.pool_less;
    pb.worst_case = pb.replicas * pb.per_replica;
    b.worst_case += pb.worst_case;
    b.unbounded = b.unbounded || pb.unbounded;
    b.processes.push_back(pb);
  }
  if (sc.pgbouncer) {
    PgBouncerBudget pb;
    pb.clients = b.worst_case;
    pb.clients_unbounded = b.unbounded;
    pb.max_client_conn = sc.pgbouncer->max_client_conn;
    pb.clients_fit = !pb.clients_unbounded && pb.clients <= pb.max_client_conn;
    pb.server_connections = sc.pgbouncer->server_connections();
    // The server sees PgBouncer's connections, however many clients wait.
    b.worst_case = pb.server_connections;
    b.unbounded = false;
    b.headroom = b.available - b.worst_case;
    b.fits = b.headroom >= 0 && pb.clients_fit;
    b.pgbouncer = pb;
    return b;
  }
  b.headroom = b.available - b.worst_case;
  b.fits = !b.unbounded && b.headroom >= 0;
  return b;
}

std::string worst_case_text(const Budget& b) {
  if (!b.unbounded) {
    return fmt::format("{} connections", b.worst_case);
  }
  std::string why;
  for (const auto& p : b.processes) {
    if (p.unbounded) {
      why += fmt::format("{}{}: {}", why.empty() ? "" : "; ", p.name, p.unbounded_by);
    }
  }
  return fmt::format("unbounded ({}; {} connections from the bounded pools)", why, b.worst_case);
}

std::string format_budget(const scenario::Scenario& sc, const Budget& b) {
  std::string out = fmt::format(
      "{}: worst case {} vs {} available ({}{}): {}\n", sc.name, worst_case_text(b), b.available,
      probe::explain_limit(b.limits),
      b.limits.other_clients > 0 ? fmt::format(", less {} other clients", b.limits.other_clients)
                                 : "",
      b.fits        ? fmt::format("FITS ({} to spare)", b.headroom)
      : b.unbounded ? "CANNOT BE BOUNDED"
                    : fmt::format("DOES NOT FIT (over by {})", -b.headroom));
  out += fmt::format("  {:<24} {:>8} {:>24} {:>11} {:>9} {:>10}\n", "process", "replicas",
                     "pool (most+overflow)", "per replica", "pool-less", "worst case");
  for (const auto& p : b.processes) {
    const auto pool = p.kind == scenario::kSqlAlchemyKind
                          ? fmt::format("{}+{}", p.pool_size, p.max_overflow)
                          : fmt::format("{} {}{}", p.kind, p.pool_size,
                                        p.eager > 0 ? fmt::format(" ({} at start)", p.eager) : "");
    out += fmt::format("  {:<24} {:>8} {:>24} {:>11} {:>9} {:>10}\n", p.name, p.replicas, pool,
                       p.unbounded ? std::string{"unbounded"} : std::to_string(p.per_replica),
                       p.pool_less, p.unbounded ? std::string{"-"} : std::to_string(p.worst_case));
  }
  if (b.pgbouncer) {
    const auto& pb = *b.pgbouncer;
    out += fmt::format(
        "  through PgBouncer ({} pooling): the workers' {}{} connections are its clients, "
        "against max_client_conn {}: {}; the server sees at most its {} server connections\n",
        scenario::to_string(sc.pgbouncer->pool_mode), pb.clients,
        pb.clients_unbounded ? "+ (unbounded pools)" : "", pb.max_client_conn,
        pb.clients_fit ? "fits" : "DOES NOT FIT", pb.server_connections);
  }
  return out;
}

nlohmann::json budget_json(const Budget& b) {
  nlohmann::json processes = nlohmann::json::array();
  for (const auto& p : b.processes) {
    processes.push_back(
        {{"name", p.name},
         {"replicas", p.replicas},
         {"kind", p.kind},
         {"pool_size", p.pool_size},
         {"max_overflow", p.max_overflow},
         {"eager", p.eager},
         {"unbounded", p.unbounded},
         {"unbounded_by", p.unbounded ? nlohmann::json(p.unbounded_by) : nlohmann::json(nullptr)},
         {"per_replica", p.per_replica},
         {"pool_less", p.pool_less},
         {"worst_case", p.worst_case}});
  }
  return {{"max_connections", b.limits.max_connections},
          {"superuser_reserved_connections", b.limits.superuser_reserved_connections},
          {"reserved_connections", b.limits.reserved_connections},
          {"other_clients", b.limits.other_clients},
          {"role_connection_limit", b.limits.role_connection_limit},
          {"database_connection_limit", b.limits.database_connection_limit},
          {"available", b.available},
          {"worst_case", b.worst_case},
          {"unbounded", b.unbounded},
          {"worst_case_text", worst_case_text(b)},
          {"limit_explained", probe::explain_limit(b.limits)},
          {"fits", b.fits},
          {"headroom", b.headroom},
          {"processes", processes},
          {"pgbouncer",
           b.pgbouncer ? nlohmann::json{{"clients", b.pgbouncer->clients},
                                        {"clients_unbounded", b.pgbouncer->clients_unbounded},
                                        {"max_client_conn", b.pgbouncer->max_client_conn},
                                        {"clients_fit", b.pgbouncer->clients_fit},
                                        {"server_connections", b.pgbouncer->server_connections}}
                       : nlohmann::json(nullptr)}};
}

std::vector<ShardBudget> shard_budgets(const scenario::Scenario& sc, const Budget& b, int shards) {
  std::vector<ShardBudget> out;
  const auto split = scenario::split_replicas(sc, shards);
  for (size_t i = 0; i < split.size(); ++i) {
    ShardBudget sb;
    sb.index = static_cast<int>(i);
    sb.workers = scenario::workers_of(sc, split[i]);
    for (const auto& ref : split[i]) {
      const auto& spec = sc.processes[ref.process];
      const auto& pb = b.processes[ref.process];
      if (sb.replicas.empty() || sb.replicas.back().first != spec.name) {
        sb.replicas.emplace_back(spec.name, 0);
      }
      ++sb.replicas.back().second;
      sb.unbounded = sb.unbounded || pb.unbounded;
      sb.worst_case += pb.unbounded ? 0 : pb.per_replica;
    }
    out.push_back(std::move(sb));
  }
  return out;
}

std::string format_shard_budgets(const std::vector<ShardBudget>& shards) {
  std::string out = fmt::format(
      "as {} shards (replica g of the scenario, counted in file order, runs on shard g mod {}):\n",
      shards.size(), shards.size());
  out += fmt::format("  {:<6} {:>8} {:>10}  {}\n", "shard", "workers", "worst case",
                     "process replicas");
  for (const auto& s : shards) {
    std::string replicas;
    for (const auto& [name, n] : s.replicas) {
      replicas += fmt::format("{}{} x{}", replicas.empty() ? "" : ", ", name, n);
    }
    out +=
        fmt::format("  {:<6} {:>8} {:>10}  {}\n", s.index, s.workers,
                    s.unbounded ? fmt::format("{}+", s.worst_case) : std::to_string(s.worst_case),
                    replicas.empty() ? std::string{"(none)"} : replicas);
  }
  return out;
}

nlohmann::json shard_budgets_json(const std::vector<ShardBudget>& shards) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : shards) {
    nlohmann::json replicas = nlohmann::json::object();
    for (const auto& [name, n] : s.replicas) {
      replicas[name] = n;
    }
    out.push_back({{"index", s.index},
                   {"workers", s.workers},
                   {"worst_case", s.worst_case},
                   {"unbounded", s.unbounded},
                   {"replicas", replicas}});
  }
  return out;
}

probe::ServerLimits scenario_limits(const scenario::Scenario& sc, int max_connections,
                                    int superuser_reserved) {
  return probe::limits_for(max_connections, superuser_reserved, sc.server.app_role_superuser,
                           /*connections_before=*/-1, sc.server.role_connection_limit.value_or(-1),
                           sc.server.database_connection_limit.value_or(-1));
}

probe::ServerLimits scenario_limits(const scenario::Scenario& sc) {
  return scenario_limits(sc, sc.server.max_connections, sc.server.superuser_reserved_connections);
}

}  // namespace pgleak::analysis

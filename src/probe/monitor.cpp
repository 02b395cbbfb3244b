#include "probe/monitor.hpp"

#include <fmt/format.h>

#include "db/own_session.hpp"
#include "util/errors.hpp"
#include "util/text.hpp"

namespace pgleak::probe {
namespace {

constexpr const char* kOthers =
    "FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()";

std::vector<ConnectionSnapshot::Session> sessions(db::OwnSession& session, const std::string& sql,
                                                  const std::stop_token& stop) {
  std::vector<ConnectionSnapshot::Session> out;
  for (const auto& row : session.query(sql, stop)) {
    out.push_back({db::OwnSession::number<int>(row[0]), row[1].value_or(""), row[2].value_or(""),
                   row[3].value_or(""), db::OwnSession::number<double>(row[4]),
                   row[5].value_or("")});
  }
  return out;
}

}  // namespace

ConnectionSnapshot take_snapshot(const db::ConnInfo& target, const std::stop_token& interrupt) {
  ConnectionSnapshot s;
  try {
    db::OwnSession session{target,
                           db::own_name::kMonitor,
                           {.connect_timeout = std::chrono::seconds{10},
                            .query_timeout = std::chrono::seconds{10},
                            .interrupt = interrupt}};
    const auto limits = session.query(
        "SELECT current_setting('max_connections'), "
        "current_setting('superuser_reserved_connections')");
    s.max_connections = db::OwnSession::number<int>(limits.at(0).at(0));
    s.superuser_reserved_connections = db::OwnSession::number<int>(limits.at(0).at(1));
    for (const auto& row : session.query(
             fmt::format("SELECT coalesce(application_name, ''), coalesce(state, "
                         "'unknown'), count(*)::int {} GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2",
                         kOthers),
             interrupt)) {
      s.by_application_state.push_back(
          {row[0].value_or(""), row[1].value_or(""), db::OwnSession::number<int>(row[2])});
      s.total += db::OwnSession::number<int>(row[2]);
    }
    s.longest_idle_in_transaction = sessions(
        session,
        fmt::format("SELECT pid, application_name, usename, state, "
                    "extract(epoch FROM now() - state_change)::float8, left(query, 200) {} "
                    "AND state LIKE 'idle in transaction%' ORDER BY state_change LIMIT 10",
                    kOthers),
        interrupt);
    s.oldest_transactions =
        sessions(session,
                 fmt::format("SELECT pid, application_name, usename, state, "
                             "extract(epoch FROM now() - xact_start)::float8, left(query, 200) "
                             "{} AND xact_start IS NOT NULL ORDER BY xact_start LIMIT 10",
                             kOthers),
                 interrupt);
  } catch (const std::exception& e) {
    std::string why = e.what();
    while (!why.empty() && why.back() == '\n') {
      why.pop_back();
    }
    throw util::InfrastructureError("cannot reach " + target.redacted() + ": " + why);
  }
  return s;
}

std::string format_snapshot(const ConnectionSnapshot& s, double warn_at) {
  std::string out = fmt::format(
      "connections: {} of {} ({:.0f}%; max_connections {} - superuser_reserved {}){}\n", s.total,
      s.limit(), s.used_percent(), s.max_connections, s.superuser_reserved_connections,
      s.used_percent() >= warn_at ? fmt::format("  WARNING: at or past {:g}%", warn_at) : "");
  out += fmt::format("  {:<50} {:<30} {:>5}\n", "application", "state", "count");
  for (const auto& g : s.by_application_state) {
    out += fmt::format("  {:<50} {:<30} {:>5}\n",
                       g.application.empty() ? "(none)" : util::printable(g.application),
                       util::printable(g.state), g.count);
  }
  auto list = [&](const char* title, const std::vector<ConnectionSnapshot::Session>& v) {
    out += fmt::format("{} ({}):\n", title, v.size());
    for (const auto& x : v) {
      // Other sessions' text: escaped, so no query can draw on the operator's screen.
      out += fmt::format("  pid {:<7} {:>8.1f}s  {:<40} {}\n", x.pid, x.age_s,
                         x.application.empty() ? "(none)" : util::printable(x.application),
                         util::printable(x.query));
    }
  };
  list("longest idle in transaction", s.longest_idle_in_transaction);
  list("oldest transactions", s.oldest_transactions);
  return out;
}

nlohmann::json snapshot_json(const ConnectionSnapshot& s, double warn_at) {
  auto sessions_json = [](const std::vector<ConnectionSnapshot::Session>& v) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& x : v) {
      out.push_back({{"pid", x.pid},
                     {"application_name", x.application},
                     {"user", x.user},
                     {"state", x.state},
                     {"age_s", x.age_s},
                     {"query", x.query}});
    }
    return out;
  };
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& g : s.by_application_state) {
    groups.push_back({{"application_name", g.application}, {"state", g.state}, {"count", g.count}});
  }
  return {{"schema", "pgleak.monitor/1"},
          {"max_connections", s.max_connections},
          {"superuser_reserved_connections", s.superuser_reserved_connections},
          {"limit", s.limit()},
          {"total", s.total},
          {"used_percent", s.used_percent()},
          {"warn_at_percent", warn_at},
          {"warning", s.used_percent() >= warn_at},
          {"by_application_state", groups},
          {"longest_idle_in_transaction", sessions_json(s.longest_idle_in_transaction)},
          {"oldest_transactions", sessions_json(s.oldest_transactions)}};
}

}  // namespace pgleak::probe

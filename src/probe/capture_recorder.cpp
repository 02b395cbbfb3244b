#include "probe/capture_recorder.hpp"

#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <ostream>

#include "capture/capture_file.hpp"
#include "db/db_error.hpp"
#include "probe/log_follower.hpp"
#include "probe/server_log.hpp"
#include "util/errors.hpp"
#include "util/stoppable_sleep.hpp"

namespace pgleak::probe {
namespace {

using Clock = std::chrono::steady_clock;

db::OwnSession::Options session_options(const std::stop_token& stop) {
  return {.connect_timeout = std::chrono::seconds{10},
          .query_timeout = std::chrono::seconds{10},
          .interrupt = stop};
}

void say(const RecordOptions& options, const std::string& line) {
  if (options.log != nullptr) {
    *options.log << "pgleak: " << line << std::endl;
  }
}

}  // namespace

capture::ServerLimits read_capture_limits(db::OwnSession& session, const std::stop_token& stop) {
  capture::ServerLimits s;
  const auto row = session.query(
      "SELECT current_setting('server_version'), current_setting('max_connections'), "
      "current_setting('superuser_reserved_connections')",
      stop);
  s.server_version = row.at(0).at(0).value_or("");
  s.max_connections = db::OwnSession::number<int>(row.at(0).at(1));
  s.superuser_reserved_connections = db::OwnSession::number<int>(row.at(0).at(2));
  for (const auto& r : session.query(
           "SELECT rolname, rolconnlimit FROM pg_roles WHERE rolconnlimit >= 0 ORDER BY 1 "
           "LIMIT 1000",
           stop)) {
    s.role_connection_limits[r.at(0).value_or("")] = db::OwnSession::number<int>(r.at(1));
  }
  for (const auto& r : session.query(
           "SELECT datname, datconnlimit FROM pg_database WHERE datconnlimit >= 0 ORDER BY 1 "
           "LIMIT 1000",
           stop)) {
    s.database_connection_limits[r.at(0).value_or("")] = db::OwnSession::number<int>(r.at(1));
  }
  return s;
}

capture::Snapshot read_backends(db::OwnSession& session, bool with_query_text,
                                const std::stop_token& stop) {
  capture::Snapshot s;
  const auto rows = session.query(
      "SELECT extract(epoch FROM now())::float8, pid, coalesce(application_name, ''), "
      "coalesce(usename, ''), coalesce(host(client_addr), ''), "
      "extract(epoch FROM backend_start)::float8, extract(epoch FROM xact_start)::float8, "
      "coalesce(state, ''), extract(epoch FROM state_change)::float8, "
      "coalesce(wait_event_type || ':' || wait_event, ''), coalesce(left(query, 65536), '') "
      "FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
      "ORDER BY pid LIMIT 20000",
      stop);
  if (rows.empty()) {
    s.at_unix = db::OwnSession::number<double>(
        session.query("SELECT extract(epoch FROM now())::float8", stop).at(0).at(0));
  }
  for (const auto& r : rows) {
    s.at_unix = db::OwnSession::number<double>(r.at(0));
    capture::Backend b;
    b.pid = db::OwnSession::number<int>(r.at(1));
    b.application = r.at(2).value_or("");
    b.user = r.at(3).value_or("");
    b.client = r.at(4).value_or("");
    b.backend_start = db::OwnSession::number<double>(r.at(5));
    b.xact_start = db::OwnSession::number<double>(r.at(6));
    b.state = r.at(7).value_or("");
    b.state_change = db::OwnSession::number<double>(r.at(8));
    b.wait_event = r.at(9).value_or("");
    const auto normalized = capture::normalize_query(r.at(10).value_or(""));
    b.fingerprint = capture::fingerprint(normalized);
    if (with_query_text) {
      b.query = normalized;
    }
    s.backends.push_back(std::move(b));
  }
  return s;
}

std::optional<capture::LogLine> capture_log_line(std::string_view text, double started_at_unix) {
  const auto e = parse_jsonlog_line(text);
  if (!e || e->sqlstate.empty() || e->sqlstate == "00000" || !e->timestamp ||
      (e->severity != "ERROR" && e->severity != "FATAL" && e->severity != "PANIC") ||
      (!e->backend_type.empty() && e->backend_type != "client backend") ||
      e->application_name == db::own_name::kMonitor) {
    return std::nullopt;
  }
  capture::LogLine l;
  l.t_s = std::chrono::duration<double>(e->timestamp->time_since_epoch()).count() - started_at_unix;
  l.severity = e->severity;
  l.sqlstate = e->sqlstate;
  l.application = e->application_name;
  l.user = e->user;
  l.pid = e->pid;
  l.message = e->message.substr(0, 512);
  return l;
}

RecordOutcome record_capture(const db::ConnInfo& target, const RecordOptions& options,
                             const std::stop_token& stop) {
  std::unique_ptr<db::OwnSession> session;
  capture::CaptureHeader header;
  try {
    session =
        std::make_unique<db::OwnSession>(target, db::own_name::kMonitor, session_options(stop));
    header.server = read_capture_limits(*session, stop);
    header.started_at_unix = read_backends(*session, false, stop).at_unix;
  } catch (const db::DbError& e) {
    throw util::InfrastructureError(
        fmt::format("cannot record {}: {}", target.redacted(), e.what()));
  }
  header.interval_s = std::chrono::duration<double>(options.interval).count();
  header.with_query_text = options.with_query_text;
  capture::CaptureWriter writer{options.path, header};
  // Declared after the writer, so that it stops (its thread joined) first.
  std::unique_ptr<LogFollower> server_log;
  if (!options.server_log.empty()) {
    server_log = std::make_unique<LogFollower>(
        options.server_log, [&writer, start = header.started_at_unix](std::string_view line) {
          if (auto l = capture_log_line(line, start)) {
            writer.add_log(*l);
          }
        });
    server_log->start(/*from_end=*/true);  // what it held before the capture is not ours
  }
  say(options, fmt::format("recording {} (PostgreSQL {}, max_connections {}) every {}s into {}",
                           target.redacted(), header.server.server_version,
                           header.server.max_connections, header.interval_s, options.path));
  RecordOutcome out;
  const auto start = Clock::now();
  auto next = start;
  out.reason = "stopped";
  while (!stop.stop_requested()) {
    if (options.duration && Clock::now() - start >= *options.duration) {
      out.reason = "duration";
      break;
    }
    try {
      if (!session) {
        session =
            std::make_unique<db::OwnSession>(target, db::own_name::kMonitor, session_options(stop));
      }
      auto snapshot = read_backends(*session, options.with_query_text, stop);
      snapshot.t_s = snapshot.at_unix - header.started_at_unix;
      writer.add(snapshot);
    } catch (const db::DbError& e) {
      session.reset();  // broken for good: the next sample opens another
      if (out.failed_samples++ == 0 || stop.stop_requested()) {
        say(options, fmt::format("a sample failed ({}); reconnecting", e.what()));
      }
    }
    next += options.interval;
    if (Clock::now() > next) {
      next = Clock::now();  // fell behind: the schedule moves, samples are not bunched
    }
    if (!util::sleep_until(next, stop)) {
      break;
    }
  }
  if (server_log) {
    server_log->stop();  // reads what is left first
  }
  out.snapshots = writer.snapshots();
  out.file = writer.close(out.reason);
  return out;
}

}  // namespace pgleak::probe

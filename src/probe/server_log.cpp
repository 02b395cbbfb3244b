#include "probe/server_log.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <limits>
#include <nlohmann/json.hpp>

#include "scenario/backend_tag.hpp"
#include "util/text.hpp"

namespace pgleak::probe {

std::optional<ServerLogEntry> parse_jsonlog_line(std::string_view line) {
  const auto doc = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("error_severity")) {
    return std::nullopt;
  }
  // Any line may be anyone's: a field of another type is read as absent,
  // never thrown (json::value would), and a SQLSTATE is five of 0-9 A-Z or none.
  const auto text = [&](const char* key) {
    const auto it = doc.find(key);
    return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string{};
  };
  ServerLogEntry e;
  e.severity = text("error_severity");
  e.sqlstate = text("state_code");
  if (!util::is_sqlstate(e.sqlstate)) {
    e.sqlstate.clear();
  }
  e.message = text("message");
  e.application_name = text("application_name");
  e.user = text("user");
  e.backend_type = text("backend_type");
  const auto pid = doc.find("pid");
  e.pid = pid != doc.end() && pid->is_number_integer() && pid->get<int64_t>() > 0 &&
                  pid->get<int64_t>() <= std::numeric_limits<int>::max()
              ? static_cast<int>(pid->get<int64_t>())
              : 0;
  // log_timezone is UTC on the embedded server.
  e.timestamp = parse_utc_timestamp(text("timestamp"));
  return e;
}

bool is_reportable(const ServerLogEntry& e, const std::string& run_marker, bool whole_server) {
  const bool failed = e.severity == "ERROR" || e.severity == "FATAL" || e.severity == "PANIC";
  if (e.application_name.find(run_marker) == std::string::npos) {
    return whole_server && failed && e.application_name.empty() &&
           e.backend_type == "client backend";
  }
  // A client gone without a goodbye: 08P01 with an open transaction, 08006.
  return failed || (e.severity == "LOG" && e.sqlstate.rfind("08", 0) == 0);
}

ServerLogTailer::ServerLogTailer(std::string path, std::string run_marker,
                                 record::Recorder& recorder, WorkerOf worker_of, bool shared)
    : shared_(shared),
      run_marker_(std::move(run_marker)),
      recorder_(recorder),
      worker_of_(std::move(worker_of)),
      follower_(std::move(path), [this](std::string_view line) { on_line(line); }) {}

void ServerLogTailer::on_line(std::string_view line) {
  const auto entry = parse_jsonlog_line(line);
  if (!entry || !is_reportable(*entry, run_marker_, /*whole_server=*/!shared_)) {
    return;
  }
  record::Event ev;
  ev.kind = record::kServerLog;
  ev.sqlstate = entry->sqlstate;
  ev.code_source = entry->sqlstate.empty() ? "" : "server_log";
  if (entry->timestamp) {
    // Never 0, which would mean "stamp it now".
    ev.t_s = std::max(1e-6, recorder_.seconds_at(*entry->timestamp));
  }
  ev.message = entry->severity + ":  " + entry->message;
  if (const auto tag = scenario::BackendTag::parse(entry->application_name)) {
    ev.process = tag->process;
    ev.replica = tag->replica;
    ev.pattern = tag->pattern;
    ev.worker = worker_of_(tag->process, tag->replica, entry->pid);
  }
  recorder_.add_event(std::move(ev));
}

}  // namespace pgleak::probe

#include "probe/server_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "scenario/backend_tag.hpp"
#include "util/stoppable_sleep.hpp"

namespace pgleak::probe {

std::optional<ServerLogEntry> parse_jsonlog_line(std::string_view line) {
  const auto doc = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("error_severity")) {
    return std::nullopt;
  }
  ServerLogEntry e;
  e.severity = doc.value("error_severity", "");
  e.sqlstate = doc.value("state_code", "");
  e.message = doc.value("message", "");
  e.application_name = doc.value("application_name", "");
  e.user = doc.value("user", "");
  e.backend_type = doc.value("backend_type", "");
  e.pid = doc.value("pid", 0);
  // "2026-11-30 15:19:07.812 UTC": log_timezone is UTC on the embedded server.
  const auto stamp = doc.value("timestamp", "");
  std::tm tm{};
  int millis = 0;
  if (stamp.size() >= 23 && stamp.ends_with(" UTC") &&
      std::sscanf(stamp.c_str(), "%4d-%2d-%2d %2d:%2d:%2d.%3d", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &millis) == 7) {
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    e.timestamp =
        std::chrono::system_clock::from_time_t(timegm(&tm)) + std::chrono::milliseconds{millis};
  }
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

ServerLogTailer::ServerLogTailer(std::string path, std::string run_id, record::Recorder& recorder,
                                 WorkerOf worker_of)
    : path_(std::move(path)),
      run_marker_(scenario::BackendTag::run_marker(run_id)),
      recorder_(recorder),
      worker_of_(std::move(worker_of)) {}

ServerLogTailer::~ServerLogTailer() {
  stop();
}

void ServerLogTailer::start() {
  thread_ = std::jthread{[this](std::stop_token stop) {
    // The collector writes as it goes; a tenth of a second keeps events near real time.
    do {
      drain();
    } while (util::sleep_for(std::chrono::milliseconds{100}, stop));
  }};
}

void ServerLogTailer::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
    drain();
  }
}

void ServerLogTailer::drain() {
  // The log lives in the server account's directory: never follow a link
  // planted there, and read a bounded chunk per tick.
  const int fd = ::open(path_.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return;  // the collector has not created it yet
  }
  std::string chunk;
  char buf[65536];
  ssize_t n = 0;
  while (chunk.size() < (size_t{16} << 20) &&
         (n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(offset_ + chunk.size()))) > 0) {
    chunk.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  offset_ += chunk.size();
  partial_ += chunk;
  size_t start = 0;
  for (size_t nl = partial_.find('\n'); nl != std::string::npos; nl = partial_.find('\n', start)) {
    const auto entry = parse_jsonlog_line(std::string_view{partial_}.substr(start, nl - start));
    start = nl + 1;
    if (!entry || !is_reportable(*entry, run_marker_, /*whole_server=*/true)) {
      continue;
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
  partial_.erase(0, start);
}

}  // namespace pgleak::probe

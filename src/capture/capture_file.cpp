#include "capture/capture_file.hpp"

#include <fmt/format.h>

#include <cmath>

#include "record/record_json.hpp"
#include "util/errors.hpp"
#include "util/gzip_file.hpp"
#include "util/line_splitter.hpp"

namespace pgleak::capture {
namespace {

using nlohmann::json;

// Times are written as whole milliseconds from the capture's start (null for
// none): short lines, exact enough for ages in seconds.
json offset_ms(double unix_s, double start) {
  if (unix_s <= 0) {
    return nullptr;
  }
  return static_cast<int64_t>(std::llround((unix_s - start) * 1000));
}

// The inverse, refusing what no server time can be (a hostile file's): any
// number is read as a double first, so a huge one is refused, never
// converted to an integer it does not fit.
double unix_of(const json& j, double start) {
  if (j.is_null()) {
    return 0;
  }
  const auto ms = j.get<double>();
  if (!std::isfinite(ms) || std::fabs(ms) > 3.5e13) {  // about 2^45 ms: 1,100 years
    throw util::UsageError("a time out of range");
  }
  return start + ms / 1000;
}

std::string clipped(const json& j, size_t most) {
  auto text = j.get<std::string>();
  if (text.size() > most) {
    text.resize(most);
  }
  return text;
}

json server_json(const ServerLimits& s) {
  return {{"server_version", s.server_version},
          {"max_connections", s.max_connections},
          {"superuser_reserved_connections", s.superuser_reserved_connections},
          {"role_connection_limits", s.role_connection_limits},
          {"database_connection_limits", s.database_connection_limits}};
}

ServerLimits server_from_json(const json& j) {
  ServerLimits s;
  s.server_version = clipped(j.at("server_version"), 64);
  s.max_connections = record::checked_int(j.at("max_connections"));
  s.superuser_reserved_connections = record::checked_int(j.at("superuser_reserved_connections"));
  for (const char* key : {"role_connection_limits", "database_connection_limits"}) {
    auto& into = key[0] == 'r' ? s.role_connection_limits : s.database_connection_limits;
    for (const auto& [name, limit] : j.at(key).items()) {
      if (into.size() < 1024) {
        into[name.substr(0, 64)] = record::checked_int(limit);
      }
    }
  }
  return s;
}

}  // namespace

CaptureWriter::CaptureWriter(const std::string& path, const CaptureHeader& header)
    : with_query_text_(header.with_query_text),
      started_at_(header.started_at_unix),
      file_(path, json{{"schema", kCaptureSchema},
                       {"started_at_unix", header.started_at_unix},
                       {"interval_s", header.interval_s},
                       {"with_query_text", header.with_query_text},
                       {"server", server_json(header.server)}}) {}

void CaptureWriter::add(const Snapshot& snapshot) {
  const bool full = snapshots_ % kFullEvery == 0;
  json rows = json::array();
  std::map<int, std::string> now;
  size_t kept = 0;
  for (const auto& b : snapshot.backends) {
    if (kept++ >= kMaxBackends || now.contains(b.pid)) {
      ++left_out_;
      continue;
    }
    const auto seen = started_.find(b.pid);
    if (seen == started_.end() || seen->second != b.backend_start) {
      file_.append(record::json_line({{"pid", b.pid},
                                      {"application", b.application},
                                      {"user", b.user},
                                      {"client", b.client},
                                      {"backend_start", offset_ms(b.backend_start, started_at_)}},
                                     "backend"));
      started_[b.pid] = b.backend_start;
      rows_.erase(b.pid);
    }
    json row = {b.pid,
                b.state,
                offset_ms(b.xact_start, started_at_),
                offset_ms(b.state_change, started_at_),
                b.wait_event,
                b.fingerprint};
    if (with_query_text_) {
      row.push_back(b.query);
    }
    auto text = row.dump(-1, ' ', false, json::error_handler_t::replace);
    const auto last = rows_.find(b.pid);
    if (full || last == rows_.end() || last->second != text) {
      rows.push_back(std::move(row));
    }
    now[b.pid] = std::move(text);
  }
  json gone = json::array();
  for (const auto& [pid, row] : rows_) {
    if (!now.contains(pid)) {
      gone.push_back(pid);
      started_.erase(pid);
    }
  }
  rows_ = std::move(now);
  file_.append(record::json_line({{"t_s", snapshot.t_s},
                                  {"at_unix", snapshot.at_unix},
                                  {"full", full},
                                  {"rows", std::move(rows)},
                                  {"gone", std::move(gone)}},
                                 "snapshot"));
  ++snapshots_;
}

void CaptureWriter::add_log(const LogLine& l) {
  if (log_lines_.fetch_add(1, std::memory_order_relaxed) >= kMaxLogLines) {
    return;
  }
  file_.append(record::json_line({{"t_s", l.t_s},
                                  {"severity", l.severity},
                                  {"sqlstate", l.sqlstate},
                                  {"application", l.application},
                                  {"user", l.user},
                                  {"pid", l.pid},
                                  {"message", l.message.substr(0, 512)}},
                                 "log"));
}

record::SideFile::Status CaptureWriter::close(const std::string& reason) {
  const auto logged = log_lines_.load();
  return file_.close({{"snapshots", snapshots_},
                      {"reason", reason},
                      {"log_lines_dropped", logged > kMaxLogLines ? logged - kMaxLogLines : 0}});
}

namespace {

// What a reader keeps between lines: the backends as last described.
struct ReadState {
  CaptureHeader header;
  bool have_header = false;
  std::map<int, Backend> live;
  CaptureRead result;
};

void read_backend_line(ReadState& st, const json& line) {
  Backend b;
  b.pid = record::checked_int(line.at("pid"));
  b.application = clipped(line.at("application"), 256);
  b.user = clipped(line.at("user"), 256);
  b.client = clipped(line.at("client"), 256);
  b.backend_start = unix_of(line.at("backend_start"), st.header.started_at_unix);
  if (!st.live.contains(b.pid) && st.live.size() >= kMaxBackends) {
    throw util::UsageError(fmt::format("more than {} backends at once", kMaxBackends));
  }
  st.live[b.pid] = std::move(b);
}

Snapshot read_snapshot_line(ReadState& st, const json& line) {
  for (const auto& pid : line.at("gone")) {
    st.live.erase(record::checked_int(pid));
  }
  for (const auto& row : line.at("rows")) {
    const auto it = st.live.find(record::checked_int(row.at(0)));
    if (it == st.live.end()) {
      throw util::UsageError("a row for a backend no backend line described");
    }
    auto& b = it->second;
    const double start = st.header.started_at_unix;
    b.state = clipped(row.at(1), 64);
    b.xact_start = unix_of(row.at(2), start);
    b.state_change = unix_of(row.at(3), start);
    b.wait_event = clipped(row.at(4), 128);
    b.fingerprint = clipped(row.at(5), 16);
    b.query = row.size() > 6 ? clipped(row.at(6), 4096) : std::string{};
  }
  Snapshot s;
  s.t_s = line.at("t_s").get<double>();
  s.at_unix = line.at("at_unix").get<double>();
  if (!std::isfinite(s.t_s) || !std::isfinite(s.at_unix)) {
    throw util::UsageError("a snapshot's time is not a number");
  }
  s.backends.reserve(st.live.size());
  for (const auto& [pid, b] : st.live) {
    s.backends.push_back(b);
  }
  return s;
}

LogLine read_log_line(const json& line) {
  LogLine l;
  l.t_s = line.at("t_s").get<double>();
  if (!std::isfinite(l.t_s)) {
    throw util::UsageError("a log line's time is not a number");
  }
  l.severity = clipped(line.at("severity"), 16);
  l.sqlstate = clipped(line.at("sqlstate"), 5);
  l.application = clipped(line.at("application"), 256);
  l.user = clipped(line.at("user"), 256);
  l.pid = record::checked_int(line.at("pid"));
  l.message = clipped(line.at("message"), 512);
  return l;
}

}  // namespace

CaptureRead read_capture(const std::string& path, const std::string& bytes,
                         const std::function<void(const CaptureHeader&, const Snapshot&)>& each,
                         const std::function<void(const LogLine&)>& on_log) {
  const auto refuse = [&path](const std::string& why) {
    throw util::UsageError(path + ": " + why);
  };
  if (bytes.size() > kMaxCaptureBytes) {
    refuse(fmt::format("a capture of {} bytes is larger than {} MiB, the most diagnose reads",
                       bytes.size(), kMaxCaptureBytes >> 20));
  }
  if (bytes.size() < 2 || static_cast<unsigned char>(bytes[0]) != 0x1f ||
      static_cast<unsigned char>(bytes[1]) != 0x8b) {
    refuse("not a capture (pgleak monitor --record writes gzip JSON Lines)");
  }
  ReadState st;
  st.result.cut = true;
  size_t number = 0;
  const auto on_line = [&](std::string_view text) {
    ++number;
    try {
      const auto line = json::parse(text);
      const auto type = line.is_object() ? line.value("type", std::string{}) : std::string{};
      if (!st.have_header) {
        if (type != "header" || line.value("schema", json()) != kCaptureSchema) {
          refuse(std::string{"not a capture (its first line is not a "} + kCaptureSchema +
                 " header)");
        }
        st.header.server = server_from_json(line.at("server"));
        st.header.started_at_unix = line.at("started_at_unix").get<double>();
        st.header.interval_s = line.at("interval_s").get<double>();
        st.header.with_query_text = line.at("with_query_text").get<bool>();
        st.have_header = std::isfinite(st.header.started_at_unix);
        if (!st.have_header) {
          refuse("its header's start is not a number");
        }
      } else if (type == "backend") {
        read_backend_line(st, line);
      } else if (type == "snapshot") {
        each(st.header, read_snapshot_line(st, line));
        ++st.result.snapshots;
      } else if (type == "log") {
        const auto l = read_log_line(line);
        if (on_log) {
          on_log(l);
        }
      } else if (type == "end") {
        st.result.cut = false;
      }
    } catch (const json::exception& e) {
      refuse(fmt::format("line {}: not a line pgleak wrote: {}", number, e.what()));
    } catch (const util::UsageError& e) {
      const std::string what = e.what();
      if (what.rfind(path + ": ", 0) == 0) {
        throw;
      }
      refuse(fmt::format("line {}: {}", number, what));
    }
  };
  util::LineSplitter lines;
  util::gunzip_each(bytes, kMaxCaptureDecompressed,
                    [&](std::string_view chunk) { lines.feed(chunk, on_line); });
  if (lines.overlong() > 0) {
    refuse(fmt::format("holds a line longer than {} bytes: not a capture pgleak wrote",
                       util::LineSplitter::kMaxLine));
  }
  if (!st.have_header) {
    refuse("an empty capture");
  }
  st.result.header = st.header;
  return st.result;
}

}  // namespace pgleak::capture

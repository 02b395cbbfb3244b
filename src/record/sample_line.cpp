// record::sample_line: a sample's side-file line written as text. At 20 Hz
// with 1,000 pools, building the nlohmann document for each line (an object
// and seven members per pool, then freeing them) was half of pgleak's CPU
// while 1,000 connections ramped up (perf, 2026-12-06). The text is the one
// json_line(sample_json(s), "sample") gives, byte for byte: the members in
// the order nlohmann's std::map keeps them (by name), and nlohmann itself
// for every string (escaped, bytes that are not UTF-8 as U+FFFD) and every
// double (its shortest round-trip form).

#include <fmt/format.h>

#include "record/record_json.hpp"

namespace pgleak::record {
namespace {

using nlohmann::json;

void put_text(std::string& out, const std::string& text) {
  out += json(text).dump(-1, ' ', false, json::error_handler_t::replace);
}

void put_double(std::string& out, double value) {
  out += json(value).dump();
}

template <typename Int>
void put_int(std::string& out, Int value) {
  out += fmt::format_int(value).str();
}

void put_counts(std::string& out, const char* name, const std::map<std::string, int>& counts) {
  out += '"';
  out += name;
  out += "\":{";
  const char* sep = "";
  for (const auto& [key, n] : counts) {
    out += sep;
    put_text(out, key);
    out += ':';
    put_int(out, n);
    sep = ",";
  }
  out += "},";
}

// One pool, members by name; `process` already escaped.
void put_pool(std::string& out, const PoolSample& p, const std::string& process) {
  fmt::format_to(std::back_inserter(out),
                 R"({{"checked_out":{},"idle":{},"open":{},"overflow":{},"process":)",
                 p.checked_out, p.idle, p.open, p.overflow);
  out += process;
  if (p.replica < 0) {
    fmt::format_to(std::back_inserter(out), R"(,"replicas":{})", p.replicas);
  } else {
    fmt::format_to(std::back_inserter(out), R"(,"replica":{})", p.replica);
  }
  fmt::format_to(std::back_inserter(out), R"(,"waiting":{}}})", p.waiting);
}

void put_pgbouncer(std::string& out, const PgBouncerSample& b) {
  fmt::format_to(std::back_inserter(out),
                 R"("pgbouncer":{{"cl_active":{},"cl_waiting":{},"maxwait_ms":)", b.cl_active,
                 b.cl_waiting);
  put_double(out, b.maxwait_ms);
  fmt::format_to(
      std::back_inserter(out),
      R"(,"query_count":{},"sv_active":{},"sv_idle":{},"sv_login":{},"sv_used":{},"wait_time_ms":)",
      b.query_count, b.sv_active, b.sv_idle, b.sv_login, b.sv_used);
  put_double(out, b.wait_time_ms);
  fmt::format_to(std::back_inserter(out), R"(,"xact_count":{}}},)", b.xact_count);
}

}  // namespace

std::string sample_line(const Sample& sample) {
  std::string out;
  out.reserve(256 + sample.pools.size() * 96);
  out += '{';
  put_counts(out, "by_application", sample.by_application);
  put_counts(out, "by_process", sample.by_process);
  put_counts(out, "by_state", sample.by_state);
  if (sample.folded) {
    out += "\"folded\":true,";
  }
  out += "\"lag_ms\":";
  put_double(out, sample.lag_ms);
  out += ",\"own\":";
  put_int(out, sample.own);
  out += ',';
  if (sample.pgbouncer) {
    put_pgbouncer(out, *sample.pgbouncer);
  }
  out += "\"pools\":[";
  // A process's replicas come together and share its name: escaped once.
  const std::string* last_name = nullptr;
  std::string escaped;
  for (std::size_t i = 0; i < sample.pools.size(); ++i) {
    const PoolSample& p = sample.pools[i];
    if (last_name == nullptr || *last_name != p.process) {
      escaped.clear();
      put_text(escaped, p.process);
      last_name = &p.process;
    }
    if (i > 0) {
      out += ',';
    }
    put_pool(out, p, escaped);
  }
  out += "],\"t_s\":";
  put_double(out, sample.t_s);
  out += ",\"total\":";
  put_int(out, sample.total);
  out += ",\"type\":\"sample\"}\n";
  return out;
}

}  // namespace pgleak::record

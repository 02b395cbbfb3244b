#include "report/html_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

#include "report/html_assets.hpp"

namespace pgleak::report {
namespace {

using nlohmann::json;

// The states PostgreSQL reports for a client backend, drawn in this order
// (bottom to top); anything else is "other".
constexpr const char* kStates[] = {"active", "idle", "idle in transaction",
                                   "idle in transaction (aborted)"};
// Fold replicas into their process when a report has more copies than this.
constexpr size_t kMaxProcessLines = 12;

double number_or(const json& j, const char* key, double fallback) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}

// Which samples to draw: all of them, or for a long run the lowest and the
// highest (by the run's own backends) of each of kMaxDrawnSamples/2 stretches.
std::vector<size_t> drawn_samples(const json& samples) {
  std::vector<size_t> keep;
  const size_t n = samples.size();
  if (n <= kMaxDrawnSamples) {
    for (size_t i = 0; i < n; ++i) {
      keep.push_back(i);
    }
    return keep;
  }
  const size_t buckets = kMaxDrawnSamples / 2;
  for (size_t b = 0; b < buckets; ++b) {
    const size_t from = b * n / buckets;
    const size_t to = (b + 1) * n / buckets;
    size_t lo = from;
    size_t hi = from;
    for (size_t i = from; i < to; ++i) {
      const double own = number_or(samples[i], "own", 0);
      if (own < number_or(samples[lo], "own", 0)) {
        lo = i;
      }
      if (own > number_or(samples[hi], "own", 0)) {
        hi = i;
      }
    }
    keep.push_back(std::min(lo, hi));
    if (lo != hi) {
      keep.push_back(std::max(lo, hi));
    }
  }
  return keep;
}

// Connections held per replica, or per process when there are many (or the
// kept samples were folded): a line each, zero where a sample did not list
// it (not started yet); and whether they are per process.
std::pair<std::map<std::string, std::vector<double>>, bool> held_lines(
    const json& samples, const std::vector<size_t>& keep) {
  const auto replica_key = [](const json& p) {
    return fmt::format("{}.{}", p.value("process", ""), p.value("replica", 0));
  };
  std::set<std::string> replicas;
  bool folded = false;  // a long run's kept samples list a line per process already
  for (const size_t i : keep) {
    for (const auto& p : samples[i].value("pools", json::array())) {
      replicas.insert(replica_key(p));
      folded = folded || p.contains("replicas");
    }
  }
  const bool fold = folded || replicas.size() > kMaxProcessLines;
  const auto line_key = [&](const json& p) {
    return fold ? p.value("process", "") : replica_key(p);
  };
  std::map<std::string, std::vector<double>> held;
  for (size_t j = 0; j < keep.size(); ++j) {
    for (const auto& p : samples[keep[j]].value("pools", json::array())) {
      auto& line = held.try_emplace(line_key(p), keep.size(), 0.0).first->second;
      line[j] += number_or(p, "checked_out", 0);
    }
  }
  return {held, fold};
}

json series(const json& report, double time_scale) {
  const auto& samples = report.at("samples");
  const auto keep = drawn_samples(samples);
  json t = json::array();
  json applied = json::array();
  json own = json::array();
  json total = json::array();
  json waiting = json::array();
  std::map<std::string, json> states;
  for (const char* s : kStates) {
    states[s] = json::array();
  }
  states["other"] = json::array();
  // PgBouncer's clients and server connections, where it was in the path.
  static constexpr const char* kPgBouncerKeys[] = {"cl_active", "cl_waiting", "sv_active",
                                                   "sv_idle", "sv_used"};
  std::map<std::string, json> pgbouncer;
  bool has_pgbouncer = false;
  const auto [held, fold] = held_lines(samples, keep);
  for (const size_t i : keep) {
    const auto& s = samples[i];
    const double at = number_or(s, "t_s", 0);
    t.push_back(at / time_scale);
    applied.push_back(at);
    own.push_back(number_or(s, "own", 0));
    total.push_back(number_or(s, "total", 0));
    const auto by_state = s.value("by_state", json::object());
    double counted = 0;
    for (const char* name : kStates) {
      const double v = number_or(by_state, name, 0);
      states[name].push_back(v);
      counted += v;
    }
    states["other"].push_back(std::max(0.0, number_or(s, "own", 0) - counted));
    double waiters = 0;
    for (const auto& p : s.value("pools", json::array())) {
      waiters += number_or(p, "waiting", 0);
    }
    waiting.push_back(waiters);
    if (const auto b = s.find("pgbouncer"); b != s.end() && b->is_object()) {
      has_pgbouncer = true;
      for (const char* key : kPgBouncerKeys) {
        pgbouncer[key].push_back(number_or(*b, key, 0));
      }
    } else {
      for (const char* key : kPgBouncerKeys) {
        pgbouncer[key].push_back(0);
      }
    }
  }
  return {{"t", t},
          {"applied", applied},
          {"own", own},
          {"total", total},
          {"waiting", waiting},
          {"states", states},
          {"held", held},
          {"held_folded", fold},
          {"pgbouncer", has_pgbouncer ? json(pgbouncer) : json(nullptr)},
          {"samples", samples.size()},
          {"drawn", keep.size()}};
}

json events(const json& report, double time_scale) {
  json out = json::array();
  std::map<std::string, size_t> by_kind;
  for (const auto& e : report.value("events", json::array())) {
    const auto kind = e.value("kind", "");
    ++by_kind[kind];
    if (out.size() >= kMaxDrawnEvents) {
      continue;
    }
    auto message = e.value("message", "");
    if (message.size() > 300) {
      message = message.substr(0, 300) + "…";
    }
    const auto sqlstate = e.contains("sqlstate") && e["sqlstate"].is_string()
                              ? e["sqlstate"].get<std::string>()
                              : std::string{};
    out.push_back({{"t", number_or(e, "t_s", 0) / time_scale},
                   {"applied", number_or(e, "t_s", 0)},
                   {"kind", kind},
                   {"sqlstate", sqlstate},
                   {"source", e.value("code_source", json(nullptr))},
                   {"process", e.value("process", json(nullptr))},
                   {"worker", e.value("worker", json(nullptr))},
                   {"message", message}});
  }
  return {{"drawn", out}, {"by_kind", by_kind}};
}

// The network faults that held for a while (a reset is a moment: it is an
// event), as windows on the nominal time axis: from when each began to when
// it ended, or the run's end.
json fault_windows(const json& report, double time_scale, double end_nominal) {
  json out = json::array();
  const auto network = report.value("network", json::array());
  const auto faults =
      report.at("scenario").value("network", json::object()).value("faults", json::array());
  if (!network.is_array() || !faults.is_array()) {
    return out;
  }
  for (size_t i = 0; i < network.size() && i < faults.size() && out.size() < 100; ++i) {
    const auto& n = network[i];
    const auto& f = faults[i];
    const auto action = f.value("action", "");
    if (action == "reset" || !n.is_object() || !n.contains("began_s") ||
        !n["began_s"].is_number()) {
      continue;
    }
    std::string label = action;
    if (action == "latency" && f.contains("delay") && f["delay"].is_object()) {
      label += fmt::format(" {:g} ms", number_or(f["delay"], "nominal_s", 0) * 1000);
    }
    const double to = n.contains("ended_s") && n["ended_s"].is_number()
                          ? n["ended_s"].get<double>() / time_scale
                          : end_nominal;
    out.push_back(
        {{"label", label}, {"from", n["began_s"].get<double>() / time_scale}, {"to", to}});
  }
  return out;
}

}  // namespace

json page_data(const HtmlInput& input) {
  const auto& r = input.report;
  if (!r.is_object() || r.value("schema", "") != "pgleak.report/1" || !r.contains("samples") ||
      !r["samples"].is_array() || !r.contains("scenario") || !r.contains("summary")) {
    throw std::invalid_argument(input.label + " is not a pgleak report (schema pgleak.report/1)");
  }
  const auto& sc = r.at("scenario");
  double time_scale = number_or(sc, "time_scale", 1.0);
  if (!(time_scale > 0)) {
    time_scale = 1.0;
  }
  const auto& summary = r.at("summary");
  const auto target = r.value("target", json::object());
  const auto budget = r.value("budget", json::object());
  json holders = r.value("holders", json::array());
  std::sort(holders.begin(), holders.end(), [](const json& a, const json& b) {
    return number_or(a, "since_s", 0) < number_or(b, "since_s", 0);
  });
  if (holders.size() > 200) {
    holders.erase(holders.begin() + 200, holders.end());
  }
  const double duration_nominal = number_or(sc.value("duration", json::object()), "nominal_s", 0);
  // A merged run's shards (pgleak merge): how each ended.
  json shards = nullptr;
  if (const auto merge = r.value("merge", json::object()); merge.contains("shards")) {
    shards = json::array();
    for (const auto& s : merge.at("shards")) {
      if (shards.size() >= 1000) {
        break;
      }
      shards.push_back({{"index", s.value("index", json(nullptr))},
                        {"status", s.value("status", json(nullptr))},
                        {"status_detail", s.value("status_detail", json(nullptr))},
                        {"wall_s", s.value("wall_s", json(nullptr))},
                        {"replicas", s.value("replicas", json(nullptr))},
                        {"samples_server", s.value("samples_server", json(nullptr))}});
    }
  }
  return {{"label", input.label},
          {"name", sc.value("name", "")},
          {"description", sc.value("description", "")},
          {"time_scale", time_scale},
          {"duration_nominal_s", duration_nominal},
          {"run", r.value("run", json::object())},
          {"target", target},
          {"limits",
           {{"max_connections", number_or(target, "max_connections", 0)},
            {"limit", number_or(summary, "connection_limit", 0)},
            {"pool_caps", budget.value("unbounded", false)
                              ? json(nullptr)
                              : json(number_or(budget, "worst_case", 0))}}},
          {"series", series(r, time_scale)},
          {"events", events(r, time_scale)},
          {"windows", fault_windows(r, time_scale, duration_nominal)},
          {"verdict", r.value("verdict", json::object())},
          {"summary", summary},
          {"holders", holders},
          {"holders_total", r.value("holders", json::array()).size()},
          {"budget", budget},
          {"wait_histogram", r.value("checkout_wait_histogram", json(nullptr))},
          {"shards", shards},
          {"start_skew_ms", r.value("merge", json::object()).value("start_skew_ms", json(nullptr))},
          {"scenario", sc}};
}

std::string render_html(const std::vector<HtmlInput>& inputs) {
  json pages = json::array();
  std::string title;
  for (const auto& in : inputs) {
    pages.push_back(page_data(in));
    title += fmt::format("{}{}", title.empty() ? "" : " vs ", pages.back().value("name", ""));
  }
  // Inside <script>, "</script" would end the element and "<!--" would change
  // how it is parsed: no '<', '>' or '&' is left as itself (JSON strings may
  // spell them \u003c, \u003e, \u0026; they occur nowhere else in JSON).
  // ensure_ascii keeps U+2028/2029 (line breaks to JavaScript) escaped too.
  const std::string data = pages.dump(-1, ' ', true, json::error_handler_t::replace);
  std::string safe;
  safe.reserve(data.size());
  for (const char c : data) {
    switch (c) {
      case '<':
        safe += "\\u003c";
        break;
      case '>':
        safe += "\\u003e";
        break;
      case '&':
        safe += "\\u0026";
        break;
      default:
        safe.push_back(c);
    }
  }
  std::string escaped_title;
  for (const char c : title) {
    switch (c) {
      case '<':
        escaped_title += "&lt;";
        break;
      case '>':
        escaped_title += "&gt;";
        break;
      case '&':
        escaped_title += "&amp;";
        break;
      case '"':
        escaped_title += "&quot;";
        break;
      default:
        escaped_title.push_back(c);
    }
  }
  std::string html;
  html.reserve(assets::kChartJs.size() + assets::kReportJs.size() + safe.size() + 4096);
  html +=
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      // No fetch of any kind: scripts and styles are inline, images are data: URLs.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
      "connect-src 'none'; font-src 'none'; form-action 'none'; base-uri 'none'\">\n";
  html += "<title>pgleak: " + escaped_title + "</title>\n<style>\n";
  html.append(assets::kReportCss);
  html +=
      "</style>\n</head>\n<body>\n<a class=\"skip\" href=\"#reports\">Skip to the reports</a>\n"
      "<header><h1>pgleak report</h1><p class=\"note\">Times are nominal (the scenario's "
      "production time); hover a point for the applied (wall) time. Charts by Chart.js, "
      "embedded: this page fetches nothing.</p></header>\n"
      "<main id=\"reports\"></main>\n"
      "<pre id=\"pgleak-self-check\" hidden></pre>\n"
      "<script id=\"pgleak-data\" type=\"application/json\">";
  html += safe;
  html += "</script>\n<script>\n";
  html.append(assets::kChartJs);
  html += "\n</script>\n<script>\n";
  html.append(assets::kReportJs);
  html += "\n</script>\n</body>\n</html>\n";
  return html;
}

}  // namespace pgleak::report

#include "analysis/verdict.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "probe/server_info.hpp"
#include "scenario/metrics.hpp"
#include "scenario/pool_kinds.hpp"

namespace pgleak::analysis {

std::string_view to_string(Diagnosis d) {
  switch (d) {
    case Diagnosis::kHealthy:
      return "healthy";
    case Diagnosis::kLeak:
      return "leak";
    case Diagnosis::kUndersized:
      return "undersized";
    case Diagnosis::kServerLimit:
      return "server_limit";
  }
  return "healthy";
}

std::optional<double> metric_value(const nlohmann::json& summary, const std::string& metric) {
  const std::string& path = metric;
  // "errors.X", "server_errors.X" and "pgbouncer_errors.X" are short for the
  // counts (scenario::count_families()); absent means 0.
  if (const auto* family = scenario::count_family_of(path)) {
    const auto& counts = summary.at(std::string{family->summary_key});
    const auto key = path.substr(family->prefix.size());
    return counts.contains(key) ? counts.at(key).get<double>() : 0.0;
  }
  const nlohmann::json* node = &summary;
  size_t start = 0;
  while (start <= path.size()) {
    const auto dot = path.find('.', start);
    const auto key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!node->is_object() || !node->contains(key)) {
      return std::nullopt;
    }
    node = &node->at(key);
    if (dot == std::string::npos) {
      break;
    }
    start = dot + 1;
  }
  if (node->is_boolean()) {
    return node->get<bool>() ? 1.0 : 0.0;
  }
  return node->is_number() ? std::optional<double>{node->get<double>()} : std::nullopt;
}

namespace {

// HikariCP, psycopg_pool and pgx's health check connect in the background
// and retry a refusal on their own: their clients see only the wait.
std::optional<Finding> background_refusals(const Summary& s, const scenario::Scenario& sc) {
  std::string libraries;
  for (const auto& p : sc.processes) {
    const auto& kind = scenario::kind_of(p.pool);
    if (kind.connects_in_background && libraries.find(kind.library) == std::string::npos) {
      libraries += (libraries.empty() ? "" : ", ") + std::string{kind.library};
    }
  }
  if (s.connect_failures == 0 || libraries.empty()) {
    return std::nullopt;
  }
  const auto logged =
      s.server_errors_by_sqlstate.contains("53300") ? s.server_errors_by_sqlstate.at("53300") : 0;
  return Finding{
      Diagnosis::kServerLimit,
      fmt::format("{} connects the pools made in the background failed ({} refused with 53300 in "
                  "the server log): {} retry a refused connect on their own, so the pools kept "
                  "knocking while their clients saw only pool timeouts ({}); peak {} connections "
                  "at {:.1f}s",
                  s.connect_failures, logged, libraries, s.pool_timeouts, s.peak_connections,
                  s.peak_at_s)};
}

std::vector<Finding> diagnose(const Summary& s, const record::RunResult& r,
                              const scenario::Scenario& sc) {
  std::vector<Finding> findings;
  const uint64_t refused =
      s.errors_by_sqlstate.contains("53300") ? s.errors_by_sqlstate.at("53300") : 0;
  if (refused > 0) {
    double first = 0;
    for (const auto& e : r.events) {
      if (e.sqlstate == "53300") {
        first = e.t_s;
        break;
      }
    }
    findings.push_back(
        {Diagnosis::kServerLimit,
         fmt::format(
             "the server refused {} connection attempts with 53300, the first at {:.1f}s "
             "(limit {}: {}); peak {} connections at {:.1f}s",
             refused, first, s.connection_limit,
             probe::explain_limit(probe::limits_for(r.target.server, r.target.connections_before)),
             s.peak_connections, s.peak_at_s)});
  } else if (auto f = background_refusals(s, sc)) {
    findings.push_back(std::move(*f));
  }
  if (s.holders > 0) {
    const auto oldest = std::max_element(
        r.holders.begin(), r.holders.end(),
        [](const record::Holder& a, const record::Holder& b) { return a.age_s < b.age_s; });
    findings.push_back(
        {Diagnosis::kLeak,
         fmt::format("{} checkouts were held longer than leak_threshold {} (nominal); the oldest, "
                     "{}.{} {} ({}), for {:.0f}s nominal",
                     s.holders, util::format_duration(sc.leak_threshold->nominal), oldest->process,
                     oldest->replica, oldest->worker, oldest->pattern, oldest->age_nominal_s)});
  } else if (s.growth.computed && s.growth.r2 >= 0.6 && !s.growth.plateaued &&
             s.growth.rise >= 2.0) {
    findings.push_back(
        {Diagnosis::kLeak,
         fmt::format("connections kept growing after the warm-up: {:+.2f} per minute (nominal), "
                     "R² {:.2f}, without levelling off below the pools' capacity",
                     s.growth.slope_per_min, s.growth.r2)});
  }
  const bool leaking = std::any_of(findings.begin(), findings.end(), [](const Finding& f) {
    return f.diagnosis == Diagnosis::kLeak;
  });
  // PgBouncer closing or refusing clients: its pool (or max_client_conn) is
  // what the load outgrew, whatever held the server connections.
  if (!s.pgbouncer_errors.empty()) {
    std::string reasons;
    uint64_t total = 0;
    for (const auto& [reason, n] : s.pgbouncer_errors) {
      reasons += fmt::format("{}{} {}", reasons.empty() ? "" : ", ", n, reason);
      total += n;
    }
    const auto* b = sc.pgbouncer ? &*sc.pgbouncer : nullptr;
    findings.push_back(
        {leaking ? Diagnosis::kLeak : Diagnosis::kUndersized,
         fmt::format("PgBouncer turned clients away {} times ({}){}", total, reasons,
                     b != nullptr
                         ? fmt::format(": {} server connections for {} pooling, "
                                       "max_client_conn {}",
                                       b->server_connections(), scenario::to_string(b->pool_mode),
                                       b->max_client_conn)
                         : std::string{})});
  }
  const bool waits =
      s.pool_timeouts > 0 ||
      (r.series.taken > 0 && static_cast<uint64_t>(s.samples_with_waiters) * 20 >= r.series.taken);
  if (waits && !leaking) {
    findings.push_back(
        {Diagnosis::kUndersized,
         fmt::format("{} pool timeouts and checkouts waiting in {} of {} samples, while every "
                     "holder returned its connection: the pools are too small for the load",
                     s.pool_timeouts, s.samples_with_waiters, r.series.taken)});
  }
  std::sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
    return static_cast<int>(a.diagnosis) > static_cast<int>(b.diagnosis);
  });
  return findings;
}

}  // namespace

Verdict judge(const Summary& s, const record::RunResult& r, const scenario::Scenario& sc) {
  Verdict v;
  v.findings = diagnose(s, r, sc);
  v.diagnosis = v.findings.empty() ? Diagnosis::kHealthy : v.findings.front().diagnosis;

  auto expectations = sc.expect;
  const bool names_verdict = std::any_of(expectations.begin(), expectations.end(),
                                         [](const auto& e) { return e.metric == "verdict"; });
  const auto summary = summary_json(s);
  for (const auto& e : expectations) {
    ThresholdResult t{e, false, nullptr, false};
    if (e.metric == "verdict") {
      t.actual = to_string(v.diagnosis);
      t.pass = to_string(v.diagnosis) == e.verdict;
    } else if (const auto value = metric_value(summary, e.metric)) {
      // Counts read as counts: 118, not 118.0.
      t.actual = std::floor(*value) == *value && std::abs(*value) < 1e15
                     ? nlohmann::json(static_cast<int64_t>(*value))
                     : nlohmann::json(*value);
      t.pass = e.holds(*value);
    }
    v.thresholds.push_back(std::move(t));
  }
  if (!names_verdict) {
    scenario::Expectation healthy;
    healthy.metric = "verdict";
    healthy.op = "==";
    healthy.verdict = "healthy";
    healthy.text = "healthy";
    v.thresholds.push_back(
        {healthy, true, to_string(v.diagnosis), v.diagnosis == Diagnosis::kHealthy});
  }

  for (const auto& t : v.thresholds) {
    if (!t.pass) {
      v.pass = false;
      v.reasons.push_back(fmt::format("{} {} failed: actual {}{}", t.expectation.metric,
                                      t.expectation.text, t.actual.dump(),
                                      t.implicit ? " (the default expectation)" : ""));
    }
  }
  for (const auto& f : v.findings) {
    v.reasons.push_back(fmt::format("{}: {}", to_string(f.diagnosis), f.evidence));
  }
  if (!r.cleanup_checked) {
    // A check that could not be made is not a check that passed.
    v.pass = false;
    v.reasons.insert(v.reasons.begin(), r.cleanup_note);
  }
  for (const auto& f : r.network_faults) {
    // Nor is a scenario whose fault could not be made a scenario that passed.
    if (!f.error.empty()) {
      v.pass = false;
      v.reasons.insert(v.reasons.begin(),
                       fmt::format("network fault {} on {} could not be made, so the run did not "
                                   "test what its scenario says: {}",
                                   f.action, f.target, f.error));
    }
  }
  if (r.status != record::RunStatus::kCompleted) {
    // What was seen may be fine, but a run that did not finish cannot vouch for the scenario.
    v.pass = false;
    v.reasons.insert(v.reasons.begin(),
                     fmt::format("the run did not complete ({}{}{})", record::to_string(r.status),
                                 r.status_detail.empty() ? "" : ": ", r.status_detail));
  }
  if (v.reasons.empty()) {
    v.reasons.push_back(
        fmt::format("healthy: peak {} of {} connections, no refusal, no pool "
                    "timeout, no holder past its threshold",
                    s.peak_connections, s.connection_limit));
  }
  return v;
}

nlohmann::json verdict_json(const Verdict& v) {
  nlohmann::json findings = nlohmann::json::array();
  for (const auto& f : v.findings) {
    findings.push_back({{"diagnosis", to_string(f.diagnosis)}, {"evidence", f.evidence}});
  }
  nlohmann::json thresholds = nlohmann::json::array();
  for (const auto& t : v.thresholds) {
    thresholds.push_back({{"metric", t.expectation.metric},
                          {"expect", t.expectation.text},
                          {"actual", t.actual},
                          {"pass", t.pass},
                          {"implicit", t.implicit},
                          {"abort_on_fail", t.expectation.abort_on_fail}});
  }
  return {{"pass", v.pass},
          {"diagnosis", to_string(v.diagnosis)},
          {"findings", findings},
          {"thresholds", thresholds},
          {"reasons", v.reasons}};
}

}  // namespace pgleak::analysis

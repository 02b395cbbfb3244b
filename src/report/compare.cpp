#include "report/compare.hpp"

#include <fmt/format.h>

#include <array>
#include <optional>
#include <set>

#include "report/json_report.hpp"
#include "scenario/metrics.hpp"
#include "util/errors.hpp"

namespace pgleak::report {
namespace {

using nlohmann::json;

int severity(const std::string& diagnosis) {
  if (diagnosis == "undersized")
    return 1;
  if (diagnosis == "leak")
    return 2;
  if (diagnosis == "server_limit")
    return 3;
  return 0;
}

double number_at(const json& doc, const std::string& pointer) {
  const auto p = json::json_pointer{pointer};
  return doc.contains(p) && doc.at(p).is_number() ? doc.at(p).get<double>() : 0.0;
}

// A metric's value, or nothing when the report does not have it (one written
// by a pgleak that had no such metric): not the same as 0.
std::optional<double> metric_at(const json& doc, const std::string& pointer) {
  const auto p = json::json_pointer{pointer};
  return doc.contains(p) && doc.at(p).is_number() ? std::optional{doc.at(p).get<double>()}
                                                  : std::nullopt;
}

void check_report(const json& doc, const char* which) {
  if (!doc.is_object() || doc.value("schema", "") != kReportSchema) {
    throw util::UsageError(fmt::format("{} is not a {} report", which, kReportSchema));
  }
}

MetricChange compare_number(const std::string& label, double base, double now, double floor,
                            double tolerance) {
  MetricChange c{label, base, now, false, ""};
  const double rise = now - base;
  const bool beyond_floor = floor == 0 ? rise > 0 : rise >= floor;
  const bool beyond_tolerance = base == 0 ? rise > 0 : rise > base * tolerance;
  c.regression = beyond_floor && beyond_tolerance;
  if (rise != 0) {
    c.note = base == 0 ? fmt::format("{:+g}", rise) : fmt::format("{:+.1f}%", 100 * rise / base);
  }
  return c;
}

}  // namespace

Comparison compare_reports(const json& base, const json& current, double tolerance) {
  check_report(base, "BASE");
  check_report(current, "NEW");
  Comparison cmp;
  cmp.base_scenario = base.at("/scenario/name"_json_pointer).get<std::string>();
  cmp.current_scenario = current.at("/scenario/name"_json_pointer).get<std::string>();
  // The metrics where more is worse (scenario/metrics.def), each with the
  // change below which it is noise.
  for (const auto& m : scenario::metrics()) {
    if (!m.compare_noise) {
      continue;
    }
    const std::string label{m.name};
    std::string pointer = "/summary/" + label;
    std::replace(pointer.begin(), pointer.end(), '.', '/');
    const auto was = metric_at(base, pointer);
    const auto now = metric_at(current, pointer);
    if (!was || !now) {  // not compared: a metric one report lacks is not a zero
      cmp.changes.push_back({label, was ? json(*was) : json("-"), now ? json(*now) : json("-"),
                             false,
                             !was && !now ? "in neither"
                             : !was       ? "not in BASE"
                                          : "not in NEW"});
      continue;
    }
    cmp.changes.push_back(compare_number(label, *was, *now, *m.compare_noise, tolerance));
  }
  // Errors, SQLSTATE by SQLSTATE, as the clients saw them.
  std::set<std::string> states;
  for (const auto* doc : {&base, &current}) {
    for (const auto& [state, n] : doc->at("/summary/errors_by_sqlstate"_json_pointer).items()) {
      states.insert(state);
    }
  }
  for (const auto& state : states) {
    const auto pointer = "/summary/errors_by_sqlstate/" + state;
    cmp.changes.push_back(compare_number("errors." + state, number_at(base, pointer),
                                         number_at(current, pointer), 0, tolerance));
  }
  const auto base_diag = base.at("/verdict/diagnosis"_json_pointer).get<std::string>();
  const auto now_diag = current.at("/verdict/diagnosis"_json_pointer).get<std::string>();
  const bool base_pass = base.at("/verdict/pass"_json_pointer).get<bool>();
  const bool now_pass = current.at("/verdict/pass"_json_pointer).get<bool>();
  MetricChange verdict{"verdict", fmt::format("{} ({})", base_diag, base_pass ? "pass" : "fail"),
                       fmt::format("{} ({})", now_diag, now_pass ? "pass" : "fail"), false, ""};
  verdict.regression = severity(now_diag) > severity(base_diag) || (base_pass && !now_pass);
  if (verdict.regression) {
    verdict.note = "worse";
  }
  cmp.changes.push_back(verdict);
  for (const auto& c : cmp.changes) {
    cmp.regression = cmp.regression || c.regression;
  }
  return cmp;
}

std::string format_comparison(const Comparison& cmp) {
  std::string out = fmt::format("compare {} -> {}: {}\n", cmp.base_scenario, cmp.current_scenario,
                                cmp.regression ? "REGRESSION" : "no regression");
  out += fmt::format("  {:<26} {:>18} {:>18} {:>10}\n", "metric", "base", "new", "change");
  for (const auto& c : cmp.changes) {
    auto show = [](const json& v) {
      return v.is_string() ? v.get<std::string>() : fmt::format("{:g}", v.get<double>());
    };
    out += fmt::format("  {:<26} {:>18} {:>18} {:>10}{}\n", c.metric, show(c.base), show(c.current),
                       c.note, c.regression ? "  REGRESSION" : "");
  }
  return out;
}

json comparison_json(const Comparison& cmp) {
  json changes = json::array();
  for (const auto& c : cmp.changes) {
    changes.push_back({{"metric", c.metric},
                       {"base", c.base},
                       {"new", c.current},
                       {"regression", c.regression},
                       {"change", c.note}});
  }
  return {{"schema", "pgleak.compare/1"},
          {"base_scenario", cmp.base_scenario},
          {"new_scenario", cmp.current_scenario},
          {"regression", cmp.regression},
          {"metrics", changes}};
}

}  // namespace pgleak::report

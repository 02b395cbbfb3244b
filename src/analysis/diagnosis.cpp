#include "analysis/diagnosis.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "util/errors.hpp"
#include "util/files.hpp"

namespace pgleak::analysis {
namespace {

// Bounds on what one capture may make the builder hold.
constexpr size_t kMaxApps = 256;
constexpr size_t kMaxPoints = 4000;
constexpr size_t kMaxPerApp = 10000;
constexpr const char* kOtherApps = "(other applications)";

bool idle_in_transaction(const std::string& state) {
  return state.rfind("idle in transaction", 0) == 0;
}

template <typename T>
T median(std::vector<T> v) {
  if (v.empty()) {
    return T{};
  }
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Backends that started together: sizes of the groups of `starts` no more
// than `gap` apart, and when each began.
std::vector<std::pair<double, int>> start_groups(std::vector<double> starts, double gap) {
  std::sort(starts.begin(), starts.end());
  std::vector<std::pair<double, int>> groups;
  for (size_t i = 0; i < starts.size(); ++i) {
    if (i == 0 || starts[i] - starts[i - 1] > gap) {
      groups.push_back({starts[i], 0});
    }
    ++groups.back().second;
  }
  return groups;
}

}  // namespace

std::string_view to_string(AppFindingKind kind) {
  switch (kind) {
    case AppFindingKind::kHeldWithoutCommit:
      return "held_without_commit";
    case AppFindingKind::kDuplicateProcesses:
      return "duplicate_processes";
    case AppFindingKind::kGrowing:
      return "growing";
    case AppFindingKind::kLongStatements:
      return "long_statements";
    case AppFindingKind::kHealthy:
      return "healthy";
  }
  return "healthy";
}

bool AppDiagnosis::healthy() const {
  return findings.size() == 1 && findings[0].kind == AppFindingKind::kHealthy;
}

bool AppDiagnosis::duplicates() const {
  return std::any_of(findings.begin(), findings.end(), [](const AppFinding& f) {
    return f.kind == AppFindingKind::kDuplicateProcesses;
  });
}

void DiagnosisBuilder::track(const capture::Backend& b, App& app, double now, double start) {
  auto& t = backends_[b.pid];
  if (t.backend_start != b.backend_start || t.app.empty()) {
    t = Tracked{};
    t.app = app.d.application;
    t.backend_start = b.backend_start;
    if (app.starts.size() < kMaxPerApp) {
      app.starts.push_back(b.backend_start - start);
    }
  }
  const bool same_xact = b.xact_start > 0 && b.xact_start == t.xact_start;
  t.idle_xact_samples =
      idle_in_transaction(b.state) ? (same_xact ? t.idle_xact_samples + 1 : 1) : 0;
  t.xact_start = b.xact_start;
  const double age = b.xact_start > 0 ? now - b.xact_start : 0;
  if (t.idle_xact_samples >= kHeldSamples && age >= kHeldAfter &&
      (app.held.size() < kMaxPerApp || app.held.contains(b.pid))) {
    auto& h = app.held[b.pid];
    h.pid = b.pid;
    h.since_s = b.xact_start - start;
    h.age_s = std::max(h.age_s, age);
  }
  if (b.state == "active" && b.state_change > 0) {
    app.d.longest_active_s = std::max(app.d.longest_active_s, now - b.state_change);
  }
  ++app.all_samples;
  app.idle_samples += b.state == "idle" ? 1 : 0;
}

void DiagnosisBuilder::add(const capture::CaptureHeader& header, const capture::Snapshot& s) {
  if (!have_header_) {
    header_ = header;
    have_header_ = true;
  }
  const double start = header.started_at_unix;
  std::map<std::string, std::map<std::string, int>> by_app;
  std::map<int, bool> present;
  for (const auto& b : s.backends) {
    auto name = capture::application_of(b);
    if (!apps_.contains(name) && apps_.size() >= kMaxApps) {
      name = kOtherApps;
    }
    auto& app = apps_[name];
    app.d.application = name;
    track(b, app, s.at_unix, start);
    present[b.pid] = true;
    ++by_app[name][b.state];
  }
  std::erase_if(backends_, [&](const auto& kv) { return !present.contains(kv.first); });
  const int total = static_cast<int>(s.backends.size());
  if (total > d_.peak_total) {
    d_.peak_total = total;
    d_.peak_total_at_s = s.t_s;
  }
  const int limit = header.server.max_connections - header.server.superuser_reserved_connections;
  const bool full = limit > 0 && total >= limit;
  d_.snapshots_full += full ? 1 : 0;
  if (full && d_.first_full_at_s < 0) {
    d_.first_full_at_s = s.t_s;
  }
  record::Sample all;
  all.t_s = s.t_s;
  all.own = all.total = total;
  for (const auto& [name, states] : by_app) {
    record::PoolSample line;
    line.process = name;
    for (const auto& [state, n] : states) {
      all.by_state[state] += n;
      line.checked_out += n;
    }
    line.open = line.checked_out;
    all.pools.push_back(std::move(line));
  }
  d_.samples.push_back(std::move(all));
  for (auto& [name, app] : apps_) {
    const auto it = by_app.find(name);
    int count = 0;
    if (it != by_app.end()) {
      for (const auto& [state, n] : it->second) {
        count += n;
      }
    }
    record::Sample point;
    point.t_s = s.t_s;
    point.own = point.total = count;
    app.series.push_back(point);
    if (count > app.d.peak) {
      app.d.peak = count;
      app.d.peak_at_s = s.t_s;
      app.d.at_peak_by_state = it != by_app.end() ? it->second : std::map<std::string, int>{};
    }
    app.d.final_count = count;
    last_counts_[name] = count;
    if (full && d_.first_full_at_s == s.t_s) {
      app.d.held_when_full = count;
    }
  }
  last_t_ = s.t_s;
  ++d_.snapshots;
  thin_series();
}

void DiagnosisBuilder::add_log(const capture::LogLine& line) {
  d_.server_log = true;
  if (d_.log_lines.size() < kDrawnLogLines) {
    d_.log_lines.push_back(line);
  }
  if (line.sqlstate == "53300" || line.sqlstate == "53400") {
    if (d_.refusals++ == 0) {
      d_.first_refusal_at_s = line.t_s;
      for (const auto& [name, n] : last_counts_) {
        if (n > 0) {
          d_.held_at_first_refusal[name] = n;
        }
      }
    }
    return;  // logged before the server knew who asked
  }
  std::string name = line.application;
  if (name.empty()) {
    const auto it = backends_.find(line.pid);
    if (it == backends_.end()) {
      return;
    }
    name = it->second.app;
  }
  const auto app = apps_.find(name);
  if (app != apps_.end() && app->second.d.server_errors.size() < 64) {
    ++app->second.d.server_errors[line.sqlstate];
  }
}

void DiagnosisBuilder::thin_series() {
  if (d_.samples.size() > kDrawnSamples) {
    std::vector<record::Sample> kept;
    for (size_t i = 0; i < d_.samples.size(); i += 2) {
      kept.push_back(std::move(d_.samples[i]));
    }
    d_.samples = std::move(kept);
  }
  for (auto& [name, app] : apps_) {
    if (app.series.size() <= kMaxPoints) {
      continue;
    }
    std::vector<record::Sample> kept;
    for (size_t i = 0; i < app.series.size(); i += 2) {
      kept.push_back(app.series[i]);
    }
    app.series = std::move(kept);
  }
}

namespace {

uint64_t logged(const AppDiagnosis& a, const char* sqlstate) {
  const auto it = a.server_errors.find(sqlstate);
  return it == a.server_errors.end() ? 0 : it->second;
}

void find_held(AppDiagnosis& a) {
  if (a.held.empty()) {
    return;
  }
  double longest = 0;
  for (const auto& h : a.held) {
    longest = std::max(longest, h.age_s);
  }
  const auto ended = logged(a, "25P03");
  a.findings.push_back(
      {AppFindingKind::kHeldWithoutCommit,
       fmt::format("{} session(s) sat idle in transaction while their transaction only aged "
                   "(the longest {:.0f}s): connections held without a commit{}",
                   a.held.size(), longest,
                   ended > 0 ? fmt::format("; the server ended {} such session(s) (25P03, "
                                           "idle_in_transaction_session_timeout)",
                                           ended)
                             : ""),
       "a session made in a constructor, outside a loop or as a global, used and never "
       "committed or closed, holds its connection for as long as it lives: open a session per "
       "unit of work and close it in finally; set idle_in_transaction_session_timeout on the "
       "server so one that slips through is ended"});
}

void find_duplicates(AppDiagnosis& a, const std::vector<double>& starts) {
  std::vector<std::pair<double, int>> pools;
  for (const auto& g : start_groups(starts, DiagnosisBuilder::kStartGap)) {
    if (g.second >= 2) {
      pools.push_back(g);
    }
  }
  if (pools.size() < 2) {
    return;
  }
  std::vector<int> sizes;
  std::vector<double> gaps;
  for (size_t i = 0; i < pools.size(); ++i) {
    sizes.push_back(pools[i].second);
    if (i > 0) {
      gaps.push_back(pools[i].first - pools[i - 1].first);
    }
  }
  a.start_groups = static_cast<int>(pools.size());
  a.group_size = median(sizes);
  a.group_gap_s = median(gaps);
  if (a.idle_share < 0.5 || a.peak <= a.group_size) {
    return;  // mostly busy, or never more than one group's worth at once
  }
  a.findings.push_back(
      {AppFindingKind::kDuplicateProcesses,
       fmt::format("{} groups of about {} connections each opened together, {:.1f}s apart, "
                   "mostly idle ({:.0f}% of the time), up to {} at once: {} processes of this "
                   "application, each keeping a pool of its own",
                   a.start_groups, a.group_size, a.group_gap_s, 100 * a.idle_share, a.peak,
                   a.start_groups),
       "every process keeps its own pool_size connections open: run one supervised process "
       "(or size each pool so that processes x (pool_size + max_overflow) fits the server)"});
}

void find_growth(AppDiagnosis& a) {
  const auto& g = a.growth;
  if (!g.computed || g.plateaued || g.slope_per_min < 1 || g.rise < 3 || g.r2 < 0.6) {
    return;
  }
  a.findings.push_back(
      {AppFindingKind::kGrowing,
       fmt::format("its connections grew by {:.0f} at {:.1f} per minute (r2 {:.2f}) and had not "
                   "levelled off when the capture ended",
                   g.rise, g.slope_per_min, g.r2),
       "a pool levels off at pool_size + max_overflow; steady growth is sessions (or pools) "
       "made and never given back"});
}

void find_long_statements(AppDiagnosis& a) {
  const auto cancelled = logged(a, "57014");
  if (a.longest_active_s < DiagnosisBuilder::kLongActive && cancelled == 0) {
    return;
  }
  a.findings.push_back(
      {AppFindingKind::kLongStatements,
       fmt::format("a statement stayed active for {:.0f}s{}", a.longest_active_s,
                   cancelled > 0
                       ? fmt::format("; the server cancelled {} of its statements (57014, "
                                     "statement_timeout)",
                                     cancelled)
                       : ""),
       "a long statement holds its connection all the while: set statement_timeout (57014 "
       "ends it) and look at the query"});
}

}  // namespace

CaptureDiagnosis DiagnosisBuilder::finish(const capture::CaptureRead& read) {
  d_.server = read.header.server;
  d_.limit = d_.server.max_connections - d_.server.superuser_reserved_connections;
  d_.interval_s = read.header.interval_s;
  d_.span_s = last_t_;
  d_.cut = read.cut;
  for (auto& [name, app] : apps_) {
    auto& a = app.d;
    for (const auto& [pid, h] : app.held) {
      a.held.push_back(h);
    }
    std::sort(a.held.begin(), a.held.end(),
              [](const auto& x, const auto& y) { return x.since_s < y.since_s; });
    a.idle_share = app.all_samples > 0 ? static_cast<double>(app.idle_samples) /
                                             static_cast<double>(app.all_samples)
                                       : 0;
    a.growth = fit_growth(app.series, 1.0, 0.2, -1);
    find_held(a);
    find_duplicates(a, app.starts);
    find_growth(a);
    find_long_statements(a);
    if (a.findings.empty()) {
      a.findings.push_back(
          {AppFindingKind::kHealthy,
           fmt::format("peaked at {} connection(s), gave every transaction back and did not grow",
                       a.peak),
           "nothing to fix"});
    }
    d_.apps.push_back(std::move(a));
  }
  std::stable_sort(d_.apps.begin(), d_.apps.end(),
                   [](const auto& x, const auto& y) { return x.peak > y.peak; });
  return d_;
}

CaptureDiagnosis diagnose_capture(const std::string& path) {
  const auto bytes = util::read_regular_file(path, capture::kMaxCaptureBytes);
  DiagnosisBuilder builder;
  const auto read = capture::read_capture(
      path, bytes,
      [&](const capture::CaptureHeader& h, const capture::Snapshot& s) { builder.add(h, s); });
  if (read.snapshots == 0) {
    throw util::UsageError(path + ": a capture without a single snapshot");
  }
  return builder.finish(read);
}

}  // namespace pgleak::analysis

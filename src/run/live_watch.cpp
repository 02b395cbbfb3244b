#include "run/live_watch.hpp"

#include <fmt/format.h>

#include "scenario/metrics.hpp"

namespace pgleak::run {

using Clock = std::chrono::steady_clock;

LiveWatch::LiveWatch(const scenario::Scenario& scenario, record::Recorder& recorder,
                     const std::vector<std::unique_ptr<workload::ProcessReplica>>& replicas,
                     std::ostream* log, bool in_place, int connection_limit)
    : scenario_(scenario),
      recorder_(recorder),
      replicas_(replicas),
      log_(log),
      in_place_(in_place),
      connection_limit_(connection_limit) {}

std::vector<record::Holder> LiveWatch::holders() const {
  std::vector<record::Holder> found;
  if (!scenario_.leak_threshold) {
    return found;
  }
  const auto now = Clock::now();
  for (const auto& rep : replicas_) {
    for (const auto& out : rep->pool().outstanding()) {
      const double age = std::chrono::duration<double>(now - out.since).count();
      if (age <= util::to_seconds(scenario_.leak_threshold->applied)) {
        continue;
      }
      record::Holder h;
      h.process = rep->spec().name;
      h.replica = rep->replica();
      h.worker = out.holder;
      const auto group = h.worker.substr(0, h.worker.rfind('.'));
      for (const auto& g : rep->spec().workers) {
        if (g.name == group) {
          h.pattern = g.pattern;
        }
      }
      h.backend_pid = out.backend_pid;
      h.since_s = std::chrono::duration<double>(out.since - recorder_.start()).count();
      h.age_s = age;
      h.age_nominal_s = age / scenario_.time_scale;
      found.push_back(std::move(h));
    }
  }
  return found;
}

std::optional<std::string> LiveWatch::tick() {
  if (log_ != nullptr && scenario_.leak_threshold) {
    for (const auto& rep : replicas_) {
      for (const auto& out : rep->pool().outstanding()) {
        const auto age = Clock::now() - out.since;
        if (age > scenario_.leak_threshold->applied &&
            reported_.emplace(&rep->pool(), out.id).second) {
          finish();
          *log_ << fmt::format(
              "pgleak: holder: {}.{} {} has held backend {} since {:.1f}s, longer than "
              "leak_threshold {}\n",
              rep->spec().name, rep->replica(), out.holder, out.backend_pid,
              std::chrono::duration<double>(out.since - recorder_.start()).count(),
              util::format_duration(scenario_.leak_threshold->nominal));
        }
      }
    }
  }
  progress();
  for (const auto& e : scenario_.expect) {
    if (!e.abort_on_fail) {
      continue;
    }
    const auto so_far = value_so_far(e.metric);
    if (!so_far) {
      continue;  // scenario::can_abort_early admits only what value_so_far() knows
    }
    if (e.lost_for_good(*so_far)) {
      return fmt::format("threshold {} {} can no longer pass (already {})", e.metric, e.text,
                         *so_far);
    }
  }
  return std::nullopt;
}

std::optional<double> LiveWatch::value_so_far(const std::string& metric) const {
  if (const auto* family = scenario::count_family_of(metric)) {
    using Id = scenario::CountFamily::Id;
    const auto counts = family->id == Id::kClientSqlstate   ? recorder_.errors_by_sqlstate()
                        : family->id == Id::kServerSqlstate ? recorder_.server_errors_by_sqlstate()
                                                            : recorder_.pgbouncer_errors();
    const auto key = metric.substr(family->prefix.size());
    return counts.contains(key) ? static_cast<double>(counts.at(key)) : 0.0;
  }
  const auto* m = scenario::find_metric(metric);
  if (m == nullptr || !m->live) {
    return std::nullopt;
  }
  if (m->name == "peak_connections") {
    return recorder_.peak_own();
  }
  if (m->name == "pool_timeouts") {
    return static_cast<double>(recorder_.pool_timeouts());
  }
  if (m->name == "holders") {
    return static_cast<double>(holders().size());
  }
  return std::nullopt;  // a metric marked live without a live value: never aborts
}

void LiveWatch::progress() {
  const auto now = Clock::now();
  if (log_ == nullptr || now - last_progress_ < std::chrono::seconds{1}) {
    return;
  }
  last_progress_ = now;
  const record::Sample s = recorder_.latest_sample().value_or(record::Sample{});
  int waiting = 0;
  for (const auto& p : s.pools) {
    waiting += p.waiting;
  }
  std::string states;
  for (const auto& [state, n] : s.by_state) {
    states += fmt::format("{}{} {}", states.empty() ? "" : ", ", state, n);
  }
  std::string errors;
  for (const auto& [state, n] : recorder_.errors_by_sqlstate()) {
    errors += fmt::format(" {}x{}", state, n);
  }
  int open = 0;
  for (const auto& p : s.pools) {
    open += p.open;
  }
  // A shard that does not sample the server knows only its own pools.
  const auto connections = connection_limit_ < 0
                               ? fmt::format("this shard's pools hold {} connections", open)
                               : fmt::format("connections {}/{} ({})", s.own, connection_limit_,
                                             states.empty() ? "none" : states);
  const auto line = fmt::format("{:6.1f}s  {}  waiting {}  pool timeouts {}  errors{}",
                                recorder_.elapsed_s(), connections, waiting,
                                recorder_.pool_timeouts(), errors.empty() ? " none" : errors);
  if (in_place_) {
    *log_ << "\r\033[K" << line << std::flush;
    drew_in_place_ = true;
  } else {
    *log_ << "pgleak: " << line << "\n";
  }
}

void LiveWatch::finish() {
  if (drew_in_place_ && log_ != nullptr) {
    *log_ << "\n";
    drew_in_place_ = false;
  }
}

}  // namespace pgleak::run

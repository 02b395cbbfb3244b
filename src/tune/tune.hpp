#pragma once

// `pgleak tune`: the smallest pool settings that pass a scenario's
// thresholds under its own load, found by real compressed runs (each stopped
// as soon as a failing threshold can no longer recover). A larger pool never
// makes checkouts wait longer under the same load, so nothing is searched on
// a grid; in order:
//  1. the capacity (pool_size + max_overflow) every process shares: the
//     smallest that is not too small (Candidate::too_small), by bisection,
//     which must then pass everything else;
//  2. how much of it pool_size keeps, by bisection;
//  3. a second run of the result (a setting at the border may pass once by
//     luck), or wider: all pool_size at that capacity, one more, twice it,
//     the widest;
//  4. with per_process, each process's own smallest capacity, the others at
//     the shared one, confirmed together by one more run;
//  5. pool_timeout: four times the longest checkout wait of the runs at the
//     result (at least 1 s, never more than the scenario's own), kept if one
//     more run passes with it and waits at most half of it.
// docs/DIAGNOSE.md says why each step is sound. One thread.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "analysis/budget.hpp"
#include "run/runner.hpp"
#include "scenario/scenario.hpp"

namespace pgleak::tune {

// A process's own pool, where it differs from the candidate's.
struct PoolSetting {
  int pool_size = 0;
  int max_overflow = 0;
  bool operator==(const PoolSetting&) const = default;
};

struct Candidate {
  int pool_size = 0;
  int max_overflow = 0;
  std::map<std::string, PoolSetting> processes;  // per process (--per-process); else none
  // pool_timeout in nominal seconds, when the candidate sets one (else the
  // scenario's).
  std::optional<double> pool_timeout_s;
  bool pass = false;
  std::string status;  // the run's: completed, aborted, ...
  int peak_connections = 0;
  int peak_total = 0;
  double checkout_wait_p95_ms = 0;
  double checkout_wait_max_nominal_s = 0;  // the longest checkout wait, in the scenario's time
  uint64_t pool_timeouts = 0;
  int headroom = 0;                 // the server's slots for ordinary roles left at the peak
  std::vector<std::string> failed;  // thresholds that failed: "pool_timeouts == 0 (actual 3)"
  // The pools were too small for the load: a pool timeout, a checkout
  // waiting in 2.5 % of the samples (half of what makes the verdict call a
  // run undersized: the margin keeps a recommendation off the border; tune
  // samples at least 200 times a run, so one sample is 0.5 %), a failed
  // threshold on checkout waits or pool timeouts, or an undersized verdict.
  // (A peak over its bound is the other side: too much at once.)
  bool too_small = false;
  bool confirmed = false;  // the recommendation: passed a second run
};

struct TuneOptions {
  int max_capacity = 20;  // the widest pool_size + max_overflow tried
  // After the setting every process shares, each process's own smallest
  // capacity, the others held at the shared one (a few runs per process),
  // then all of them together confirmed by one more run.
  bool per_process = false;
  // The target (dsn, preflight), signals; log and side file are not used.
  run::RunOptions run;
  std::function<void(const Candidate&)> on_candidate;  // as each run ends
};

struct TuneResult {
  std::vector<Candidate> tried;  // in the order run
  std::optional<Candidate> best;
  // Without a best: why no setting passes, in words.
  std::string why_none;
};

// Throws what run::run_scenario throws; a run interrupted by a signal ends
// the search (the result holds what was tried).
TuneResult tune(const scenario::Scenario& scenario, const TuneOptions& options);

// `scenario` with every process's pool (and the scenario's) at these
// settings, but those `per_process` names, and every pool_timeout at
// `pool_timeout_s` nominal seconds when given.
scenario::Scenario with_pools(scenario::Scenario scenario, int pool_size, int max_overflow,
                              const std::map<std::string, PoolSetting>& per_process = {},
                              std::optional<double> pool_timeout_s = std::nullopt);

}  // namespace pgleak::tune

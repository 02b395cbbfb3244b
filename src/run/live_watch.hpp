#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "record/observations.hpp"
#include "record/recorder.hpp"
#include "scenario/scenario.hpp"
#include "workload/process_replica.hpp"

namespace pgleak::run {

// What the runner's own thread does while the scenario runs, once per tick:
// reports checkouts as they cross leak_threshold (HikariCP logs them; so do
// we, on the status stream), checks abort_on_fail thresholds that can no
// longer pass, and draws the progress line about once a second.
//
// Used by the runner's thread only.
class LiveWatch {
 public:
  // `connection_limit` < 0: the run does not sample the server (a shard but 0).
  LiveWatch(const scenario::Scenario& scenario, record::Recorder& recorder,
            const std::vector<std::unique_ptr<workload::ProcessReplica>>& replicas,
            std::ostream* log, bool in_place, int connection_limit);

  // Returns why the run should stop early, if an abort_on_fail threshold is lost.
  std::optional<std::string> tick();
  // Ends the progress line (a newline after an in-place line).
  void finish();
  // Checkouts older than leak_threshold right now (empty without one).
  std::vector<record::Holder> holders() const;
  // A metric's value so far, for the metrics a run watches while it runs
  // (scenario::MetricInfo::live, and the SQLSTATE counts); nullopt for others.
  std::optional<double> value_so_far(const std::string& metric) const;

 private:
  void progress();

  const scenario::Scenario& scenario_;
  record::Recorder& recorder_;
  const std::vector<std::unique_ptr<workload::ProcessReplica>>& replicas_;
  std::ostream* log_;
  const bool in_place_;
  const int connection_limit_;
  std::set<std::pair<const void*, uint64_t>> reported_;  // (pool, checkout id)
  std::chrono::steady_clock::time_point last_progress_{};
  bool drew_in_place_ = false;
};

}  // namespace pgleak::run

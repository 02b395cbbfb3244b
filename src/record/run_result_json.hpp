#pragma once

// The run's result as the report writes it, and back: one definition per
// type, used by report::build_report to write and by `pgleak merge` to read
// shards' reports. Each reader throws nlohmann::json::exception for a field
// missing or of the wrong type (and std::invalid_argument for a malformed
// histogram); ints are read with checked_int. Pure functions.

#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "record/run_result.hpp"

namespace pgleak::record {

// A histogram exactly ({"max_us", "buckets": [[bucket, count], ...]}), so
// merge can add shards' up; the inverse adds one into `into`.
nlohmann::json histogram_json(const util::LatencyHistogram& histogram);
void add_histogram_json(util::LatencyHistogram& into, const nlohmann::json& histogram);

// A pool's counters ("stats": every field of PoolStats but
// checkins_by_cleanup, which the pool's entry carries beside them).
nlohmann::json pool_stats_json(const PoolStats& stats);
PoolStats pool_stats_from_json(const nlohmann::json& stats);

// An entry of "pools": {"process","replica","held_at_end","checkins_by_cleanup","stats"}.
nlohmann::json pool_outcome_json(const PoolOutcome& pool);
PoolOutcome pool_outcome_from_json(const nlohmann::json& pool);

// An entry of "loads": {"process","replica","group","model"} and, for the
// open model, "arrivals", "dropped" and "start_delay_ms" (percentiles). The
// exact start-delay histogram goes in a shard's report beside it
// (`start_delays`: a histogram_json, or null for none).
nlohmann::json load_outcome_json(const LoadOutcome& load);
LoadOutcome load_outcome_from_json(const nlohmann::json& load, const nlohmann::json& start_delays);

// An entry of "network": {"action","target","began_s","ended_s","cut_off",
// "ended_on_server","lived_s" {min,median,max} or null,"left","unchecked",
// "error"}.
nlohmann::json network_fault_outcome_json(const NetworkFaultOutcome& fault);

// An entry of "holders".
nlohmann::json holder_json(const Holder& holder);
Holder holder_from_json(const nlohmann::json& holder);

// "target" (what any report says of it), "target_info" (what a shard's
// report adds so merge can rebuild the whole), and back from both.
nlohmann::json target_json(const TargetDescription& target);
nlohmann::json target_info_json(const TargetDescription& target);
TargetDescription target_from_json(const nlohmann::json& target, const nlohmann::json& target_info);

}  // namespace pgleak::record

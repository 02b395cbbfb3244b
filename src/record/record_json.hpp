#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "record/observations.hpp"

// A sample and an event as JSON: the one shape the report's arrays and the
// side file's lines share.
namespace pgleak::record {

// {"t_s","total","own","by_state","by_application","by_process","pools","lag_ms"}
// and "folded": true on a folded sample, whose pools carry "replicas" instead
// of "replica"; "pgbouncer" (SHOW POOLS and SHOW STATS) when it was read.
nlohmann::json sample_json(const Sample& sample);

// An int field of a file pgleak reads back (a report, a timeline): a number
// past int's range, or not a whole number, throws json::out_of_range (or
// type_error), never wraps (a shard count of 2^32 + 2 is not 2).
int checked_int(const nlohmann::json& j);

// {"t_s","kind","sqlstate","message","process","replica","worker","pattern"}
// (null where none applies), and "code_source", "waited_ms", "timeout_ms",
// "pgbouncer_error" where they do.
nlohmann::json event_json(const Event& event);

// The inverses, for `pgleak merge` reading shards' reports and timelines.
// Throw nlohmann::json::exception for a field missing or of the wrong type.
Sample sample_from_json(const nlohmann::json& sample);
Event event_from_json(const nlohmann::json& event);

// `document` with "type": `type`, on one line with its newline: a line of the
// side file (record::SideFile). Bytes that are not UTF-8 become U+FFFD.
std::string json_line(nlohmann::json document, const char* type);

// json_line(sample_json(sample), "sample"), the same bytes, with the pools
// written as text rather than as a document: the sampler writes one line per
// sample, and at 20 Hz with 1,000 pools their documents (an object and seven
// members each, built and freed) cost pgleak 0.5-0.7 s of CPU per 15-s ramp.
std::string sample_line(const Sample& sample);

}  // namespace pgleak::record

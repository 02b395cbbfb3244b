#pragma once

#include <optional>
#include <span>
#include <string_view>

// The summary metrics of a run, one row each (scenario/metrics.def: name,
// help, whether it is watched live or by `pgleak compare`, and its value in
// analysis::Summary): the names a scenario's `expect` may use, the keys the
// report's "summary" writes (a dotted name is a nested object), and what
// `pgleak compare` watches. Beside these, "errors.XXXXX" and
// "server_errors.XXXXX" name the SQLSTATE counts (and "pgbouncer_errors.REASON"
// PgBouncer's; see count_families()).
namespace pgleak::scenario {

struct MetricInfo {
  std::string_view name;  // "checkout_wait_ms.p95"
  std::string_view help;
  // Never decreases during a run and is watched while it runs
  // (run::LiveWatch), so a threshold on it can fail early (abort_on_fail).
  bool live = false;
  // `pgleak compare` flags a rise larger than this (more is worse); none: not watched.
  std::optional<double> compare_noise;
};

// The rows of metrics.def, in its order.
std::span<const MetricInfo> metrics();
const MetricInfo* find_metric(std::string_view name);

// The counted families of metrics: a prefix, then the key counted.
//  - "errors.53300": what the clients saw, by SQLSTATE;
//  - "server_errors.25P03": what the server logged about the run, by SQLSTATE;
//  - "pgbouncer_errors.query_wait_timeout": the errors PgBouncer sent clients
//    (its log's "pooler error" lines), by reason (db::pgbouncer_error_key).
// Each never decreases during a run, so a threshold on it may abort_on_fail.
struct CountFamily {
  enum class Id { kClientSqlstate, kServerSqlstate, kPgBouncer };
  Id id;
  std::string_view prefix;       // "errors."
  std::string_view summary_key;  // where the summary keeps the counts: "errors_by_sqlstate"
  std::string_view key_help;     // what follows the prefix
};

std::span<const CountFamily> count_families();
// The family `name` belongs to, when the rest is a valid key for it: five
// [0-9A-Z] for a SQLSTATE, 1-40 of [a-z0-9_] for a PgBouncer reason.
const CountFamily* count_family_of(std::string_view name);

}  // namespace pgleak::scenario

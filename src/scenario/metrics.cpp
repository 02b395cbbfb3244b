#include "scenario/metrics.hpp"

#include <algorithm>
#include <iterator>

#include "util/text.hpp"

namespace pgleak::scenario {
namespace {

constexpr MetricInfo kMetrics[] = {
#define PGLEAK_METRIC(name, help, live, compare_noise, value) {name, help, live, compare_noise},
#include "scenario/metrics.def"
#undef PGLEAK_METRIC
};

}  // namespace

std::span<const MetricInfo> metrics() {
  return kMetrics;
}

const MetricInfo* find_metric(std::string_view name) {
  const auto it = std::find_if(std::begin(kMetrics), std::end(kMetrics),
                               [&](const MetricInfo& m) { return m.name == name; });
  return it == std::end(kMetrics) ? nullptr : &*it;
}

std::span<const CountFamily> count_families() {
  using Id = CountFamily::Id;
  static constexpr CountFamily kFamilies[] = {
      {Id::kClientSqlstate, "errors.", "errors_by_sqlstate", "a SQLSTATE the clients saw"},
      {Id::kServerSqlstate, "server_errors.", "server_errors_by_sqlstate",
       "a SQLSTATE the server logged"},
      {Id::kPgBouncer, "pgbouncer_errors.", "pgbouncer_errors",
       "a reason PgBouncer gave a client (max_client_conn, query_wait_timeout, ...)"},
  };
  return kFamilies;
}

const CountFamily* count_family_of(std::string_view name) {
  for (const auto& family : count_families()) {
    if (name.substr(0, family.prefix.size()) != family.prefix) {
      continue;
    }
    const auto key = name.substr(family.prefix.size());
    const bool ok =
        family.id == CountFamily::Id::kPgBouncer
            ? !key.empty() && key.size() <= 40 &&
                  std::all_of(key.begin(), key.end(),
                              [](char c) {
                                return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                              })
            : util::is_sqlstate(key);
    return ok ? &family : nullptr;
  }
  return nullptr;
}

}  // namespace pgleak::scenario

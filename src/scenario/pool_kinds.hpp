#pragma once

// The one table of pool kinds (docs/POOLS.md): for each library pgleak models,
// its name in a scenario ("pool": {"kind": ...}), its settings under the
// library's own names with their defaults and bounds, and what the budget
// needs of it (its most connections, and how many it opens unasked at
// start). Read by the loader, the budget, the report and `pgleak list`; the
// model itself is pool/<kind>_pool.cpp, made by pool::make_pool.
//
// SQLAlchemy's QueuePool is the default kind; its settings keep their own
// fields in PoolSettings (pool_size, ...). Every other kind's settings are
// PoolSettings::own, filled with the table's defaults before the scenario's
// values are read over them.
//
// Thread-safety: the table is constant.

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgleak::scenario {

struct PoolSettings;

struct KindSetting {
  // kText: a word from a list (SQLAlchemy's own reader reads those).
  enum class Type { kInt, kDuration, kBool, kText };
  std::string_view name;
  Type type = Type::kInt;
  std::string_view default_value;  // as a scenario writes it
  std::string_view help;
  int min = 0;  // kInt: the bounds; kDuration: the least in ms (0 always allowed when zero_off)
  int max = 0;
  bool zero_off = false;  // kDuration: "0" turns the behaviour off
};

struct PoolKind {
  std::string_view name;     // in a scenario: "pool": {"kind": name}
  std::string_view library;  // the library and version modelled
  std::string_view about;    // one line for `pgleak list`
  std::span<const KindSetting> settings;
  std::string_view timeout_setting;  // the one that bounds a checkout's wait
  int threads = 0;                   // threads a pool of this kind runs beside the workers
  // The most connections one pool of this kind opens; -1 when unbounded.
  int (*capacity)(const PoolSettings&) = nullptr;
  // Connections it opens at start before anyone asks (an eager pool).
  int (*eager)(const PoolSettings&) = nullptr;
  // What the library refuses or silently changes in these settings together,
  // as (setting, why) pairs; none when they are good.
  std::vector<std::pair<std::string, std::string>> (*check)(const PoolSettings&) = nullptr;
  // Whether the caller of a connection the server ended (57P01, 25P03, ...)
  // sees the FATAL it sent, with its SQLSTATE: drivers that speak the
  // protocol themselves (JDBC, pgx, node-postgres) show it; libpq's
  // (psycopg2, psycopg) show a lost connection without one.
  bool shows_server_fatal = false;
  // Whether the pool opens connections on its own threads and tries again
  // when one fails, so a refusal reaches its clients only as a longer wait
  // (HikariCP, psycopg_pool, pgx's health check); node-postgres and
  // SQLAlchemy connect in the caller, who sees the error.
  bool connects_in_background = false;
};

inline constexpr std::string_view kSqlAlchemyKind = "sqlalchemy";

std::span<const PoolKind> pool_kinds();
// nullptr when no kind has that name.
const PoolKind* find_pool_kind(std::string_view name);
// The kind of these settings (the table's row; SQLAlchemy's when unset).
const PoolKind& kind_of(const PoolSettings& settings);

struct Scenario;
// `what` (a command or option) changes SQLAlchemy's pool_size and
// max_overflow: throws util::UsageError naming the first process whose pool
// is of another kind.
void require_sqlalchemy_pools(const Scenario& scenario, std::string_view what);

}  // namespace pgleak::scenario

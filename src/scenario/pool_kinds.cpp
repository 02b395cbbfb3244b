#include "scenario/pool_kinds.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>

#include "scenario/scenario.hpp"
#include "util/errors.hpp"
#include "util/text.hpp"

namespace pgleak::scenario {
namespace {

using T = KindSetting::Type;

// create_engine's pool arguments; read into PoolSettings' own fields.
constexpr std::array kSqlAlchemy{
    KindSetting{"pool_size", T::kInt, "5", "connections kept open while idle; 0: no limit", 0,
                10000},
    KindSetting{"max_overflow", T::kInt, "10", "connections beyond pool_size; -1: no limit", -1,
                10000},
    KindSetting{"pool_timeout", T::kDuration, "30s", "how long a checkout waits"},
    KindSetting{"pool_recycle", T::kDuration, "-1",
                "replace connections older than this at checkout"},
    KindSetting{"pool_pre_ping", T::kBool, "false", "ping at checkout; replace a dead connection"},
    KindSetting{"use_lifo", T::kBool, "false", "hand out the most recently returned first"},
    KindSetting{"reset_on_return", T::kText, "\"rollback\"", "\"rollback\" or \"none\""},
    KindSetting{"poolclass", T::kText, "\"QueuePool\"",
                "\"NullPool\": a connection per checkout, nothing kept"},
};

// HikariConfig's setters (and two of its system properties), HikariCP 2.7.
constexpr std::array kHikari{
    KindSetting{"maximumPoolSize", T::kInt, "10", "the most connections, idle and in use", 1,
                10000},
    KindSetting{"minimumIdle", T::kInt, "-1",
                "idle connections the pool fills to in the background; -1: maximumPoolSize", -1,
                10000},
    KindSetting{"connectionTimeout", T::kDuration, "30s",
                "how long getConnection() waits (at least 250ms)", 250},
    KindSetting{"idleTimeout", T::kDuration, "10m",
                "idle connections above minimumIdle close after this (at least 10s; 0: never)",
                10'000, 0, true},
    KindSetting{"maxLifetime", T::kDuration, "30m",
                "a connection's life, less up to 2.5 % at random (at least 30s; 0: for ever)",
                30'000, 0, true},
    KindSetting{"leakDetectionThreshold", T::kDuration, "0s",
                "warn of a connection held this long (at least 2s; 0: off); never reclaimed", 2'000,
                0, true},
    KindSetting{
        "housekeepingPeriod", T::kDuration, "30s",
        "the housekeeper's period (system property com.zaxxer.hikari.housekeeping.periodMs)", 10},
    KindSetting{"aliveBypassWindow", T::kDuration, "500ms",
                "a connection idle longer is validated at checkout (system property "
                "com.zaxxer.hikari.aliveBypassWindowMs)"},
};

// ConnectionPool's arguments, psycopg_pool 3.1.
constexpr std::array kPsycopg{
    KindSetting{"min_size", T::kInt, "4", "connections opened at start and kept", 0, 10000},
    KindSetting{"max_size", T::kInt, "-1", "the most connections; -1: min_size (None)", -1, 10000},
    KindSetting{"timeout", T::kDuration, "30s", "how long getconn() waits"},
    KindSetting{"max_lifetime", T::kDuration, "1h",
                "a connection's life, less up to 5 % at random; checked when returned", 1},
    KindSetting{"max_idle", T::kDuration, "10m",
                "every max_idle, one connection above min_size unused throughout closes", 1},
    KindSetting{"reconnect_timeout", T::kDuration, "5m",
                "how long a failed connect is retried in the background (1 s, doubling)"},
};

using Problems = std::vector<std::pair<std::string, std::string>>;

Problems no_problems(const PoolSettings&) {
  return {};
}

// HikariConfig.validateNumerics() logs a warning and changes these; a
// scenario says what it means instead.
Problems hikari_check(const PoolSettings& p) {
  Problems out;
  const auto ms = [&p](std::string_view name) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(p.own_duration(name).nominal)
        .count();
  };
  if (p.own_number("minimumIdle") > p.own_number("maximumPoolSize")) {
    out.emplace_back("minimumIdle", "must be at most maximumPoolSize (HikariCP lowers it to that)");
  }
  const auto lifetime = ms("maxLifetime");
  if (lifetime > 0 && ms("idleTimeout") > 0 && ms("idleTimeout") + 1000 > lifetime &&
      p.own_number("minimumIdle") >= 0 &&
      p.own_number("minimumIdle") < p.own_number("maximumPoolSize")) {
    out.emplace_back("idleTimeout",
                     "must be more than 1s below maxLifetime (HikariCP turns it off otherwise)");
  }
  const auto leak = ms("leakDetectionThreshold");
  if (leak > 0 && lifetime > 0 && leak > lifetime) {
    out.emplace_back("leakDetectionThreshold",
                     "must be at most maxLifetime (HikariCP turns it off otherwise)");
  }
  return out;
}

// ConnectionPool._check_size() raises ValueError for these.
Problems psycopg_check(const PoolSettings& p) {
  Problems out;
  const int min = p.own_number("min_size");
  const int max = p.own_number("max_size");
  if (max >= 0 && max < min) {
    out.emplace_back("max_size", "must be at least min_size (psycopg_pool raises ValueError)");
  }
  if (min == 0 && max <= 0) {
    out.emplace_back("max_size",
                     "must be more than 0 when min_size is 0 (psycopg_pool raises ValueError)");
  }
  return out;
}

// pgxpool's connection-string settings (pgx v4.15), its Config.LazyConnect,
// and the deadline the application gives Acquire.
constexpr std::array kPgx{
    KindSetting{"pool_max_conns", T::kInt, "4", "the most connections", 1, 10000},
    KindSetting{"pool_min_conns", T::kInt, "0",
                "opened at start and topped up at each health check", 0, 10000},
    KindSetting{"pool_max_conn_lifetime", T::kDuration, "1h",
                "closed at release or health check once this old", 1},
    KindSetting{"pool_max_conn_idle_time", T::kDuration, "30m",
                "idle connections close at the health check after this", 1},
    KindSetting{"pool_health_check_period", T::kDuration, "1m", "how often the health check runs",
                1},
    KindSetting{"LazyConnect", T::kBool, "false",
                "Config.LazyConnect: open nothing at start (else a refused start fails Connect)"},
    KindSetting{"acquire_timeout", T::kDuration, "0s",
                "the context deadline the application gives Acquire (0: none, waits for ever)"},
};

// new pg.Pool({...}) options, pg 8 (pg-pool 3).
constexpr std::array kNodePg{
    KindSetting{"max", T::kInt, "10", "the most clients", 1, 10000},
    KindSetting{"min", T::kInt, "0", "idle clients never closed for idleness below this", 0, 10000},
    KindSetting{"idleTimeoutMillis", T::kDuration, "10s",
                "a released client idle this long closes (0: never)"},
    KindSetting{"connectionTimeoutMillis", T::kDuration, "0s",
                "how long connect() waits for a client (0: for ever)"},
    KindSetting{"maxLifetimeSeconds", T::kDuration, "0s",
                "a client this old closes, when idle or at release (0: for ever)"},
    KindSetting{"maxUses", T::kInt, "0", "a client is closed after this many checkouts (0: never)",
                0, 1'000'000'000},
};

int plain_capacity(const PoolSettings& p, std::string_view name) {
  return p.own_number(name);
}
int pgx_capacity(const PoolSettings& p) {
  return plain_capacity(p, "pool_max_conns");
}
int pgx_eager(const PoolSettings& p) {
  return p.own_flag("LazyConnect") ? 0 : std::max(1, p.own_number("pool_min_conns"));
}
int node_capacity(const PoolSettings& p) {
  return plain_capacity(p, "max");
}

Problems pgx_check(const PoolSettings& p) {
  Problems out;
  if (p.own_number("pool_min_conns") > p.own_number("pool_max_conns")) {
    out.emplace_back("pool_min_conns", "must be at most pool_max_conns");
  }
  return out;
}

Problems node_check(const PoolSettings& p) {
  Problems out;
  if (p.own_number("min") > p.own_number("max")) {
    out.emplace_back("min", "must be at most max");
  }
  return out;
}

int sqlalchemy_capacity(const PoolSettings& p) {
  return (p.null_pool || p.pool_size == 0 || p.max_overflow < 0) ? -1
                                                                 : p.pool_size + p.max_overflow;
}
int no_eager(const PoolSettings&) {
  return 0;
}

int hikari_capacity(const PoolSettings& p) {
  return p.own_number("maximumPoolSize");
}
int hikari_eager(const PoolSettings& p) {
  const int max = p.own_number("maximumPoolSize");
  const int min = p.own_number("minimumIdle");
  return min < 0 ? max : std::min(min, max);
}

int psycopg_eager(const PoolSettings& p) {
  return p.own_number("min_size");
}
int psycopg_capacity(const PoolSettings& p) {
  const int max = p.own_number("max_size");
  return max < 0 ? p.own_number("min_size") : max;
}

constexpr std::array kKinds{
    PoolKind{kSqlAlchemyKind, "SQLAlchemy 1.4 QueuePool",
             "lazy; waits pool_timeout; overflow closes at check-in", kSqlAlchemy, "pool_timeout",
             0, sqlalchemy_capacity, no_eager, no_problems},
    PoolKind{"hikaricp", "HikariCP 2.7",
             "eager to minimumIdle in the background; refused connects retried; leak warnings",
             kHikari, "connectionTimeout", 1, hikari_capacity, hikari_eager, hikari_check, true,
             true},
    PoolKind{"psycopg_pool", "psycopg_pool 3.1 ConnectionPool",
             "eager to min_size; grows one at a time while clients wait; shrinks every max_idle",
             kPsycopg, "timeout", 1, psycopg_capacity, psycopg_eager, psycopg_check, false, true},
    PoolKind{"pgx", "pgx v4 pgxpool",
             "one at start; callers connect themselves; no rollback: a connection returned in a "
             "transaction is closed",
             kPgx, "acquire_timeout", 1, pgx_capacity, pgx_eager, pgx_check, true, true},
    PoolKind{"node_postgres", "node-postgres 8 Pool",
             "lazy; callers connect themselves; a client released in a transaction stays in it",
             kNodePg, "connectionTimeoutMillis", 1, node_capacity, no_eager, node_check, true},
};

}  // namespace

std::span<const PoolKind> pool_kinds() {
  return kKinds;
}

const PoolKind* find_pool_kind(std::string_view name) {
  const auto it =
      std::find_if(kKinds.begin(), kKinds.end(), [&](const PoolKind& k) { return k.name == name; });
  return it == kKinds.end() ? nullptr : &*it;
}

void require_sqlalchemy_pools(const Scenario& scenario, std::string_view what) {
  for (const auto& p : scenario.processes) {
    if (p.pool.kind != kSqlAlchemyKind) {
      const auto& kind = kind_of(p.pool);
      throw util::UsageError(fmt::format(
          "{} sets SQLAlchemy's pool_size and max_overflow, but process {} uses a {} pool ({}): "
          "set its own settings in the scenario instead",
          what, util::printable(p.name), kind.name, kind.library));
    }
  }
}

const PoolKind& kind_of(const PoolSettings& settings) {
  const auto* kind = find_pool_kind(settings.kind);
  return kind != nullptr ? *kind : kKinds.front();
}

}  // namespace pgleak::scenario

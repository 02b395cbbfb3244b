#include "probe/pgbouncer_console.hpp"

#include <algorithm>
#include <string_view>

#include "db/db_error.hpp"

namespace pgleak::probe {
namespace {

// Sums the named numeric column over the rows whose "database" is not the
// console's own; 0 when the column is missing (an older PgBouncer).
class Table {
 public:
  Table(std::vector<db::OwnSession::Row> rows, std::vector<std::string> columns)
      : rows_(std::move(rows)), columns_(std::move(columns)) {
    database_ = index("database");
    if (database_ < 0) {
      throw db::DbError("PgBouncer's admin console answered without a database column", "", false);
    }
  }
  template <typename T>
  T sum(std::string_view column) const {
    const int at = index(column);
    T total{};
    for (const auto& row : rows_) {
      if (at >= 0 && !is_console(row)) {
        total += db::OwnSession::number<T>(field(row, at));
      }
    }
    return total;
  }
  // The longest wait of any one pool, in ms: "maxwait" is whole seconds and
  // "maxwait_us" the microseconds past them (PgBouncer 1.8+).
  double longest_wait_ms() const {
    const int sec = index("maxwait");
    const int usec = index("maxwait_us");
    double most = 0;
    for (const auto& row : rows_) {
      if (sec < 0 || is_console(row)) {
        continue;
      }
      double ms = db::OwnSession::number<double>(field(row, sec)) * 1000.0;
      if (usec >= 0) {
        ms += db::OwnSession::number<double>(field(row, usec)) / 1000.0;
      }
      most = std::max(most, ms);
    }
    return most;
  }

 private:
  int index(std::string_view column) const {
    const auto it = std::find(columns_.begin(), columns_.end(), column);
    return it == columns_.end() ? -1 : static_cast<int>(it - columns_.begin());
  }
  static const std::optional<std::string>& field(const db::OwnSession::Row& row, int at) {
    static const std::optional<std::string> kNull;
    return static_cast<size_t>(at) < row.size() ? row[static_cast<size_t>(at)] : kNull;
  }
  bool is_console(const db::OwnSession::Row& row) const {
    const auto& db = field(row, database_);
    return db && *db == "pgbouncer";
  }

  std::vector<db::OwnSession::Row> rows_;
  std::vector<std::string> columns_;
  int database_ = -1;
};

}  // namespace

record::PgBouncerSample read_pgbouncer_console(db::OwnSession& console) {
  record::PgBouncerSample s;
  auto pool_rows = console.query("SHOW POOLS");
  const Table pools{std::move(pool_rows), console.columns()};
  s.cl_active = pools.sum<int>("cl_active");
  s.cl_waiting = pools.sum<int>("cl_waiting");
  s.sv_active = pools.sum<int>("sv_active");
  s.sv_idle = pools.sum<int>("sv_idle");
  s.sv_used = pools.sum<int>("sv_used");
  s.sv_login = pools.sum<int>("sv_login");
  s.maxwait_ms = pools.longest_wait_ms();
  auto stat_rows = console.query("SHOW STATS");
  const Table stats{std::move(stat_rows), console.columns()};
  s.xact_count = stats.sum<uint64_t>("total_xact_count");
  s.query_count = stats.sum<uint64_t>("total_query_count");
  s.wait_time_ms = stats.sum<double>("total_wait_time") / 1000.0;
  return s;
}

}  // namespace pgleak::probe

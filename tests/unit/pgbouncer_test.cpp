// PgBouncer in the path, without a PgBouncer: the scenario block and its
// problems, the pgbouncer.ini pgleak writes, its log's pooler errors, the
// reasons client errors are counted under, and the budget of both layers.
#include "server/pgbouncer.hpp"

#include <gtest/gtest.h>

#include "analysis/budget.hpp"
#include "db/sqlstate.hpp"
#include "probe/pgbouncer_log.hpp"
#include "scenario/metrics.hpp"
#include "scenario_problems.hpp"

namespace pgleak::scenario {
namespace {

std::string with_pgbouncer(const std::string& block) {
  return R"({"name": "s", "duration": "10s", "time_scale": 0.5, "pgbouncer": )" + block + R"(,
    "processes": [{"name": "api", "replicas": 4, "pool": {"pool_size": 5, "max_overflow": 10},
                   "workers": [{"pattern": "scoped", "count": 3}]}]})";
}

TEST(PgBouncerScenario, DefaultsArePgBouncersScaledLikeWrittenValues) {
  const auto s = parse_ok(with_pgbouncer("{}"));
  ASSERT_TRUE(s.pgbouncer);
  const auto& b = *s.pgbouncer;
  EXPECT_EQ(b.pool_mode, PgBouncerSettings::Mode::kSession);  // PgBouncer's default
  EXPECT_EQ(b.default_pool_size, 20);
  EXPECT_EQ(b.max_client_conn, 100);
  EXPECT_EQ(b.max_db_connections, 0);
  EXPECT_EQ(b.query_wait_timeout.nominal, std::chrono::seconds{120});
  EXPECT_EQ(b.query_wait_timeout.applied, std::chrono::seconds{60});  // time_scale 0.5
  EXPECT_EQ(b.idle_transaction_timeout.applied.count(), 0);           // off
  EXPECT_EQ(b.server_connections(), 20);
}

TEST(PgBouncerScenario, EverySettingIsReadAndTheServerSideIsCapped) {
  const auto s = parse_ok(with_pgbouncer(
      R"({"pool_mode": "transaction", "default_pool_size": 8, "min_pool_size": 2,
          "reserve_pool_size": 4, "reserve_pool_timeout": "2s", "max_client_conn": 300,
          "max_db_connections": 10, "server_idle_timeout": "30s", "server_lifetime": "1h",
          "query_wait_timeout": "20s", "idle_transaction_timeout": "1m",
          "ignore_startup_parameters": ["options", "extra_float_digits"]})"));
  const auto& b = *s.pgbouncer;
  EXPECT_EQ(b.pool_mode, PgBouncerSettings::Mode::kTransaction);
  EXPECT_EQ(b.server_connections(), 10);  // 8 + 4, capped by max_db_connections
  const auto ini = server::pgbouncer_pool_settings(b);
  for (const char* line :
       {"pool_mode = transaction\n", "default_pool_size = 8\n", "min_pool_size = 2\n",
        "reserve_pool_size = 4\n", "reserve_pool_timeout = 1.000\n", "max_client_conn = 300\n",
        "max_db_connections = 10\n", "server_idle_timeout = 15.000\n",
        "server_lifetime = 1800.000\n", "query_wait_timeout = 10.000\n",
        "idle_transaction_timeout = 30.000\n",
        "ignore_startup_parameters = options,extra_float_digits\n"}) {
    EXPECT_NE(ini.find(line), std::string::npos) << line << " not in:\n" << ini;
  }
}

TEST(PgBouncerScenario, EveryProblemHasItsPointer) {
  const auto problems = problems_of(with_pgbouncer(
      R"({"pool_mode": "pipelined", "default_pool_size": 0, "min_pool_size": 30,
          "max_client_conn": 0, "query_wait_timeout": 5, "ignore_startup_parameters": ["a;b"],
          "listen_port": 6432})"));
  EXPECT_TRUE(has_problem(problems, "/pgbouncer/pool_mode", "session")) << dump(problems);
  EXPECT_TRUE(has_problem(problems, "/pgbouncer/default_pool_size", ">= 1")) << dump(problems);
  EXPECT_TRUE(has_problem(problems, "/pgbouncer/max_client_conn", ">= 1")) << dump(problems);
  EXPECT_TRUE(has_problem(problems, "/pgbouncer/query_wait_timeout", "duration")) << dump(problems);
  EXPECT_TRUE(has_problem(problems, "/pgbouncer/ignore_startup_parameters", "parameter names"))
      << dump(problems);
  EXPECT_TRUE(has_problem(problems, "/pgbouncer/listen_port", "unknown key")) << dump(problems);
  const auto small = problems_of(with_pgbouncer(R"({"default_pool_size": 2, "min_pool_size": 3})"));
  EXPECT_TRUE(has_problem(small, "/pgbouncer/min_pool_size", "default_pool_size")) << dump(small);
}

// PgBouncer reads 0 as "disabled": a timeout that scales below its 1 ms
// resolution would be written as 0.000 and switch off silently (clients
// would wait the whole run, and the verdict pass). Refused, written or default.
TEST(PgBouncerScenario, ATimeoutBelowPgBouncersResolutionIsRefused) {
  const auto text = [](const std::string& ts, const std::string& block) {
    return R"({"name": "s", "duration": "10s", "time_scale": )" + ts + R"(, "pgbouncer": )" +
           block + R"(, "processes": [{"name": "api", "workers": [{"pattern": "scoped"}]}]})";
  };
  const auto written = problems_of(text("0.0001", R"({"query_wait_timeout": "5s"})"));
  EXPECT_TRUE(has_problem(written, "/pgbouncer/query_wait_timeout", "below PgBouncer's resolution"))
      << dump(written);
  // 5 s at 0.0001 is 500 us; the default reserve_pool_timeout (5 s) too.
  EXPECT_TRUE(has_problem(written, "/pgbouncer/reserve_pool_timeout", "PgBouncer's default"))
      << dump(written);
  // Exactly 1 ms is PgBouncer's "0.001", and kept; idle_transaction_timeout 0 is off, as written.
  const auto ok =
      parse_ok(text("0.001", R"({"query_wait_timeout": "1s", "reserve_pool_timeout": "1s",
                                             "server_idle_timeout": "1s", "server_lifetime": "1s"})"));
  EXPECT_NE(server::pgbouncer_pool_settings(*ok.pgbouncer).find("query_wait_timeout = 0.001\n"),
            std::string::npos);
}

TEST(PgBouncerBudget, TheServerSeesPgBouncersConnectionsAndTheClientsMustFit) {
  const auto s = parse_ok(with_pgbouncer(
      R"({"pool_mode": "transaction", "default_pool_size": 15, "max_client_conn": 50})"));
  probe::ServerLimits limits;
  limits.max_connections = 100;
  limits.superuser_reserved_connections = 3;
  const auto b = analysis::compute_budget(s, limits);
  ASSERT_TRUE(b.pgbouncer);
  EXPECT_EQ(b.pgbouncer->clients, 60);  // 4 replicas x (5 + 10)
  EXPECT_FALSE(b.pgbouncer->clients_fit);
  EXPECT_EQ(b.worst_case, 15);
  EXPECT_EQ(b.headroom, 97 - 15);
  EXPECT_FALSE(b.fits);  // the server has room; PgBouncer's clients do not
  const auto roomy =
      parse_ok(with_pgbouncer(R"({"default_pool_size": 15, "max_client_conn": 60})"));
  EXPECT_TRUE(analysis::compute_budget(roomy, limits).fits);
  const auto text = analysis::format_budget(s, b);
  EXPECT_NE(text.find("max_client_conn 50: DOES NOT FIT"), std::string::npos) << text;
  EXPECT_EQ(analysis::budget_json(b)["pgbouncer"]["server_connections"], 15);
}

TEST(PgBouncerErrors, ClientMessagesAreCountedByReason) {
  EXPECT_EQ(db::pgbouncer_error_key("connection to server at \"127.0.0.1\", port 6432 failed: "
                                    "FATAL:  no more connections allowed (max_client_conn)"),
            "max_client_conn");
  EXPECT_EQ(db::pgbouncer_error_key("ERROR:  query_wait_timeout"), "query_wait_timeout");
  EXPECT_EQ(db::pgbouncer_error_key("FATAL:  unsupported startup parameter: options"),
            "unsupported_startup_parameter");
  EXPECT_EQ(db::pgbouncer_error_key("FATAL:  sorry, too many clients already"), "");
  EXPECT_EQ(db::pgbouncer_error_key("server closed the connection unexpectedly"), "");
}

TEST(PgBouncerErrors, PoolerErrorLinesOfItsLogAreParsed) {
  const auto e = probe::parse_pooler_error(
      "2026-11-30 20:32:20.528 UTC [26409] WARNING C-0x555fc256b9b0: "
      "postgres/pgleak_app@127.0.0.1:33678 pooler error: query_wait_timeout");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->reason, "query_wait_timeout");
  EXPECT_EQ(e->client, "postgres/pgleak_app@127.0.0.1:33678");
  ASSERT_TRUE(e->timestamp);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(e->timestamp->time_since_epoch())
                    .count() %
                1000,
            528);
  const auto unknown = probe::parse_pooler_error(
      "2026-11-30 20:32:21.030 UTC [1] WARNING C-0x1: (nodb)/(nouser)@127.0.0.1:1 "
      "pooler error: Something New Happened!");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->reason, "something_new_happened");
  EXPECT_TRUE(count_family_of("pgbouncer_errors." + unknown->reason));
  // Not pooler errors: a closing line, a LOG line, a server connection's line.
  for (const char* line :
       {"2026-11-30 20:32:20.528 UTC [1] LOG C-0x1: a/b@1.2.3.4:5 closing because: "
        "query_wait_timeout (age=0s)",
        "2026-11-30 20:32:19.193 UTC [1] LOG listening on 127.0.0.1:16432", ""}) {
    EXPECT_FALSE(probe::parse_pooler_error(line)) << line;
  }
}

TEST(PgBouncerErrors, ThresholdsNameTheirCountsByFamily) {
  const auto* f = count_family_of("pgbouncer_errors.max_client_conn");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->summary_key, "pgbouncer_errors");
  EXPECT_EQ(count_family_of("errors.53300")->summary_key, "errors_by_sqlstate");
  EXPECT_EQ(count_family_of("server_errors.25P03")->summary_key, "server_errors_by_sqlstate");
  for (const char* bad : {"errors.5330", "errors.abcde", "pgbouncer_errors.", "pgbouncer_errors.A",
                          "pgbouncer_errors.a-b", "other.53300"}) {
    EXPECT_EQ(count_family_of(bad), nullptr) << bad;
  }
  // And a scenario may abort on one.
  const auto s = parse_ok(R"({"name": "s", "duration": "1s",
    "expect": {"pgbouncer_errors.query_wait_timeout": {"expr": "== 0", "abort_on_fail": true}},
    "processes": [{"name": "p", "workers": [{"pattern": "scoped"}]}]})");
  EXPECT_TRUE(s.expect.at(0).abort_on_fail);
}

}  // namespace
}  // namespace pgleak::scenario

// The pool kinds whose callers connect for themselves, against the libraries
// they model: pgx v4's pgxpool (tests/differential/pools/pgx_cases.go, built
// with Debian's Go and pgx) and node-postgres' Pool
// (tests/differential/pools/node/, npm's pg), each case run once with the real
// library and once with pgleak's model on one server (pool_kinds_fixture.hpp);
// and the incident written for every stack. Skips, saying why, without them.
#include "pool_kinds_fixture.hpp"

namespace pgleak::testing {
namespace {

TEST_F(PoolKinds, PgxOpensMinConnsAtStartAndNodePostgresNothing) {
  PGLEAK_NEED(have_pgx_ && have_node_, "Go with pgx v4, and node-postgres");
  const auto pgx_real = pgx("fill", "px-fill-real");
  const auto node_real = node("fill", "nd-fill-real");
  auto px = model({{"kind", "pgx"}, {"pool_min_conns", 2}, {"pool_max_conns", 4}}, "px-fill-model");
  auto nd = model({{"kind", "node_postgres"}, {"max", 4}}, "nd-fill-model");
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(pgx_real.at("backends"), 2);
  EXPECT_EQ(backends("px-fill-model"), 2);
  EXPECT_EQ(node_real.at("backends"), 0);
  EXPECT_EQ(backends("nd-fill-model"), 0);
}

TEST_F(PoolKinds, PgxAndNodePostgresTimeOutInTheirOwnWords) {
  PGLEAK_NEED(have_pgx_ && have_node_, "Go with pgx v4, and node-postgres");
  const auto cases = {
      std::tuple{json{{"kind", "pgx"}, {"pool_max_conns", 2}, {"acquire_timeout", "500ms"}},
                 pgx("exhaust", "px-ex-real"), "px-ex-model"},
      std::tuple{json{{"kind", "node_postgres"}, {"max", 2}, {"connectionTimeoutMillis", "500ms"}},
                 node("exhaust", "nd-ex-real"), "nd-ex-model"}};
  for (const auto& [settings, real, app] : cases) {
    SCOPED_TRACE(settings.dump());
    auto m = model(settings, app);
    auto a = m.pool->checkout(as(app));
    auto b = m.pool->checkout(as(app));
    const auto [message, waited] = time_out(*m.pool, app);
    EXPECT_EQ(message, real.at("message").get<std::string>());
    waited_its_timeout(waited.count(), 500);
    waited_its_timeout(real.at("waited_ms").get<int64_t>(), 500);
  }
}

// pgxpool hands the dead connection out and the caller's statement fails;
// node-postgres removed it on its error event, so the caller never sees it.
TEST_F(PoolKinds, AConnectionKilledWhileIdleInPgxAndNodePostgres) {
  PGLEAK_NEED(have_pgx_ && have_node_, "Go with pgx v4, and node-postgres");
  const auto cases = {std::tuple{json{{"kind", "pgx"}, {"pool_max_conns", 1}},
                                 pgx("killed", "px-k-real"), "px-k-model"},
                      std::tuple{json{{"kind", "node_postgres"}, {"max", 1}},
                                 node("killed", "nd-k-real"), "nd-k-model"}};
  for (const auto& [settings, real, app] : cases) {
    SCOPED_TRACE(settings.dump());
    const auto seen = killed(settings, app);
    EXPECT_EQ(seen.at("first_use"), real.at("first_use"));
    EXPECT_EQ(seen.at("then_replaced"), real.at("then_replaced"));
    if (real.contains("sqlstate")) {
      // pgx shows the server's FATAL: what ADeadConnectionsError... relies on.
      EXPECT_EQ(real.at("sqlstate"), "57P01");
    }
  }
}

// Neither retries: the refusal (53300) is the caller's error, at once.
TEST_F(PoolKinds, ARefusedConnectIsTheCallersErrorInPgxAndNodePostgres) {
  PGLEAK_NEED(have_pgx_ && have_node_, "Go with pgx v4, and node-postgres");
  const auto cases = {std::tuple{json{{"kind", "pgx"}, {"LazyConnect", true}},
                                 pgx("refused", "px-r-real", true), "px-r-model"},
                      std::tuple{json{{"kind", "node_postgres"}},
                                 node("refused", "nd-r-real", true), "nd-r-model"}};
  for (const auto& [settings, real, app] : cases) {
    SCOPED_TRACE(settings.dump());
    auto m = model(settings, app, true);
    std::string sqlstate;
    const auto t0 = Clock::now();
    try {
      m.pool->checkout(as(app));
    } catch (const db::DbError& e) {
      sqlstate = e.sqlstate();
    }
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    EXPECT_EQ(sqlstate, "53300");
    EXPECT_EQ(real.at("sqlstate"), sqlstate);
    EXPECT_LT(waited, 500ms);
    EXPECT_LT(real.at("waited_ms").get<int>(), 500);
    EXPECT_EQ(m.pool->stats().connect_failures, 1u);
  }
}

// Released inside a transaction: pgxpool closes the connection; node-postgres
// keeps it, idle in transaction, for the next caller.
TEST_F(PoolKinds, AConnectionReleasedInATransactionIsClosedByPgxAndKeptByNodePostgres) {
  PGLEAK_NEED(have_pgx_ && have_node_, "Go with pgx v4, and node-postgres");
  const auto pgx_real = pgx("in_transaction", "px-t-real");
  const auto node_real = node("in_transaction", "nd-t-real");
  for (const auto& [settings, app] :
       {std::pair{json{{"kind", "pgx"}, {"pool_max_conns", 1}}, std::string{"px-t-model"}},
        std::pair{json{{"kind", "node_postgres"}, {"max", 1}}, std::string{"nd-t-model"}}}) {
    SCOPED_TRACE(settings.dump());
    auto m = model(settings, app);
    int first = 0;
    {
      auto c = m.pool->checkout(as(app));
      first = c->backend_pid();
      c->begin();
      c->execute("SELECT 1");
    }
    const bool node_kind = settings.at("kind") == "node_postgres";
    if (node_kind) {
      EXPECT_EQ(node_real.at("idle_in_transaction"), 1);
      EXPECT_EQ(backends(app, "idle in transaction"), 1);
    }
    auto c = m.pool->checkout(as(app));
    const bool same = c->backend_pid() == first;
    EXPECT_EQ(same, (node_kind ? node_real : pgx_real).at("same_connection").get<bool>());
    EXPECT_EQ(same, node_kind);
  }
}

// Idle connections close: pgxpool's at its health check (here every 250 ms,
// after 1 s idle) down to pool_min_conns; node-postgres' each after
// idleTimeoutMillis (1 s).
TEST_F(PoolKinds, IdleConnectionsCloseOnEachLibrarysSchedule) {
  PGLEAK_NEED(have_pgx_ && have_node_, "Go with pgx v4, and node-postgres");
  struct Case {
    json settings;
    std::future<json> real;  // run beside the model: both take 2.5 s
    std::string app;
    int floor;  // at most what stays: pool_min_conns, or node-postgres' min 0
  };
  std::vector<Case> cases;
  cases.push_back({{{"kind", "pgx"},
                    {"pool_max_conns", 3},
                    {"pool_min_conns", 1},
                    {"pool_max_conn_idle_time", "1s"},
                    {"pool_health_check_period", "250ms"}},
                   std::async(std::launch::async, [this] { return pgx("idle", "px-i-real"); }),
                   "px-i-model",
                   1});
  cases.push_back({{{"kind", "node_postgres"}, {"max", 3}, {"idleTimeoutMillis", "1s"}},
                   std::async(std::launch::async, [this] { return node("idle", "nd-i-real"); }),
                   "nd-i-model",
                   0});
  for (auto& c : cases) {
    SCOPED_TRACE(c.settings.dump());
    auto m = model(c.settings, c.app);
    {
      std::vector<pool::PooledConnection> held;
      for (int i = 0; i < 3; ++i) {
        held.push_back(m.pool->checkout(as(c.app)));
      }
    }
    const auto counts = counts_on_grid(c.app, Clock::now(), 250ms, 10);
    const auto real_counts = c.real.get().at("counts").get<std::vector<int>>();
    EXPECT_EQ(counts.front(), 3);
    // Down to the floor. pgxpool's health check closes every connection idle
    // too long, the one kept for pool_min_conns too, and then opens it again:
    // a sample may catch it at 0 (the real one did so once in a full run).
    EXPECT_LE(counts.back(), c.floor);
    EXPECT_LE(real_counts.back(), c.floor);
    steps_agree_within_a_sample(counts, real_counts, 3, c.floor);
  }
}

// Past its life: pgxpool's health check closes an idle connection and its
// release a busy one; node-postgres' timer closes an idle client and its
// release a busy one. Neither jitters.
TEST_F(PoolKinds, PgxAndNodePostgresCloseAConnectionPastItsLife) {
  PGLEAK_NEED(have_pgx_ && have_node_, "Go with pgx v4, and node-postgres");
  auto pgx_real = std::async(std::launch::async, [this] { return pgx("lifetime", "px-l-real"); });
  auto node_real = std::async(std::launch::async, [this] { return node("lifetime", "nd-l-real"); });
  const auto run = [this](const json& settings, const std::string& app) {
    auto m = model(settings, app);
    int first = 0;
    {
      auto c = m.pool->checkout(as(app));
      first = c->backend_pid();
    }
    std::this_thread::sleep_for(800ms);
    const int idle_left = backends(app);
    bool replaced = false;
    {
      auto c = m.pool->checkout(as(app));
      replaced = c->backend_pid() != first;
      std::this_thread::sleep_for(800ms);
    }
    settle(app, 0);
    return json{{"idle_left", idle_left}, {"replaced", replaced}, {"busy_left", backends(app)}};
  };
  const auto pgx_model = run({{"kind", "pgx"},
                              {"pool_max_conns", 1},
                              {"pool_max_conn_lifetime", "500ms"},
                              {"pool_health_check_period", "250ms"}},
                             "px-l-model");
  const auto node_model =
      run({{"kind", "node_postgres"}, {"max", 1}, {"maxLifetimeSeconds", "500ms"}}, "nd-l-model");
  EXPECT_EQ(pgx_model, pgx_real.get());
  EXPECT_EQ(node_model, node_real.get());
  EXPECT_EQ(pgx_model, (json{{"idle_left", 0}, {"replaced", true}, {"busy_left", 0}}));
}

// A connection the server ended, seen by the caller: pgx (which speaks the
// protocol itself) shows the FATAL the server sent with its SQLSTATE (57P01),
// psycopg (over libpq) a lost connection with none (as the real psycopg did in
// AConnectionKilledWhileIdle...): the report counts the first as an error by
// SQLSTATE and the second as a connection lost.
TEST_F(PoolKinds, ADeadConnectionsErrorCarriesItsSqlstateOnlyWhereTheLibrarysDoes) {
  PGLEAK_NEED(true, "");
  for (const auto& [pool, with_code] :
       {std::pair{R"({"kind": "pgx", "pool_max_conns": 2, "pool_min_conns": 2})", true},
        std::pair{R"({"kind": "psycopg_pool", "min_size": 2})", false}}) {
    SCOPED_TRACE(pool);
    const auto dir = scratch_->path();
    const auto file = (dir / "dead.json").string();
    std::ofstream{file} << R"({"name": "dead", "duration": "1500ms", "sample_interval": "100ms",
      "pool": )" << pool << R"(,
      "processes": [{"name": "api",
                     "workers": [{"pattern": "scoped", "count": 2, "think_time": "400ms"}]}],
      "faults": [{"at": "700ms", "action": "terminate_backends", "target": "api"}]})";
    const auto report = (dir / "dead-report.json").string();
    Subprocess run{{kBinary, "run", file, "--report", report, "--quiet"}};
    ASSERT_LE(run.wait_for(120s), 1) << run.err();
    std::ifstream in{report};
    const auto summary = json::parse(in).at("summary");
    const auto& codes = summary.at("errors_by_sqlstate");
    if (with_code) {
      EXPECT_TRUE(codes.contains("57P01")) << summary.dump();
    } else {
      EXPECT_FALSE(codes.contains("57P01")) << summary.dump();
      EXPECT_GE(summary.at("connections_lost").get<int>(), 1) << summary.dump();
    }
  }
}

// An eager pool through a process's crash and restart: each life fills the
// pool again (2 idle beside the held connection), and never past its
// maximum (4: clients that ask while the fill is under way may make both
// libraries open more than the 3 in use).
TEST_F(PoolKinds, AnEagerPoolFillsAgainInEachLifeOfItsProcess) {
  PGLEAK_NEED(true, "");
  for (const std::string pool : {R"({"kind": "hikaricp", "maximumPoolSize": 4, "minimumIdle": 2})",
                                 R"({"kind": "psycopg_pool", "min_size": 2, "max_size": 4})"}) {
    SCOPED_TRACE(pool);
    const auto file = (scratch_->path() / "lives.json").string();
    std::ofstream{file} << R"({"name": "lives", "duration": "4s", "sample_interval": "100ms",
      "pool": )" << pool << R"(,
      "processes": [{"name": "api",
        "lifecycle": {"end": "crash", "at": "1s", "restart_after": "500ms"},
        "workers": [{"pattern": "held_by_object", "think_time": "200ms"},
                    {"pattern": "scoped", "count": 2, "think_time": "100ms"}]}]})";
    const auto report = (scratch_->path() / "lives-report.json").string();
    Subprocess run{{kBinary, "run", file, "--report", report, "--quiet"}};
    // Whatever the verdict: each new life's workers wait for its first
    // connects, and a machine that stalls then for 400 ms (seen, with other
    // work beside it) puts waiters in 5 % of these 40 samples: undersized.
    ASSERT_LE(run.wait_for(120s), 1) << run.err();
    std::ifstream in{report};
    const auto r = json::parse(in);
    EXPECT_EQ(r.at("run").at("status"), "completed");
    EXPECT_EQ(r.at("summary").at("process_restarts").get<int>(), 2);
    EXPECT_GE(r.at("summary").at("peak_connections"), 3);
    // Down to none at each crash, back to 3 or more in each new life.
    int lives_seen = 0;
    bool emptied = true;  // before the first life, and after each crash
    for (const auto& sample : r.at("samples")) {
      const int own = sample.at("own").get<int>();
      EXPECT_LE(own, 4);
      if (own == 0) {
        emptied = true;
      } else if (own >= 3 && emptied) {
        ++lives_seen;
        emptied = false;
      }
    }
    EXPECT_EQ(lives_seen, 3);  // the first life and two after restarts
  }
}

// The incident written for each stack (scenarios/pools/): the duplicate
// launchers exhaust the server. HikariCP and psycopg_pool retry the refusals
// in the background and their clients see pool timeouts; pgx and
// node-postgres hand the refusal (53300) to the caller. Each fix passes.
TEST_F(PoolKinds, TheIncidentOnEachStackFailsAndItsFixPasses) {
  PGLEAK_NEED(true, "");
  for (const std::string stack : {"hikaricp", "psycopg_pool", "pgx", "node_postgres"}) {
    SCOPED_TRACE(stack);
    const auto report = (scratch_->path() / (stack + ".json")).string();
    const auto scenario = std::string{PGLEAK_SOURCE_DIR} + "/scenarios/pools/" + stack;
    Subprocess before{{kBinary, "run", scenario + "-before.json", "--report", report, "--quiet"}};
    ASSERT_EQ(before.wait_for(120s), 1) << before.err();
    std::ifstream in{report};
    const auto r = json::parse(in);
    const auto& summary = r.at("summary");
    EXPECT_EQ(r.at("verdict").at("diagnosis"), "server_limit") << r.at("verdict").dump();
    EXPECT_EQ(r.at("scenario").at("pool").at("kind"), stack);
    EXPECT_GT(summary.at("connect_failures").get<int>(), 0);
    const bool background = stack == "hikaricp" || stack == "psycopg_pool";
    const auto& seen = summary.at("errors_by_sqlstate");
    EXPECT_EQ(seen.contains("53300"), !background) << seen.dump();
    if (background) {
      EXPECT_GT(summary.at("pool_timeouts").get<int>(), 0);
    }
    Subprocess after{{kBinary, "run", scenario + "-after.json", "--report", report, "--quiet"}};
    EXPECT_EQ(after.wait_for(120s), 0) << after.err() << after.out();
  }
}

}  // namespace
}  // namespace pgleak::testing

// pgleak's session patterns against the applications they stand for: each
// case runs once as real SQLAlchemy 1.4 + psycopg2 code
// (tests/differential/session_patterns.py) and once as a pgleak scenario, on
// the same server with the same pool settings, and the two server pictures
// must agree: backends by state (every state but plain "idle", whose count is
// how many connections a pool happens to keep), connections still checked
// out once every worker has done its units of work, and the texts of the
// errors the application caught (psycopg2's, one per error).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <thread>

#include "../scratch_dir.hpp"
#include "binary_suite.hpp"
#include "server/embedded_server.hpp"
#include "subprocess.hpp"

namespace pgleak::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

const std::string kScript =
    std::string{PGLEAK_SOURCE_DIR} + "/tests/differential/session_patterns.py";
const std::string kPython = "/usr/bin/python3";

bool have_sqlalchemy() {
  Subprocess p{{kPython, "-c", "import sqlalchemy, psycopg2"}};
  return p.wait_for(60s) == 0;
}

class Differential : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kPython) || !have_sqlalchemy()) {
      return;
    }
    server::EmbeddedServerOptions options;
    options.max_connections = 60;
    server_ = server::EmbeddedServer::start(options).release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (server_ == nullptr) {
      GTEST_SKIP() << "python3-sqlalchemy and python3-psycopg2 are not installed "
                      "(scripts/setup.sh installs them)";
    }
  }

  // No backend of `application` left (a previous case's connections exit asynchronously).
  void wait_quiet() {
    pqxx::connection admin{server_->superuser_conninfo().to_libpq()};
    for (int i = 0; i < 500; ++i) {
      pqxx::nontransaction tx{admin};
      if (tx.exec1("SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'client "
                   "backend' AND pid <> pg_backend_pid()")[0]
              .as<int>() == 0) {
        return;
      }
      std::this_thread::sleep_for(10ms);
    }
  }

  json sqlalchemy_picture(const std::string& name) {
    wait_quiet();
    Subprocess p{{kPython, kScript, server_->app_conninfo().to_libpq(), name}};
    EXPECT_EQ(p.wait_for(120s), 0) << p.err();
    return json::parse(p.out());
  }

  // `connect`: the pool's connect settings; `process`: more keys of the process.
  json pgleak_picture(const std::string& worker, const std::string& connect = "{}",
                      const std::string& process = "") {
    wait_quiet();
    const ScratchDir scratch;  // removed however the case ends
    const auto& dir = scratch.path();
    {
      std::ofstream{dir / "case.json"}
          << R"({"name": "diff", "duration": "1500ms", "sample_interval": "100ms",
                 "pool": {"pool_size": 5, "max_overflow": 10, "pool_timeout": "5s",
                          "connect": )"
          << connect << R"(}, "processes": [{"name": "app", )" << process << R"("workers": [)"
          << worker << "]}]}";
    }
    Subprocess p{{kBinary, "run", (dir / "case.json").string(), "--dsn",
                  server_->app_conninfo().to_libpq(), "--report", (dir / "r.json").string(),
                  "--quiet", "--allow-exhaust"}};  // engine_dispose's budget is unbounded
    const int code = p.wait_for(120s);
    EXPECT_TRUE(code == 0 || code == 1) << p.err();
    std::ifstream in{dir / "r.json"};
    const auto report = json::parse(in);
    json picture;
    picture["by_state"] = report["samples"].back()["by_state"];
    picture["checked_out"] = report["summary"]["held_at_end"];
    std::vector<std::string> errors;
    for (const auto& e : report["events"]) {
      if (e["kind"] == "query_error" || e["kind"] == "connection_lost") {
        errors.push_back(e["message"].get<std::string>());
      }
    }
    std::sort(errors.begin(), errors.end());
    picture["errors"] = errors;
    return picture;
  }

  void compare(const std::string& name, const std::string& worker,
               const std::string& connect = "{}", const std::string& process = "") {
    const auto real = sqlalchemy_picture(name);
    const auto ours = pgleak_picture(worker, connect, process);
    for (const char* state : {"idle in transaction", "idle in transaction (aborted)", "active"}) {
      EXPECT_EQ(real["by_state"].value(state, 0), ours["by_state"].value(state, 0))
          << name << ": \"" << state << "\"\n SQLAlchemy: " << real.dump()
          << "\n pgleak:     " << ours.dump();
    }
    EXPECT_EQ(real["checked_out"], ours["checked_out"]) << name;
    EXPECT_EQ(real["errors"], ours["errors"]) << name;
  }

  static inline server::EmbeddedServer* server_ = nullptr;
};

const std::string kUnits = R"("count": 3, "iterations": 2, "think_time": "10ms")";

TEST_F(Differential, Scoped) {
  compare("scoped", R"({"pattern": "scoped", )" + kUnits + "}");
}
TEST_F(Differential, HeldByObjectLeavesItsTransactionOpen) {
  compare("held_by_object", R"({"pattern": "held_by_object", )" + kUnits + "}");
}
TEST_F(Differential, HeldByObjectThatCommitsHoldsNothing) {
  compare("held_by_object_commit",
          R"({"pattern": "held_by_object", "options": {"commit": true}, )" + kUnits + "}");
}
TEST_F(Differential, AnUnusedSessionHoldsNothing) {
  compare("held_by_object_unused",
          R"({"pattern": "held_by_object", "options": {"run_query": false}, )" + kUnits + "}");
}
TEST_F(Differential, OutsideLoop) {
  compare("outside_loop", R"({"pattern": "outside_loop", )" + kUnits + "}");
}
TEST_F(Differential, OutsideLoopThatCommitsHoldsNothing) {
  compare("outside_loop_commit",
          R"({"pattern": "outside_loop", "options": {"commit": true}, )" + kUnits + "}");
}
TEST_F(Differential, GlobalSessionIsOneConnectionPerProcess) {
  compare("global_session", R"({"pattern": "global_session", )" + kUnits + "}");
}
TEST_F(Differential, GlobalSessionThatCommitsHoldsNothing) {
  compare("global_session_commit",
          R"({"pattern": "global_session", "options": {"commit": true}, )" + kUnits + "}");
}
TEST_F(Differential, LeakOnErrorKeepsEveryFailedSession) {
  compare("leak_on_error",
          R"({"pattern": "leak_on_error", "options": {"error_rate": 1.0}, )" + kUnits + "}");
}

// engine.dispose() while every worker leaks a session: the new pool takes
// three more beside the three the old one still has out (steps, as a user
// would write the application).
TEST_F(Differential, EngineDisposeLeavesTheOldPoolsCheckoutsOpen) {
  compare("engine_dispose",
          R"({"name": "first", "count": 3, "iterations": 1,
              "steps": [{"open": "db"}, {"execute": "db"}, {"sleep": "process_end"}]},
             {"name": "disposer", "count": 1, "iterations": 1, "start_after": "300ms",
              "steps": [{"dispose": true}]},
             {"name": "second", "count": 3, "iterations": 1, "start_after": "600ms",
              "steps": [{"open": "db"}, {"execute": "db"}, {"sleep": "process_end"}]})");
}

// Session.close() on a connection the server ended (25P03 while idle in
// transaction) raises OperationalError with libpq's text, for every one of
// the twelve; the session then works on a new connection.
TEST_F(Differential, CloseRaisesOnAConnectionTheServerEnded) {
  compare("close_after_idle_timeout",
          R"({"count": 12, "iterations": 1, "steps": [{"open": "db"}, {"execute": "db"},
              {"sleep": "600ms"}, {"try": [{"close": "db"}], "except": []},
              {"try": [{"execute": "db"}, {"commit": "db"}], "except": [],
               "finally": [{"close": "db"}]}, {"sleep": "process_end"}]})",
          R"({"idle_in_transaction_session_timeout": "200ms"})");
}

// del db, and db bound anew, with the collector off: each Session whose
// transaction is open stays in its reference cycle, holding its connection.
const std::string kDrops =
    R"({"count": 3, "iterations": 1, "steps": [{"open": "db"}, {"execute": "db"}, %COMMIT%
        {"drop": "db"}, {"open": "db"}, {"execute": "db"}, %COMMIT% {"open": "db"},
        {"sleep": "process_end"}]})";

std::string drops(bool commit) {
  std::string text = kDrops;
  const std::string mark = "%COMMIT%";
  for (auto at = text.find(mark); at != std::string::npos; at = text.find(mark)) {
    text.replace(at, mark.size(), commit ? R"({"commit": "db"},)" : "");
  }
  return text;
}

TEST_F(Differential, ADroppedTransactionWaitsForTheCollector) {
  compare("drop_in_transaction", drops(false), "{}", R"("gc": "never", )");
}
TEST_F(Differential, ADroppedSessionWithoutATransactionIsFreedAtOnce) {
  compare("drop_after_commit", drops(true), "{}", R"("gc": "never", )");
}
TEST_F(Differential, GcCollectFreesTheDroppedTransactions) {
  compare("drop_then_collect",
          drops(false) + R"(, {"name": "collector", "count": 1, "iterations": 1,
                              "start_after": "700ms", "steps": [{"collect": true}]})",
          "{}", R"("gc": "never", )");
}

}  // namespace
}  // namespace pgleak::testing

// A real PgBouncer (Debian's pgbouncer) between the workers and a real
// PostgreSQL, both started by pgleak for each run: what each pooling mode
// does to the application's connections, seen from both sides, and that
// PgBouncer's own errors are counted by reason.
#include "server/pgbouncer.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "../scratch_dir.hpp"
#include "run_helpers.hpp"
#include "util/errors.hpp"

namespace pgleak::run {
namespace {

#define SKIP_WITHOUT_PGBOUNCER()        \
  do {                                  \
    try {                               \
      server::find_pgbouncer();         \
    } catch (const std::exception& e) { \
      GTEST_SKIP() << e.what();         \
    }                                   \
  } while (false)

// On the embedded target, where pgleak starts (and stops) its own PgBouncer.
record::RunResult run_embedded(const std::string& text) {
  return run_scenario(parse_inline(text), RunOptions{});
}

struct Layers {
  int clients = 0;   // PgBouncer's clients, active and waiting: the application's connections
  int servers = 0;   // PgBouncer's server connections
  int backends = 0;  // the run's backends PostgreSQL shows
  int idle_in_transaction = 0;
};

// The most of each layer any sample saw.
Layers peaks(const record::RunResult& r) {
  Layers most;
  for (const auto& s : r.samples) {
    EXPECT_TRUE(s.pgbouncer.has_value()) << "a sample without PgBouncer's console at " << s.t_s;
    if (!s.pgbouncer) {
      continue;
    }
    const auto& b = *s.pgbouncer;
    most.clients = std::max(most.clients, b.cl_active + b.cl_waiting);
    most.servers = std::max(most.servers, b.sv_active + b.sv_idle + b.sv_used + b.sv_login);
    most.backends = std::max(most.backends, s.own);
    const auto it = s.by_state.find("idle in transaction");
    most.idle_in_transaction =
        std::max(most.idle_in_transaction, it == s.by_state.end() ? 0 : it->second);
  }
  return most;
}

// pgbouncer processes that are children of this test: none may outlive a run.
int pgbouncer_children() {
  int found = 0;
  for (const auto& entry : std::filesystem::directory_iterator{"/proc"}) {
    std::ifstream stat{entry.path() / "stat"};
    std::string pid, comm, state;
    long ppid = 0;
    if (stat >> pid >> comm >> state >> ppid && comm == "(pgbouncer)" && ppid == ::getpid()) {
      ++found;
    }
  }
  return found;
}

// Transaction pooling: a client holds a server connection only while it has
// a transaction. The pools' idle connections and sessions kept after commit
// are PgBouncer clients, and the server never sees them.
// A TMPDIR whose length leaves room for PostgreSQL's socket path but not for
// PgBouncer's (its directory is 7 characters deeper) is refused at once,
// naming TMPDIR, rather than PgBouncer cutting the path and never answering.
TEST(PgBouncer, ATmpdirTooLongForItsSocketIsRefusedAtOnce) {
  SKIP_WITHOUT_PGBOUNCER();
  const testing::ScratchDir scratch{0755};
  auto tmpdir = scratch.path().string() + "/";
  tmpdir += std::string(72 - tmpdir.size(), 'a');
  ASSERT_TRUE(std::filesystem::create_directory(tmpdir));
  std::filesystem::permissions(tmpdir, std::filesystem::perms{0755});
  const char* before = std::getenv("TMPDIR");
  const std::string saved = before != nullptr ? before : "";
  ::setenv("TMPDIR", tmpdir.c_str(), 1);
  const auto started = std::chrono::steady_clock::now();
  try {
    run_embedded(R"({"name": "t", "duration": "1s", "pgbouncer": {},
                     "processes": [{"name": "p", "workers": [{"pattern": "scoped"}]}]})");
    ADD_FAILURE() << "a run was started";
  } catch (const util::InfrastructureError& e) {
    EXPECT_NE(std::string{e.what()}.find("too long for a unix socket"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string{e.what()}.find("TMPDIR"), std::string::npos) << e.what();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (saved.empty()) {
    ::unsetenv("TMPDIR");
  } else {
    ::setenv("TMPDIR", saved.c_str(), 1);
  }
  EXPECT_LT(seconds, 20.0);  // PgBouncer's start wait is 30 s
  EXPECT_EQ(pgbouncer_children(), 0);
}

TEST(PgBouncer, TransactionPoolingHidesConnectionsThatHoldNoTransaction) {
  SKIP_WITHOUT_PGBOUNCER();
  const auto r = run_embedded(R"({"name": "t", "duration": "2s", "sample_interval": "50ms",
    "pgbouncer": {"pool_mode": "transaction", "default_pool_size": 2, "max_client_conn": 50},
    "processes": [{"name": "api", "replicas": 4, "pool": {"pool_size": 5, "max_overflow": 0},
      "workers": [{"pattern": "scoped", "count": 3, "think_time": "50ms"},
                  {"pattern": "held_by_object", "count": 2, "think_time": "50ms",
                   "options": {"commit": true}}]}]})");
  const auto most = peaks(r);
  EXPECT_GE(most.clients, 8);  // every replica's kept sessions alone are 2 x 4 clients
  EXPECT_LE(most.servers, 2);  // default_pool_size
  EXPECT_LE(most.backends, 2);
  EXPECT_GE(most.backends, 1);
  // (A sample may catch a server connection idle in transaction between a
  // unit's BEGIN and its statement, more often on a slow machine: what the
  // server shows of transactions is the next test's.)
  EXPECT_TRUE(r.pgbouncer_errors.empty());
  EXPECT_EQ(r.pool_timeouts, 0u);
  uint64_t checkouts = 0;
  for (const auto& p : r.pools) {
    checkouts += p.stats.checkouts;
  }
  EXPECT_GT(checkouts, 40u);
  EXPECT_EQ(r.leftover_backends_terminated, 0);
  EXPECT_EQ(pgbouncer_children(), 0);
}

// An open transaction pins its server connection in every pooling mode: two
// sessions left idle in transaction take both server connections, the other
// clients wait, and PgBouncer closes them at query_wait_timeout. Each side
// says so: PgBouncer's log counts query_wait_timeout, the clients see their
// connection lost (no SQLSTATE, as psycopg2 shows it), and the server shows
// the two transactions.
TEST(PgBouncer, AnOpenTransactionPinsAServerConnectionAndStarvesThePool) {
  SKIP_WITHOUT_PGBOUNCER();
  const auto r = run_embedded(R"({"name": "t", "duration": "3s", "sample_interval": "50ms",
    "pgbouncer": {"pool_mode": "transaction", "default_pool_size": 2, "max_client_conn": 50,
                  "query_wait_timeout": "500ms"},
    "processes": [{"name": "api", "pool": {"pool_size": 5, "max_overflow": 0},
      "workers": [{"pattern": "held_by_object", "count": 2, "think_time": "50ms",
                   "start_after": "0s"},
                  {"pattern": "scoped", "count": 2, "think_time": "50ms",
                   "start_after": "300ms"}]}]})");
  const auto most = peaks(r);
  EXPECT_LE(most.servers, 2);
  EXPECT_EQ(most.idle_in_transaction, 2);
  ASSERT_TRUE(r.pgbouncer_errors.contains("query_wait_timeout")) << "no query_wait_timeout logged";
  const auto logged = r.pgbouncer_errors.at("query_wait_timeout");
  EXPECT_GE(logged, 1u);
  uint64_t lost = 0;
  for (const auto& e : r.events) {
    if (e.kind == record::kConnectionLost) {
      ++lost;
      EXPECT_TRUE(e.sqlstate.empty()) << e.message;
    }
  }
  // Each client PgBouncer closed saw its connection go; a client may also
  // find it gone at its next statement only after the run's end.
  EXPECT_GE(lost, 1u);
  EXPECT_LE(lost, logged);
  EXPECT_EQ(pgbouncer_children(), 0);
}

// max_client_conn is PgBouncer's own limit: past it, a client is refused at
// connect with a text and no SQLSTATE libpq shows. The clients' refusals and
// PgBouncer's log both count them under "max_client_conn".
TEST(PgBouncer, RefusalsPastMaxClientConnAreCountedByReason) {
  SKIP_WITHOUT_PGBOUNCER();
  const auto r = run_embedded(R"({"name": "t", "duration": "1500ms", "sample_interval": "100ms",
    "pgbouncer": {"pool_mode": "transaction", "default_pool_size": 6, "max_client_conn": 3},
    "processes": [{"name": "api", "pool": {"pool_size": 6, "max_overflow": 0},
      "workers": [{"pattern": "held_by_object", "count": 6, "think_time": "50ms"}]}]})");
  uint64_t refused = 0;
  for (const auto& e : r.events) {
    if (e.kind == record::kConnectError) {
      EXPECT_EQ(e.pgbouncer_error, "max_client_conn") << e.message;
      refused += e.pgbouncer_error == "max_client_conn" ? 1 : 0;
    }
  }
  // Each worker holds its own connection (idle in transaction), and at most
  // three fit (PgBouncer's admin console, read by the sampler, is a client
  // too): the others are refused, and retry with backoff.
  EXPECT_GE(refused, 3u);
  ASSERT_TRUE(r.pgbouncer_errors.contains("max_client_conn"));
  // The log and the clients count the same refusals (one may fall either
  // side of the run's end).
  EXPECT_GE(r.pgbouncer_errors.at("max_client_conn") + 1, refused);
  EXPECT_LE(r.pgbouncer_errors.at("max_client_conn"), refused + 1);
  const auto most = peaks(r);
  EXPECT_LE(most.clients, 3);
  EXPECT_EQ(pgbouncer_children(), 0);
}

}  // namespace
}  // namespace pgleak::run

// connection_per_task: no pool at all (SQLAlchemy's NullPool).
//
// Every unit of work opens a new connection, runs its query and closes it: no
// connection is held between units, but each unit pays for a connection
// start-up, and under load the server's slots churn.
#include "workload/session_pattern.hpp"
#include "workload/worker_context.hpp"

namespace pgleak::workload {
namespace {

class ConnectionPerTask final : public SessionPattern {
 public:
  void run(WorkerContext& ctx) override {
    while (ctx.next_unit()) {
      if (auto conn = ctx.open_unpooled()) {
        ctx.attempt_on(*conn, [&](db::Connection& c) { ctx.query_in_transaction(c, true); });
        conn->close();
      } else if (!ctx.back_off()) {
        break;
      }
      if (!ctx.think()) {
        break;
      }
    }
  }
};

}  // namespace

PatternInfo connection_per_task_pattern() {
  return {
      "connection_per_task",
      "opens and closes a new connection for every unit of work (NullPool)",
      "no pool at all",
      {},
      [](const PatternArgs&) { return std::make_unique<ConnectionPerTask>(); },
      R"json([{"loop": [{"open": "db"}, {"try": [{"execute": "db"}, {"commit": "db"}], "finally": [{"close": "db"}]}]}])json",
      /*twin_null_pool=*/true};
}

}  // namespace pgleak::workload

// leak_on_error: close() that is not in a finally block.
//
//   db = next(get_db())
//   work(db)          # raises now and then
//   db.commit()
//   db.close()        # skipped when work() raises: the session is never returned
//
// Each failed unit of work leaves its connection checked out, its transaction
// aborted ("idle in transaction (aborted)"), until the process ends.
#include <random>

#include "workload/session_pattern.hpp"
#include "workload/worker_context.hpp"

namespace pgleak::workload {
namespace {

class LeakOnError final : public SessionPattern {
 public:
  explicit LeakOnError(double error_rate) : error_rate_(error_rate) {}

  void run(WorkerContext& ctx) override {
    std::mt19937_64 rng{std::random_device{}()};
    std::bernoulli_distribution fails{error_rate_};
    std::vector<pool::PooledConnection> leaked;
    while (ctx.next_unit()) {
      auto conn = ctx.checkout();
      if (!conn) {
        if (!ctx.back_off()) {
          break;
        }
        continue;
      }
      const bool raise = fails(rng);
      const bool ok = ctx.attempt(*conn, [&](db::Connection& c) {
        c.begin();
        c.execute(ctx.query());
        if (raise) {
          c.execute("SELECT 1/0");  // the application's exception, as the server sees it: 22012
        }
        c.commit();
      });
      if (!ok && conn->valid()) {
        leaked.push_back(std::move(*conn));  // the exception skipped close()
      }
      if (!ctx.think()) {
        break;
      }
    }
    ctx.hold_until_process_ends();
  }

 private:
  const double error_rate_;
};

}  // namespace

PatternInfo leak_on_error_pattern() {
  return {
      "leak_on_error",
      "returns the connection on success, leaks it (checked out, transaction aborted) when "
      "the unit of work fails",
      "db.close() not in finally",
      {OptionSpec::number("error_rate", 0.1, 0.0, 1.0,
                          "share of units of work that raise (a query that really fails "
                          "leaks too)")},
      [](const PatternArgs& a) { return std::make_unique<LeakOnError>(a.number("error_rate")); }};
}

}  // namespace pgleak::workload

// leak_on_error: close() that is not in a finally block.
//
//   db = SessionLocal()
//   db.execute(query)
//   work(db)          # raises now and then
//   db.commit()
//   db.close()        # skipped when work() raises: the session is never closed
//
// Each failed unit of work leaves its session with its transaction open and
// aborted ("idle in transaction (aborted)"), still holding its connection,
// kept alive by a reference (a traceback, a list of jobs) until the process ends.
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
    std::vector<session::Session> leaked;
    while (ctx.next_unit()) {
      auto db = ctx.new_session();
      const bool raise = fails(rng);
      const auto outcome = ctx.attempt([&] {
        db.execute(ctx.query());
        if (raise) {
          db.execute("SELECT 1/0");  // the application's exception, as the server sees it: 22012
        }
        db.commit();
      });
      if (outcome == WorkerContext::Outcome::kOk) {
        ctx.attempt_release([&] { db.close(); });
      } else if (db.holds_connection()) {
        leaked.push_back(std::move(db));  // the exception skipped close()
      }
      if (outcome == WorkerContext::Outcome::kNoConnection && !ctx.after_failed_checkout()) {
        break;
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
      "closes the session on success, leaks it (connection held, transaction aborted) when "
      "the unit of work fails",
      "db.close() not in finally",
      {OptionSpec::number("error_rate", 0.1, 0.0, 1.0,
                          "share of units of work that raise (a query that really fails "
                          "leaks too)")},
      [](const PatternArgs& a) { return std::make_unique<LeakOnError>(a.number("error_rate")); },
      R"json([{"loop": [{"open": "db"}, {"try": [{"execute": "db"}, {"execute": "db", "sql": "SELECT 1/0", "probability": 0.1}, {"commit": "db"}, {"close": "db"}], "except": [{"keep": "db"}]}]}, {"sleep": "process_end"}])json"};
}

}  // namespace pgleak::workload

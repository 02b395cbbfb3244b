// slow_statement: a runaway query, for statement_timeout.
//
//   db = SessionLocal()
//   try: db.execute(text("SELECT pg_sleep(60)")); db.commit()
//   except: db.execute(text("SELECT 1"))   # with statement_after_error: 25P02
//           db.rollback()
//   finally: db.close()
//
// With a statement_timeout shorter than `sleep` the server cancels the
// statement with 57014 and the transaction is aborted until rolled back.
#include <fmt/format.h>

#include "workload/session_pattern.hpp"
#include "workload/worker_context.hpp"

namespace pgleak::workload {
namespace {

class SlowStatement final : public SessionPattern {
 public:
  SlowStatement(util::Micros sleep, bool statement_after_error)
      : sleep_(sleep), statement_after_error_(statement_after_error) {}

  void run(WorkerContext& ctx) override {
    const std::string statement = ctx.group().query.value_or(
        fmt::format("SELECT pg_sleep({:.6f})", util::to_seconds(sleep_)));
    while (ctx.next_unit()) {
      auto db = ctx.new_session();
      const auto outcome = ctx.attempt([&] {
        db.execute(statement);
        db.commit();
      });
      if (outcome == WorkerContext::Outcome::kFailed && statement_after_error_) {
        // What an app that ignores the error does next: 25P02.
        ctx.attempt([&] { db.execute("SELECT 1"); });
      }
      ctx.attempt_release([&] {  // finally
        db.rollback();
        db.close();
      });
      if (outcome == WorkerContext::Outcome::kNoConnection && !ctx.after_failed_checkout()) {
        break;
      }
      if (!ctx.think()) {
        break;
      }
    }
  }

 private:
  const util::Micros sleep_;
  const bool statement_after_error_;
};

}  // namespace

PatternInfo slow_statement_pattern() {
  return {
      "slow_statement",
      "runs a statement longer than statement_timeout (pg_sleep), then rolls back",
      "a runaway query",
      {OptionSpec::duration("sleep", "60s",
                            "how long the statement runs (scaled by time_scale); ignored "
                            "when the group sets query"),
       OptionSpec::boolean("statement_after_error", false,
                           "run one more statement before rolling back, to show 25P02")},
      [](const PatternArgs& a) {
        return std::make_unique<SlowStatement>(a.duration("sleep").applied,
                                               a.flag("statement_after_error"));
      },
      R"json([{"loop": [{"open": "db"}, {"try": [{"execute": "db", "sql": "SELECT pg_sleep(60)"}, {"commit": "db"}], "finally": [{"rollback": "db"}, {"close": "db"}]}]}])json"};
}

}  // namespace pgleak::workload

// scoped: the fix. A session per unit of work, closed in finally; rollback on error.
//
//   db = SessionLocal()
//   try: db.execute(query); db.commit()
//   except: db.rollback(); raise
//   finally: db.close()
#include "workload/session_pattern.hpp"
#include "workload/worker_context.hpp"

namespace pgleak::workload {
namespace {

class Scoped final : public SessionPattern {
 public:
  void run(WorkerContext& ctx) override {
    while (ctx.next_unit()) {
      auto db = ctx.new_session();
      const auto outcome = ctx.attempt([&] {
        db.execute(ctx.query());
        db.commit();
      });
      if (outcome != WorkerContext::Outcome::kOk) {
        ctx.attempt_release(
            [&] { db.rollback(); });  // an error here replaces the first, as in Python
      }
      ctx.attempt_release([&] { db.close(); });  // finally
      if (outcome == WorkerContext::Outcome::kNoConnection && !ctx.after_failed_checkout()) {
        break;
      }
      if (!ctx.think()) {
        break;
      }
    }
  }
};

}  // namespace

PatternInfo scoped_pattern() {
  return {
      "scoped",
      "a session per unit of work, committed, rolled back on error, always closed",
      "the fix: try/finally around each session, FastAPI's Depends(get_db)",
      {},
      [](const PatternArgs&) { return std::make_unique<Scoped>(); },
      R"json([{"loop": [{"open": "db"}, {"try": [{"execute": "db"}, {"commit": "db"}], "except": [{"rollback": "db"}], "finally": [{"close": "db"}]}]}])json"};
}

}  // namespace pgleak::workload

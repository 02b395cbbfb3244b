// scoped: the fix. A session per unit of work, closed in finally; rollback on error.
//
//   db = next(get_db())
//   try: work(db); db.commit()
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
      if (auto conn = ctx.checkout()) {
        const bool ok =
            ctx.attempt(*conn, [&](db::Connection& c) { ctx.query_in_transaction(c, true); });
        if (!ok && conn->valid()) {
          ctx.attempt(*conn, [](db::Connection& c) { c.rollback(); });
        }
      } else if (!ctx.after_failed_checkout()) {  // returned to the pool above, whatever happened
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
  return {"scoped",
          "checkout per unit of work, always returned, rollback on error",
          "the fix: try/finally around each session, FastAPI's Depends(get_db)",
          {},
          [](const PatternArgs&) { return std::make_unique<Scoped>(); }};
}

}  // namespace pgleak::workload

// global_session: one module-level session per process, shared by its workers.
//
//   db = next(get_db())            # at import time
//   def fill(zip_code):
//       db.execute(lookup, ...)    # reads; nothing commits
//
// The incident's zip_code_filler.py: the session is never closed, and its
// first read begins a transaction that nothing ends, so each process copy
// holds one connection, idle in transaction, for its whole life. With
// "commit": true the shared session gives it back after each call.
#include "workload/session_pattern.hpp"
#include "workload/worker_context.hpp"

namespace pgleak::workload {
namespace {

class GlobalSession final : public SessionPattern {
 public:
  explicit GlobalSession(bool commit) : commit_(commit) {}

  void run(WorkerContext& ctx) override {
    auto& process = ctx.process();
    while (ctx.next_unit()) {
      auto outcome = WorkerContext::Outcome::kOk;
      {
        std::lock_guard lock{process.shared_sessions_mutex()};
        auto& db = ctx.shared_session("db");
        outcome = ctx.attempt([&] {
          db.execute(ctx.query());
          if (commit_) {
            db.commit();
          }
        });
        if (outcome == WorkerContext::Outcome::kDisconnected) {
          ctx.attempt_release(
              [&] { db.rollback(); });  // the module's error handler, so later calls work
        }
      }
      if (outcome == WorkerContext::Outcome::kNoConnection && !ctx.after_failed_checkout()) {
        break;
      }
      if (!ctx.think()) {
        break;
      }
    }
    // The session belongs to the process, which closes it when it ends.
  }

 private:
  const bool commit_;
};

}  // namespace

PatternInfo global_session_pattern() {
  return {
      "global_session",
      "one session per process shared by its workers, never closed",
      "a module-level global session (zip_code_filler)",
      {OptionSpec::boolean("commit", false,
                           "commit each call (nothing is held between calls); the default "
                           "false leaves the shared session idle in transaction")},
      [](const PatternArgs& a) { return std::make_unique<GlobalSession>(a.flag("commit")); },
      R"json([{"open": "db", "shared": true}, {"loop": [{"try": [{"execute": "db"}], "except": [{"rollback": "db"}]}]}])json"};
}

}  // namespace pgleak::workload

// global_session: one module-level session per process, shared by its workers.
//
//   db = next(get_db())       # at import time
//   def fill(zip_code): db.execute(...); db.commit()
//
// The incident's zip_code_filler.py: the session is never closed, so each
// process copy holds one connection for its whole life.
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
      bool have_session = false;
      {
        std::lock_guard lock{process.global_session_mutex()};
        auto& session = process.global_session();
        if (!session || !session->valid()) {
          session.reset();
          session = ctx.checkout();
        }
        if (session) {
          have_session = true;
          ctx.attempt(*session, [&](db::Connection& c) { ctx.query_in_transaction(c, commit_); });
        }
      }
      if (!(have_session ? ctx.think() : ctx.back_off())) {
        break;
      }
    }
    // The session belongs to the process, which returns it when it ends.
  }

 private:
  const bool commit_;
};

}  // namespace

PatternInfo global_session_pattern() {
  return {"global_session",
          "one session per process shared by its workers, never closed",
          "a module-level global session (zip_code_filler)",
          {OptionSpec::boolean("commit", true,
                               "commit each unit of work; false leaves the shared session idle in "
                               "transaction")},
          [](const PatternArgs& a) { return std::make_unique<GlobalSession>(a.flag("commit")); }};
}

}  // namespace pgleak::workload

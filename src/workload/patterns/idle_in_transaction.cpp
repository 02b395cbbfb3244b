// idle_in_transaction: a forgotten commit.
//
//   db = next(get_db())
//   rows = db.execute(query)   # begins a transaction
//   ...                        # no commit; the session sits "idle in transaction"
//
// The server's idle_in_transaction_session_timeout ends such a session (FATAL
// 25P03); the client learns of it only on its next statement, as a lost
// connection ("server closed the connection unexpectedly", no SQLSTATE), after
// which SQLAlchemy refuses every statement with PendingRollbackError until
// rollback(). How the application reacts is the option: "reconnect" (roll
// back and carry on, which checks out a new connection, as a well-written app
// does) or "keep_failing" (never roll back: every later use fails, as the
// incident's launcher did).
#include "workload/session_pattern.hpp"
#include "workload/worker_context.hpp"

namespace pgleak::workload {
namespace {

class IdleInTransaction final : public SessionPattern {
 public:
  explicit IdleInTransaction(bool keep_failing) : keep_failing_(keep_failing) {}

  void run(WorkerContext& ctx) override {
    auto db = ctx.new_session();
    while (ctx.next_unit()) {
      // And never commit.
      const auto outcome = ctx.attempt([&] { db.execute(ctx.query()); });
      if (outcome == WorkerContext::Outcome::kDisconnected && !keep_failing_) {
        ctx.attempt_release([&] { db.rollback(); });
      } else if (outcome == WorkerContext::Outcome::kNoConnection && !ctx.after_failed_checkout()) {
        break;
      }
      if (!ctx.think()) {
        break;
      }
    }
    ctx.hold_until_process_ends();
  }

 private:
  const bool keep_failing_;
};

}  // namespace

PatternInfo idle_in_transaction_pattern() {
  return {
      "idle_in_transaction",
      "begins, queries, never commits: idle in transaction until the server's "
      "idle_in_transaction_session_timeout ends the session",
      "a forgotten commit",
      {OptionSpec::choice("on_disconnect", "reconnect", {"reconnect", "keep_failing"},
                          "after the server ended the session: roll back and carry on on a "
                          "new connection, or keep_failing (PendingRollbackError) forever")},
      [](const PatternArgs& a) {
        return std::make_unique<IdleInTransaction>(a.choice("on_disconnect") == "keep_failing");
      },
      R"json([{"open": "db"}, {"loop": [{"try": [{"execute": "db"}], "except": [{"rollback": "db"}]}]}, {"sleep": "process_end"}])json"};
}

}  // namespace pgleak::workload

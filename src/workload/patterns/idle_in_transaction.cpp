// idle_in_transaction: a forgotten commit.
//
//   db = next(get_db())
//   rows = db.execute(query)   # begins a transaction
//   ...                        # no commit; the session sits "idle in transaction"
//
// The server's idle_in_transaction_session_timeout ends such a session (FATAL
// 25P03); the client learns of it only when it next uses the session. How the
// application reacts is the option: "reconnect" (roll back, take a new
// connection, carry on, as a well-written app does) or "keep_failing" (keep
// the dead session and fail on every use, as the incident's launcher did).
#include "workload/session_pattern.hpp"
#include "workload/worker_context.hpp"

namespace pgleak::workload {
namespace {

class IdleInTransaction final : public SessionPattern {
 public:
  explicit IdleInTransaction(bool keep_failing) : keep_failing_(keep_failing) {}

  void run(WorkerContext& ctx) override {
    std::optional<pool::PooledConnection> session;
    while (ctx.next_unit()) {
      if (session && !session->valid()) {
        if (keep_failing_) {
          ctx.record_use_of_closed_session();
          if (!ctx.think()) {
            break;
          }
          continue;
        }
        session.reset();  // reconnect: give back the dead one, take a new one
      }
      if (!session) {
        session = ctx.checkout();
        if (!session) {
          if (!ctx.back_off()) {
            break;
          }
          continue;
        }
      }
      // And never commit.
      ctx.attempt(*session, [&](db::Connection& c) { ctx.query_in_transaction(c, false); });
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
  return {"idle_in_transaction",
          "begins, queries, never commits: idle in transaction until the server's "
          "idle_in_transaction_session_timeout ends the session",
          "a forgotten commit",
          {OptionSpec::choice(
              "on_disconnect", "reconnect", {"reconnect", "keep_failing"},
              "after the server ended the session: reconnect, or keep_failing on the dead one")},
          [](const PatternArgs& a) {
            return std::make_unique<IdleInTransaction>(a.choice("on_disconnect") == "keep_failing");
          }};
}

}  // namespace pgleak::workload

// outside_loop: one session created before the loop and used by every iteration.
//
//   db = next(get_db())
//   while True:
//       build_routes(db)      # no commit: the transaction stays open
//       time.sleep(30)
//
// The incident's route_builder_launcher.py: between iterations its backend sits
// "idle in transaction", holding its snapshot and locks. With "commit": true
// each iteration gives the connection back and nothing is held between them.
#include "workload/session_pattern.hpp"
#include "workload/worker_context.hpp"

namespace pgleak::workload {
namespace {

class OutsideLoop final : public SessionPattern {
 public:
  explicit OutsideLoop(bool commit) : commit_(commit) {}

  void run(WorkerContext& ctx) override {
    auto db = ctx.new_session();
    while (ctx.next_unit()) {
      const auto outcome = ctx.attempt([&] {
        db.execute(ctx.query());
        if (commit_) {
          db.commit();
        }
      });
      if (outcome == WorkerContext::Outcome::kDisconnected) {
        db = ctx.new_session();  // the loop dies with the session; its supervisor restarts it
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
  const bool commit_;
};

}  // namespace

PatternInfo outside_loop_pattern() {
  return {
      "outside_loop",
      "one session for all iterations, transaction left open between them",
      "a session created once outside the loop, never closed (route_builder_launcher)",
      {OptionSpec::boolean("commit", false,
                           "commit each iteration (nothing is held between them); the "
                           "default false leaves it idle in transaction")},
      [](const PatternArgs& a) { return std::make_unique<OutsideLoop>(a.flag("commit")); },
      R"json([{"open": "db"}, {"loop": [{"try": [{"execute": "db"}], "except": [{"open": "db"}]}]}, {"sleep": "process_end"}])json"};
}

}  // namespace pgleak::workload

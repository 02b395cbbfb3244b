// held_by_object: a session opened in a constructor and kept for the object's life.
//
//   class Driver:
//       def __init__(self):
//           self.db = next(get_db())      # never closed
//       def work(self):
//           self.db.execute(query)        # reads, and never commits
//
// The incident's driver.py, cleaner.py and super_agent.py. A Session holds a
// connection only while its transaction is open: this object's first query
// begins one that nothing ends, so its connection sits "idle in transaction"
// for as long as the object (and its process) lives. With "commit": true the
// same object gives its connection back after each unit and holds nothing in
// between; with "run_query": false it never takes one at all.
#include "workload/session_pattern.hpp"
#include "workload/worker_context.hpp"

namespace pgleak::workload {
namespace {

class HeldByObject final : public SessionPattern {
 public:
  HeldByObject(bool run_query, bool commit) : run_query_(run_query), commit_(commit) {}

  void run(WorkerContext& ctx) override {
    auto db = ctx.new_session();  // the constructor
    while (ctx.next_unit()) {
      if (run_query_) {
        const auto outcome = ctx.attempt([&] {
          db.execute(ctx.query());
          if (commit_) {
            db.commit();
          }
        });
        if (outcome == WorkerContext::Outcome::kDisconnected) {
          db = ctx.new_session();  // a new object replaces the broken one
        } else if (outcome == WorkerContext::Outcome::kNoConnection &&
                   !ctx.after_failed_checkout()) {
          break;
        }
      }
      if (!ctx.think()) {
        break;
      }
    }
    ctx.hold_until_process_ends();
  }

 private:
  const bool run_query_;
  const bool commit_;
};

}  // namespace

PatternInfo held_by_object_pattern() {
  return {
      "held_by_object",
      "a session made in a constructor, used by every unit of work, never closed",
      "self.db = next(get_db()) in a constructor (driver, cleaner, super_agent)",
      {OptionSpec::boolean("run_query", true,
                           "run the query each unit of work; false never uses the session, "
                           "which then holds no connection"),
       OptionSpec::boolean("commit", false,
                           "commit after each query, which gives the connection back between "
                           "units; the default false leaves it idle in transaction")},
      [](const PatternArgs& a) {
        return std::make_unique<HeldByObject>(a.flag("run_query"), a.flag("commit"));
      },
      R"json([{"open": "db"}, {"loop": [{"try": [{"execute": "db"}], "except": [{"open": "db"}]}]}, {"sleep": "process_end"}])json"};
}

}  // namespace pgleak::workload

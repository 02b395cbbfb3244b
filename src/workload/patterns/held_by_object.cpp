// held_by_object: a session opened in a constructor and kept for the object's life.
//
//   class Driver:
//       def __init__(self):
//           self.db = next(get_db())   # never closed
//
// The incident's driver.py, cleaner.py and super_agent.py. The object lives as
// long as its process, so the connection is held until the scenario ends.
#include "workload/session_pattern.hpp"
#include "workload/worker_context.hpp"

namespace pgleak::workload {
namespace {

class HeldByObject final : public SessionPattern {
 public:
  HeldByObject(bool run_query, bool commit) : run_query_(run_query), commit_(commit) {}

  void run(WorkerContext& ctx) override {
    auto held = ctx.checkout_until_held();  // the constructor
    while (held && ctx.next_unit()) {
      if (!held->valid()) {
        held = ctx.checkout_until_held();  // a new object replaces the broken one
        if (!held) {
          break;
        }
      }
      if (run_query_) {
        ctx.attempt(*held, [&](db::Connection& c) { ctx.query_in_transaction(c, commit_); });
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
  return {"held_by_object",
          "checkout at worker start, used by every unit of work, never returned while the "
          "process lives",
          "self.db = next(get_db()) in a constructor (driver, cleaner, super_agent)",
          {OptionSpec::boolean(
               "run_query", true,
               "run the query each unit of work; false holds an unused connection (state idle)"),
           OptionSpec::boolean(
               "commit", true,
               "commit after each query; false leaves the transaction open (idle in transaction)")},
          [](const PatternArgs& a) {
            return std::make_unique<HeldByObject>(a.flag("run_query"), a.flag("commit"));
          }};
}

}  // namespace pgleak::workload

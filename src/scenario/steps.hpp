#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/duration.hpp"

// A worker group's own session flow: the `steps` a user writes from their
// application's code instead of naming a built-in pattern. Plain values,
// validated by the scenario loader; workload/steps_pattern runs them.
namespace pgleak::scenario {

struct Step {
  enum class Op {
    kOpen,      // name = SessionLocal()  (shared: the process's module-level session)
    kExecute,   // name.execute(sql)      (sql: the group's query by default)
    kCommit,    // name.commit()
    kRollback,  // name.rollback()
    kClose,     // name.close()           (after: closed that much later, by someone else)
    kDrop,      // del name, not closed   (after: collected that much later, a reference cycle)
    kKeep,      // a reference outlives the name (a list, a traceback): never collected
    kSleep,     // time.sleep(for), or until the process ends
    kRaise,     // the application raises (nothing is sent to the server)
    kDispose,   // engine.dispose()
    kCollect,   // gc.collect()
    kLoop,      // the unit of work, repeated as the group's load model admits
    kTry,       // try: body / except: handler / finally: cleanup
  };
  Op op = Op::kExecute;
  std::string session;  // kOpen .. kKeep
  bool shared = false;  // kOpen
  std::optional<std::string> sql;
  std::optional<util::ScaledDuration> after;  // kClose, kDrop
  std::optional<util::ScaledDuration> sleep;  // kSleep; none = until the process ends
  std::string message;                        // kRaise
  double probability = 1.0;                   // the step runs with this probability
  std::vector<Step> body;                     // kLoop, kTry
  std::vector<Step> handler;                  // kTry: except
  bool catches = false;                       // kTry has an except, [] (except: pass) too
  std::vector<Step> cleanup;                  // kTry: finally
};

// One entry per step kind: its key in the scenario, what its value is, and
// what it stands for. The parser, `pgleak list` and the docs read this table.
struct StepKind {
  Step::Op op;
  std::string_view key;
  std::string_view value;  // what the key's value is
  std::string_view python;
  std::string_view help;
};
std::span<const StepKind> step_kinds();
const StepKind& step_kind(Step::Op op);

// The most steps a group may write, counting nested ones.
inline constexpr size_t kMaxSteps = 256;

// Does any step (nested too) satisfy `pred`?
template <typename Pred>
bool any_step(const std::vector<Step>& steps, const Pred& pred) {
  for (const auto& s : steps) {
    if (pred(s) || any_step(s.body, pred) || any_step(s.handler, pred) ||
        any_step(s.cleanup, pred)) {
      return true;
    }
  }
  return false;
}

}  // namespace pgleak::scenario

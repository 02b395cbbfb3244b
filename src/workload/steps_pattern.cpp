#include "workload/steps_pattern.hpp"

#include <fmt/format.h>

#include <map>
#include <optional>
#include <random>

#include "util/stoppable_sleep.hpp"
#include "workload/worker_context.hpp"

namespace pgleak::workload {
namespace {

using scenario::Step;
using Op = Step::Op;
using Outcome = WorkerContext::Outcome;

// A Python exception on its way to a handler.
struct StepError {
  Outcome outcome;
};
// The process (or the run) is ending: unwind without running handlers.
struct Ending {};

class StepsPattern final : public SessionPattern {
 public:
  explicit StepsPattern(const std::vector<Step>& steps) : steps_(steps) {}

  void run(WorkerContext& ctx) override {
    ctx_ = &ctx;
    try {
      run_list(steps_);
    } catch (const StepError&) {
      // The worker's thread died with its exception, already recorded.
    } catch (const Ending&) {
    }
    for (auto& entry : names_) {  // the worker's variables go out of scope
      let_go(entry.second);
    }
    names_.clear();
    if (!kept_.empty()) {
      ctx.hold_until_process_ends();
    }
  }

 private:
  // A name's value: a Session of the worker's own, or the process's shared one.
  struct Binding {
    std::optional<session::Session> own;
    std::string shared;  // the shared session's name when set
  };

  void run_list(const std::vector<Step>& steps) {
    for (const auto& step : steps) {
      if (ctx_->stopping()) {
        throw Ending{};
      }
      if (step.probability < 1.0 && !std::bernoulli_distribution{step.probability}(rng_)) {
        continue;
      }
      run_step(step);
    }
  }

  void run_step(const Step& step) {
    switch (step.op) {
      case Op::kOpen:
        open(step);
        return;
      case Op::kExecute: {
        const std::string sql = step.sql.value_or(ctx_->query());
        on_session(step.session, [&](session::Session& s) { s.execute(sql); });
        return;
      }
      case Op::kCommit:
        on_session(step.session, [](session::Session& s) { s.commit(); });
        return;
      case Op::kRollback:
        on_session(
            step.session, [](session::Session& s) { s.rollback(); }, /*release=*/true);
        return;
      case Op::kClose:
        if (step.after) {
          release_later(step, step.after->applied);
        } else {
          on_session(
              step.session, [](session::Session& s) { s.close(); }, /*release=*/true);
        }
        return;
      case Op::kDrop:
        if (step.after) {
          release_later(step, step.after->applied);
        } else {
          let_go(bound(step.session));
          names_.erase(step.session);
        }
        return;
      case Op::kKeep: {
        auto& b = bound(step.session);
        if (b.own) {
          kept_.push_back(std::move(*b.own));
        }
        names_.erase(step.session);
        return;
      }
      case Op::kSleep:
        if (!(step.sleep ? ctx_->sleep(step.sleep->applied) : ctx_->hold_until_process_ends())) {
          throw Ending{};
        }
        return;
      case Op::kRaise:
        ctx_->record_application_error(step.message);
        throw StepError{Outcome::kFailed};
      case Op::kDispose:
        ctx_->dispose_engine();
        return;
      case Op::kCollect:
        ctx_->process().collect();
        return;
      case Op::kLoop:
        loop(step.body);
        return;
      case Op::kTry:
        run_try(step);
        return;
    }
  }

  void open(const Step& step) {
    Binding b;
    if (step.shared) {
      b.shared = step.session;  // made at its first use; a new Session holds nothing
    } else {
      b.own.emplace(ctx_->new_session());
    }
    if (const auto it = names_.find(step.session); it != names_.end()) {
      let_go(it->second);  // the name's old session loses its last reference
    }
    names_[step.session] = std::move(b);
  }

  // The last reference to a worker's own session went: freed now, or by the
  // process's garbage collector when its open transaction keeps it in a cycle.
  void let_go(Binding& b) {
    if (b.own) {
      ctx_->process().let_go(std::move(*b.own));
      b.own.reset();
    }
  }

  // The worker's variable, or a NameError.
  Binding& bound(const std::string& name) {
    const auto it = names_.find(name);
    if (it == names_.end()) {
      ctx_->record_application_error(fmt::format("NameError: name '{}' is not defined", name));
      throw StepError{Outcome::kFailed};
    }
    return it->second;
  }

  // `release`: a rollback() or close(), which opens no connection
  // (WorkerContext::attempt_release).
  template <typename Work>
  void on_session(const std::string& name, Work work, bool release = false) {
    auto& b = bound(name);
    const auto attempt = [&](const std::function<void()>& f) {
      return release ? ctx_->attempt_release(f) : ctx_->attempt(f);
    };
    Outcome outcome = Outcome::kOk;
    if (!b.shared.empty()) {
      std::lock_guard lock{ctx_->process().shared_sessions_mutex()};
      auto& s = ctx_->shared_session(b.shared);
      outcome = attempt([&] { work(s); });
    } else {
      outcome = attempt([&] { work(*b.own); });
    }
    if (outcome != Outcome::kOk) {
      no_connection_ = no_connection_ || outcome == Outcome::kNoConnection;
      throw StepError{outcome};
    }
  }

  // drop / close with "after": the name goes now, the session that much later.
  void release_later(const Step& step, util::Micros delay) {
    auto& b = bound(step.session);
    if (b.own) {
      ctx_->process().release_later(std::move(*b.own), delay);
    }
    names_.erase(step.session);
  }

  void loop(const std::vector<Step>& body) {
    while (ctx_->next_unit()) {
      no_connection_ = false;
      try {
        run_list(body);
      } catch (const StepError&) {
        // Out of the unit of work: the next one starts.
      }
      if (no_connection_ && !ctx_->after_failed_checkout()) {
        throw Ending{};
      }
      if (!ctx_->think()) {
        throw Ending{};
      }
    }
  }

  void run_try(const Step& step) {
    std::optional<StepError> pending;
    try {
      run_list(step.body);
    } catch (const StepError& e) {
      pending = e;
      if (step.catches) {
        pending.reset();
        try {
          run_list(step.handler);
        } catch (const StepError& again) {
          pending = again;
        }
      }
    }
    run_list(step.cleanup);  // an error here replaces the pending one, as in Python
    if (pending) {
      throw *pending;
    }
  }

  const std::vector<Step>& steps_;
  WorkerContext* ctx_ = nullptr;
  std::map<std::string, Binding> names_;
  std::vector<session::Session> kept_;
  bool no_connection_ = false;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace

std::unique_ptr<SessionPattern> make_steps_pattern(const std::vector<scenario::Step>& steps) {
  return std::make_unique<StepsPattern>(steps);
}

}  // namespace pgleak::workload

#include "scenario/steps.hpp"

#include <fmt/format.h>

#include <array>
#include <set>

#include "scenario/json_pointer.hpp"
#include "scenario/object_reader.hpp"

namespace pgleak::scenario {
namespace {

using Op = Step::Op;

constexpr std::array<StepKind, 13> kKinds{{
    {Op::kOpen, "open", "a session name", "db = SessionLocal()",
     "a new Session; it checks a connection out at its first statement. With \"shared\": true "
     "the name is the process's one module-level session, made by the first worker that opens "
     "it and shared by all (each step on it holds the process's lock). Opening a name that "
     "holds a session lets the old one go, as \"drop\" does"},
    {Op::kExecute, "execute", "a session name", "db.execute(text(sql))",
     "runs \"sql\" (default: the group's query, or SELECT 1) in the session's transaction, "
     "beginning one (and checking out) when none is open"},
    {Op::kCommit, "commit", "a session name", "db.commit()",
     "commits and gives the connection back to the pool"},
    {Op::kRollback, "rollback", "a session name", "db.rollback()",
     "rolls back and gives the connection back; after a lost connection, this is what lets "
     "the session work again"},
    {Op::kClose, "close", "a session name", "db.close()",
     "rolls back and gives the connection back; the session can be used again. A connection "
     "the server ended unseen (idle_in_transaction_session_timeout, a terminated backend) makes "
     "close() raise OperationalError, as SQLAlchemy 1.4 does: the connection is invalidated, "
     "the session is closed all the same, and \"except\" can catch it. With \"after\": the "
     "name is let go now and the session closed that much later by someone else"},
    {Op::kDrop, "drop", "a session name", "del db  (or it goes out of scope)",
     "forgets the session without closing it. With no transaction open it is freed at once "
     "(reference counting); with one open, SQLAlchemy 1.4's Session sits in a reference cycle "
     "and keeps its connection, idle in transaction, until the process's garbage collector "
     "runs (the process's \"gc\", default every 2 s, or a \"collect\" step), which gives it "
     "back rolled back. With \"after\": freed that much later, whatever it holds"},
    {Op::kKeep, "keep", "a session name", "leaked.append(db)",
     "something outlives the name (a list, a traceback, a cache): the session is never "
     "collected and holds what it holds until the process ends"},
    {Op::kSleep, "sleep", "a duration, or \"process_end\"", "time.sleep(...)",
     "waits, holding whatever the worker's sessions hold; \"process_end\" waits until the "
     "process ends (the object lives as long as its process)"},
    {Op::kRaise, "raise", "a message", "raise RuntimeError(message)",
     "the application raises; nothing reaches the server. Use it with \"probability\" and "
     "\"try\""},
    {Op::kDispose, "dispose", "true", "engine.dispose()",
     "the process's engine drops its pool for a new one: idle connections close, checked-out "
     "ones stay with the old pool, and the new pool has a fresh overflow budget"},
    {Op::kCollect, "collect", "true", "gc.collect()",
     "the garbage collector runs now: dropped sessions still holding a transaction give their "
     "connections back (rolled back), and pools that dispose replaced close what they keep"},
    {Op::kLoop, "loop", "an array of steps", "while ...:  (the unit of work)",
     "the unit of work, repeated as the group's iterations, duration, think_time, "
     "arrival_rate and stages admit; at most one, at the top level"},
    {Op::kTry, "try", "an array of steps", "try: ... except Exception: ... finally: ...",
     "runs its steps; on an error the rest are skipped and \"except\" runs (the error is "
     "handled; \"except\": [] is except: pass), then \"finally\" in every case. Without \"except\" "
     "the error goes on: out of "
     "an enclosing try, or out of the unit of work (the next unit starts), or out of the "
     "worker (it ends)"},
}};

class StepsReader {
 public:
  explicit StepsReader(detail::ObjectReader& group) : group_(group) {}

  // `may_be_empty`: an except clause, where [] is Python's `except: pass`.
  std::vector<Step> read_list(const nlohmann::json& steps, const std::string& pointer, int depth,
                              bool may_be_empty = false) {
    std::vector<Step> out;
    if (!steps.is_array() || (steps.empty() && !may_be_empty)) {
      group_.problems().push_back({pointer, may_be_empty ? "must be an array of steps ([] is "
                                                           "\"except: pass\")"
                                                         : "must be a non-empty array of steps"});
      return out;
    }
    for (size_t i = 0; i < steps.size(); ++i) {
      if (++count_ > kMaxSteps) {
        group_.problems().push_back(
            {fmt::format("{}/{}", pointer, i),
             fmt::format("a group may have at most {} steps, nested ones included", kMaxSteps)});
        return out;
      }
      auto r = group_.child(steps[i], fmt::format("{}/{}", pointer, i));
      if (auto step = read_step(r, depth)) {
        out.push_back(std::move(*step));
      }
    }
    return out;
  }

 private:
  std::optional<Step> read_step(detail::ObjectReader& r, int depth) {
    if (!r.value().is_object()) {
      return std::nullopt;  // the reader reported it
    }
    const StepKind* kind = nullptr;
    for (const auto& k : kKinds) {
      if (r.has(std::string{k.key})) {
        if (kind != nullptr) {
          r.problem(std::string{k.key}, fmt::format("a step does one thing: \"{}\" and \"{}\" "
                                                    "are two steps",
                                                    kind->key, k.key));
          return std::nullopt;
        }
        kind = &k;
      }
    }
    if (kind == nullptr) {
      std::string keys;
      for (const auto& k : kKinds) {
        keys += fmt::format("{}{}", keys.empty() ? "" : ", ", k.key);
      }
      r.problem("", fmt::format("must name what it does with one of: {}", keys));
      return std::nullopt;
    }
    Step step;
    step.op = kind->op;
    const std::string key{kind->key};
    if (kind->op != Op::kLoop) {
      if (const auto* p = r.find("probability"); p != nullptr) {
        if (!p->is_number() || !(p->get<double>() >= 0) || !(p->get<double>() <= 1)) {
          r.problem("probability", "must be a number from 0 to 1");
        } else {
          step.probability = p->get<double>();
        }
      }
    }
    switch (kind->op) {
      case Op::kOpen:
      case Op::kExecute:
      case Op::kCommit:
      case Op::kRollback:
      case Op::kClose:
      case Op::kDrop:
      case Op::kKeep:
        read_session_step(r, key, step);
        break;
      case Op::kSleep:
        if (const auto* v = r.find(key); !(v->is_string() && *v == "process_end")) {
          step.sleep = r.duration(key);  // a bad value is reported as a duration
        }
        break;
      case Op::kRaise:
        if (auto m = r.string(key)) {
          if (m->empty() || m->size() > 200) {
            r.problem(key, "must be a message of 1 to 200 characters");
          } else {
            step.message = *m;
          }
        }
        break;
      case Op::kDispose:
      case Op::kCollect:
        if (const auto* v = r.find(key); !v->is_boolean() || !v->get<bool>()) {
          r.problem(key, "must be true");
        }
        break;
      case Op::kLoop:
        if (depth > 0) {
          r.problem(key, "the unit-of-work loop belongs at the top level of \"steps\"");
        } else if (++loops_ > 1) {
          r.problem(key, "steps have one unit-of-work loop");
        }
        step.body = read_list(*r.find(key), r.at(key), depth + 1);
        break;
      case Op::kTry:
        step.body = read_list(*r.find(key), r.at(key), depth + 1);
        if (const auto* h = r.find("except"); h != nullptr) {
          step.handler = read_list(*h, r.at("except"), depth + 1, /*may_be_empty=*/true);
          step.catches = true;
        }
        if (const auto* f = r.find("finally"); f != nullptr) {
          step.cleanup = read_list(*f, r.at("finally"), depth + 1);
        }
        if (!r.has("except") && !r.has("finally")) {
          r.problem(key, "needs \"except\", \"finally\" or both, as Python's try does");
        }
        break;
    }
    return step;
  }

  void read_session_step(detail::ObjectReader& r, const std::string& key, Step& step) {
    const auto name = r.string(key);
    if (!name) {
      return;
    }
    const size_t before = r.problems().size();
    detail::check_identifier(r, key, *name);
    if (r.problems().size() != before) {
      return;
    }
    step.session = *name;
    if (step.op == Op::kOpen) {
      step.shared = r.boolean("shared").value_or(false);
      opened_.insert(*name);
    } else if (!opened_.contains(*name)) {
      r.problem(key, fmt::format("\"{}\" is used before any step opens it (add {{\"open\": "
                                 "\"{}\"}} first)",
                                 *name, *name));
    }
    if (step.op == Op::kExecute) {
      if (auto sql = r.string("sql")) {
        if (sql->find_first_not_of(" \t\n;") == std::string::npos) {
          r.problem("sql", "must not be empty");
        } else {
          step.sql = sql;
        }
      }
    }
    if (step.op == Op::kClose || step.op == Op::kDrop) {
      step.after = r.duration("after");
    }
  }

  detail::ObjectReader& group_;
  std::set<std::string> opened_;
  size_t count_ = 0;
  int loops_ = 0;
};

}  // namespace

std::span<const StepKind> step_kinds() {
  return kKinds;
}

const StepKind& step_kind(Step::Op op) {
  for (const auto& k : kKinds) {
    if (k.op == op) {
      return k;
    }
  }
  return kKinds.front();
}

std::vector<Step> detail::read_steps(ObjectReader& group, const json& steps) {
  StepsReader reader{group};
  return reader.read_list(steps, group.at("steps"), 0);
}

}  // namespace pgleak::scenario

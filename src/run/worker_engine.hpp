#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pgleak::run {

// How a run's simulated workers run (docs/ENGINE.md). Nothing a scenario
// says can tell the two apart: the same code runs on both, and every wait
// in it suspends a fiber where it blocks a thread (fiber/sync.hpp).
struct WorkerEngine {
  enum class Kind {
    kFibers,   // resumable tasks on a few event-loop threads (the default)
    kThreads,  // a thread per worker, as a threaded service runs
  };
  Kind kind = Kind::kFibers;
  int threads = 0;  // kFibers: its event-loop threads; 0 is one per core

  static std::optional<Kind> parse(std::string_view name) {
    if (name == "fibers") {
      return Kind::kFibers;
    }
    if (name == "threads") {
      return Kind::kThreads;
    }
    return std::nullopt;
  }
  std::string name() const { return kind == Kind::kFibers ? "fibers" : "threads"; }
  bool fibers() const { return kind == Kind::kFibers; }
};

}  // namespace pgleak::run

#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "fiber/fiber.hpp"

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
  // kFibers: socket waits per loop looked at by one ppoll(2) before the rest
  // go through an epoll set (fiber::EngineOptions::epoll_above).
  std::size_t epoll_above = fiber::EngineOptions{}.epoll_above;

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
  // kFibers: the event-loop threads for `workers`. Unless given, one per
  // core; but a run of a few workers (at most two per core) gets a loop
  // each, which measured faster with that few clients (docs/ENGINE.md).
  int loops_for(int64_t workers) const {
    if (threads > 0) {
      return threads;
    }
    const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    return workers <= 2 * cores ? static_cast<int>(std::max<int64_t>(1, workers)) : cores;
  }
  bool fibers() const { return kind == Kind::kFibers; }
};

}  // namespace pgleak::run

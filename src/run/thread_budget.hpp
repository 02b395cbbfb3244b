#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "run/worker_engine.hpp"
#include "scenario/scenario.hpp"
#include "scenario/shard.hpp"

namespace pgleak::run {

// How many threads a run of `sc` starts: one per worker (with the fiber
// engine, its few event-loop threads instead), one per open-model
// group's arrivals, one per process replica with a lifecycle or late
// releases (at most), and the run's own few (sampler, log tailer, faults,
// signals, server keeper). With `shard`, of that shard's replicas only.
int64_t threads_needed(const scenario::Scenario& sc,
                       const std::optional<scenario::ShardRef>& shard = std::nullopt,
                       const WorkerEngine& engine = {});

// How many more threads this process may start: the kernel's threads-max
// less the threads that exist, and (for an ordinary user) RLIMIT_NPROC less
// this process's own; nullopt when neither can be read.
std::optional<int64_t> threads_available();

// Refuses (util::UsageError, exit 2, before anything starts) a scenario that
// needs more threads than the machine allows, or (fibers) more stack
// mappings than vm.max_map_count, naming both numbers and the limits to raise.
void check_thread_budget(const scenario::Scenario& sc,
                         const std::optional<scenario::ShardRef>& shard = std::nullopt,
                         const WorkerEngine& engine = {});

// What to say when a thread could not be started after all (the limits
// moved, or another program took the rest): the message for
// util::InfrastructureError.
std::string thread_start_failure(int64_t started, int64_t needed, const std::string& why);
// The same for a fiber whose stack could not be mapped.
std::string worker_start_failure(int64_t started, int64_t needed, const std::string& why);

}  // namespace pgleak::run

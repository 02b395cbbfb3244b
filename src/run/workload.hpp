#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "fiber/fiber.hpp"
#include "probe/run_backends.hpp"
#include "record/observations.hpp"
#include "record/recorder.hpp"
#include "run/fleet.hpp"
#include "run/network_faults.hpp"
#include "run/run_control.hpp"
#include "run/runner.hpp"
#include "run/target.hpp"
#include "run/worker_engine.hpp"
#include "scenario/scenario.hpp"
#include "server/embedded_server.hpp"
#include "workload/load_model.hpp"
#include "workload/process_replica.hpp"

namespace pgleak::run {

// Counts live worker threads so shutdown can wait for them with a deadline.
class WorkerCount {
 public:
  void add() {
    std::lock_guard lock{mutex_};
    ++live_;
  }
  void done() {
    std::lock_guard lock{mutex_};
    --live_;
    cv_.notify_all();
  }
  // False when `timeout` passed or `force` was requested first.
  bool wait_all_done(std::chrono::milliseconds timeout, std::stop_token force) {
    std::unique_lock lock{mutex_};
    return cv_.wait_for(lock, force, timeout, [&] { return live_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable_any cv_;
  int live_ = 0;
};

// The workers of every group of every replica, and the fault schedule. Its
// destructor stops and joins all of them, bounded, whichever way the run
// ends: the fault thread is stopped before it is joined, so an exception
// never waits out (or fires) the rest of the schedule.
class Workload {
 public:
  // `shard`: the shard of a sharded run (its tags carry it), if it is one.
  // `target`: its embedded server (restart_server), namespace and relay
  // (network faults), when the scenario has them.
  Workload(const scenario::Scenario& sc, Fleet& fleet, record::Recorder& recorder,
           RunControl& control, probe::RunBackends& backends, Target& target,
           const std::string& run_id, std::optional<scenario::ShardRef> shard,
           std::chrono::steady_clock::time_point run_start, const WorkerEngine& engine = {});

  ~Workload();
  Workload(const Workload&) = delete;
  Workload& operator=(const Workload&) = delete;

  // Stops every worker and the fault schedule and joins them. Workers still
  // in a statement after 0.5 s are cancelled, and after 5 s more their
  // backends are terminated and their sockets cut; `force` skips the waits.
  void stop(const std::stop_token& force);

  std::vector<record::LoadOutcome> loads() const;
  // The fiber engine's event-loop threads; 0 on the thread engine.
  int engine_threads() const { return engine_ ? engine_->threads() : 0; }
  // Socket waits that went through a loop's epoll set; 0 on the thread engine.
  uint64_t engine_epoll_waits() const { return engine_ ? engine_->epoll_waits() : 0; }
  // What each network fault did; call after stop().
  std::vector<record::NetworkFaultOutcome> network_faults() const;

 private:
  // Each worker group of each replica: when it starts and how it is paced.
  struct GroupRun {
    workload::ProcessReplica* replica;
    const scenario::WorkerGroup* group;
    std::chrono::steady_clock::time_point start_at;
    std::unique_ptr<workload::GroupLoad> load;
  };

  void start(server::EmbeddedServer* embedded, const std::string& run_id,
             std::chrono::steady_clock::time_point run_start);

  void start_group(GroupRun& g, const std::string& run_id);
  // The application_name of `rep`'s workers running `pattern`.
  std::string tag_of(const workload::ProcessReplica& rep, const std::string& pattern,
                     const std::string& run_id) const;

  // One worker through every life of its process: it starts with the process
  // (after its group's start_after), runs its pattern until the process ends,
  // and starts again if the process is restarted.
  void run_worker(GroupRun& g, const std::string& tag, int index);

  // A process with a lifecycle: it ends (exit or crash) at its time or after
  // its units of work, its workers leave, its connections close; and with
  // restart_after it starts again, to end the same way.
  void run_lifecycle(workload::ProcessReplica& rep);

  void record_process_event(const workload::ProcessReplica& rep, const char* kind,
                            std::string message);

  void run_faults(server::EmbeddedServer* embedded,
                  std::chrono::steady_clock::time_point run_start);

  const scenario::Scenario& sc_;
  Fleet& fleet_;
  record::Recorder& recorder_;
  RunControl& control_;
  probe::RunBackends& backends_;
  const std::optional<scenario::ShardRef> shard_;
  WorkerCount live_;
  std::vector<GroupRun> groups_;
  // The workers: fibers on the engine's threads, or a thread each.
  std::unique_ptr<fiber::Engine> engine_;
  std::vector<std::thread> workers_;
  int64_t workers_started_ = 0;
  std::thread faults_;
  std::unique_ptr<NetworkFaults> network_;  // with a thread of its own, when the scenario has some
  std::thread network_thread_;
  std::vector<std::thread> lifecycles_;
};

}  // namespace pgleak::run

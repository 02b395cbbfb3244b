#include "run/workload.hpp"

#include <fmt/format.h>

#include "run/thread_budget.hpp"
#include "scenario/backend_tag.hpp"
#include "scenario/shard.hpp"
#include "util/errors.hpp"
#include "util/stoppable_sleep.hpp"
#include "workload/pattern_registry.hpp"
#include "workload/worker_context.hpp"

namespace pgleak::run {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

Workload::Workload(const scenario::Scenario& sc, Fleet& fleet, record::Recorder& recorder,
                   RunControl& control, probe::RunBackends& backends, Target& target,
                   const std::string& run_id, std::optional<scenario::ShardRef> shard,
                   Clock::time_point run_start, const WorkerEngine& engine)
    : sc_(sc),
      fleet_(fleet),
      recorder_(recorder),
      control_(control),
      backends_(backends),
      shard_(shard) {
  if (sc.has_network()) {
    network_ = std::make_unique<NetworkFaults>(
        sc, fleet, recorder, backends, target.network.get(), target.relay.get(),
        target.embedded ? target.embedded->port() : 0, run_start);
    network_->begin_due_at_start();  // before any pool or worker connects
  }
  // This process's workers: every one, or its shard's slice.
  const int64_t workers = scenario::workers_of(sc, scenario::replicas_of(sc, shard));
  try {
    if (engine.fibers()) {
      engine_ = std::make_unique<fiber::Engine>(fiber::EngineOptions{
          .threads = engine.loops_for(workers), .epoll_above = engine.epoll_above});
    }
    start(target.embedded.get(), run_id, run_start);
  } catch (const std::system_error& e) {
    stop({});  // a worker that could not be started: the ones that were are joined
    throw util::InfrastructureError(
        engine.fibers()
            ? worker_start_failure(workers_started_, workers, e.what())
            : thread_start_failure(workers_started_, threads_needed(sc, shard_, engine), e.what()));
  } catch (...) {
    stop({});
    throw;
  }
}

Workload::~Workload() {
  stop({});
}

void Workload::stop(const std::stop_token& force) {
  control_.stop();
  if (faults_.joinable()) {
    faults_.join();
  }
  if (network_thread_.joinable()) {
    network_thread_.join();
    network_->lift(!force.stop_requested());
  }
  for (auto& t : lifecycles_) {
    if (t.joinable()) {
      t.join();
    }
  }
  // Forced, pgleak does not ask the server (which may be the thing that
  // hangs): it cuts its own sockets, and the server sees the clients go.
  if (!live_.wait_all_done(500ms, force)) {
    if (!force.stop_requested()) {
      backends_.cancel({}, /*active_only=*/true);  // pg_sleep, a lock wait
    }
    if (!live_.wait_all_done(5s, force)) {
      if (!force.stop_requested()) {
        backends_.terminate();
      }
      fleet_.cut_sockets();  // a server that no longer answers at all
      if (!live_.wait_all_done(5s, {})) {
        fleet_.cut_sockets();  // connections opened in the meantime
      }
    }
  }
  if (engine_) {
    engine_->join();
  }
  for (auto& w : workers_) {
    if (w.joinable()) {
      w.join();
    }
  }
}

std::vector<record::LoadOutcome> Workload::loads() const {
  std::vector<record::LoadOutcome> out;
  for (const auto& g : groups_) {
    auto delays = std::make_shared<util::LatencyHistogram>();
    delays->merge_from(g.load->start_delays());
    out.push_back({g.replica->spec().name, g.replica->replica(), g.group->name,
                   g.load->open_model(), g.load->arrivals(), g.load->dropped(), std::move(delays)});
  }
  return out;
}

std::vector<record::NetworkFaultOutcome> Workload::network_faults() const {
  return network_ ? network_->outcomes() : std::vector<record::NetworkFaultOutcome>{};
}

void Workload::start(server::EmbeddedServer* embedded, const std::string& run_id,
                     Clock::time_point run_start) {
  const auto deadline = run_start + sc_.duration.applied;
  for (auto& rep : fleet_.replicas()) {
    for (const auto& group : rep->spec().workers) {
      const auto start_at = run_start + rep->replica() * rep->spec().start_interval.applied +
                            group.start_after.applied;
      groups_.push_back(
          {rep.get(), &group, start_at,
           std::make_unique<workload::GroupLoad>(group, sc_.time_scale, start_at, deadline)});
      groups_.back().load->start(control_.token());
    }
  }
  for (auto& rep : fleet_.replicas()) {
    // What an eager pool opens unasked carries its first group's tag.
    const auto& workers = rep->spec().workers;
    rep->set_pool_tag(tag_of(*rep, workers.empty() ? "pool" : workers.front().pattern, run_id));
    rep->begin_life(run_start + rep->replica() * rep->spec().start_interval.applied,
                    control_.token());
  }
  if (!engine_) {
    workers_.reserve(static_cast<size_t>(sc_.total_workers()));
  }
  for (auto& g : groups_) {
    start_group(g, run_id);
  }
  for (auto& rep : fleet_.replicas()) {
    if (rep->spec().lifecycle) {
      lifecycles_.emplace_back([this, r = rep.get()] { run_lifecycle(*r); });
    }
  }
  faults_ = std::thread{[this, embedded, run_start] { run_faults(embedded, run_start); }};
  if (network_) {
    network_thread_ = std::thread{[this] { network_->run(control_.token()); }};
  }
}

std::string Workload::tag_of(const workload::ProcessReplica& rep, const std::string& pattern,
                             const std::string& run_id) const {
  return scenario::BackendTag{rep.spec().pool.connect.application_name.value_or("pgleak"),
                              run_id,
                              rep.spec().name,
                              rep.replica(),
                              pattern,
                              shard_ ? shard_->index : -1}
      .str();
}

void Workload::start_group(GroupRun& g, const std::string& run_id) {
  const auto tag = tag_of(*g.replica, g.group->pattern, run_id);
  for (int i = 0; i < g.group->count; ++i) {
    live_.add();
    try {
      auto body = [this, &g, tag, i] {
        run_worker(g, tag, i);
        live_.done();
      };
      if (engine_) {
        engine_->spawn(std::move(body));
      } else {
        workers_.emplace_back(std::move(body));
      }
      ++workers_started_;
    } catch (...) {
      live_.done();
      throw;
    }
  }
}

void Workload::run_worker(GroupRun& g, const std::string& tag, int index) {
  auto& rep = *g.replica;
  const auto run_stop = control_.token();
  if (!util::sleep_until(g.start_at, run_stop) || !g.load->wait_to_start(index, run_stop)) {
    return;
  }
  uint64_t seen = 0;
  while (const auto life = rep.next_life(seen, run_stop)) {
    seen = life->number;
    if (life->number > 1 &&
        !util::sleep_until(life->started + g.group->start_after.applied, life->stop)) {
      continue;
    }
    rep.worker_enters();
    try {
      workload::WorkerContext ctx{rep, *g.group, *g.load, index, tag, recorder_, life->stop};
      workload::PatternRegistry::builtin().make(*g.group, sc_.time_scale)->run(ctx);
    } catch (const std::exception& e) {
      record::Event ev;
      ev.kind = "worker_error";
      ev.message = e.what();
      ev.process = rep.spec().name;
      ev.replica = rep.replica();
      ev.worker = g.group->name + "." + std::to_string(index);
      ev.pattern = g.group->pattern;
      recorder_.add_event(std::move(ev));
    }
    rep.worker_leaves();
    util::sleep_until_stopped(life->stop);  // a worker done early waits for its process
  }
}

void Workload::run_lifecycle(workload::ProcessReplica& rep) {
  const auto& l = *rep.spec().lifecycle;
  const auto stop = control_.token();
  while (true) {
    const bool due = l.at ? util::sleep_until(rep.life_started() + l.at->applied, stop)
                          : rep.wait_units(*l.after_units, stop);
    if (!due) {
      return;
    }
    const auto before = rep.pool().stats();
    const bool crash = l.end == scenario::Lifecycle::End::kCrash;
    if (crash) {
      rep.crash();
    } else {
      rep.end_life();
    }
    // A clean exit lets running statements finish, for a while; then it is a kill.
    if (!rep.wait_workers_left(5s, stop)) {
      if (stop.stop_requested()) {
        return;
      }
      rep.sockets().shutdown_all();
      rep.wait_workers_left(5s, stop);
    }
    rep.end();
    rep.pool().dispose();
    rep.pool().collect_garbage();
    record_process_event(
        rep, crash ? record::kProcessCrash : record::kProcessExit,
        fmt::format("{} with {} connections open, {} checked out{}", crash ? "crashed" : "exited",
                    before.open, before.checked_out + before.retired_out,
                    crash ? ": its sockets closed without a goodbye" : ": its connections closed"));
    if (!l.restart_after || !util::sleep_for(l.restart_after->applied, stop)) {
      return;
    }
    if (!util::sleep_for(l.startup.applied, stop)) {
      return;
    }
    rep.begin_life(Clock::now(), stop);
    record_process_event(
        rep, record::kProcessStart,
        fmt::format(
            "restarted {} after it ended{}", util::format_duration(l.restart_after->applied),
            l.startup.applied.count() > 0
                ? fmt::format(", running {} later", util::format_duration(l.startup.applied))
                : ""));
  }
}

void Workload::record_process_event(const workload::ProcessReplica& rep, const char* kind,
                                    std::string message) {
  record::Event ev;
  ev.kind = kind;
  ev.process = rep.spec().name;
  ev.replica = rep.replica();
  ev.message = std::move(message);
  recorder_.add_event(std::move(ev));
}

void Workload::run_faults(server::EmbeddedServer* embedded, Clock::time_point run_start) {
  const auto stop = control_.token();
  for (const auto& fault : sc_.faults) {
    if (!util::sleep_until(run_start + fault.at.applied, stop)) {
      return;
    }
    record::Event ev;
    ev.kind = record::kFault;
    const auto process = fault.target == "all" ? std::string{} : fault.target;
    ev.process = process;
    try {
      int affected = 0;
      switch (fault.action) {
        case scenario::Fault::Action::kTerminateBackends:
          affected = backends_.terminate(process);
          break;
        case scenario::Fault::Action::kCancelBackends:
          affected = backends_.cancel(process);
          break;
        case scenario::Fault::Action::kRestartServer:
          embedded->restart();  // the loader refuses this fault without the embedded server
          break;
      }
      ev.message = fault.action == scenario::Fault::Action::kRestartServer
                       ? "restart_server: fast restart done"
                       : fmt::format("{} on {}: {} backends", scenario::to_string(fault.action),
                                     fault.target, affected);
    } catch (const std::exception& e) {
      ev.message = fmt::format("{} failed: {}", scenario::to_string(fault.action), e.what());
    }
    recorder_.add_event(std::move(ev));
  }
}

}  // namespace pgleak::run

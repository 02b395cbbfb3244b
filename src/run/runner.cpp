#include "run/runner.hpp"

#include <fmt/format.h>

#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include "db/own_session.hpp"
#include "db/pg_connection.hpp"
#include "db/socket_registry.hpp"
#include "probe/activity_sampler.hpp"
#include "probe/pgbouncer_log.hpp"
#include "probe/run_backends.hpp"
#include "probe/server_log.hpp"
#include "run/fleet.hpp"
#include "run/live_watch.hpp"
#include "run/run_control.hpp"
#include "run/shard_barrier.hpp"
#include "run/target.hpp"
#include "run/thread_budget.hpp"
#include "run/workload.hpp"
#include "scenario/backend_tag.hpp"
#include "scenario/shard.hpp"
#include "server/embedded_server.hpp"
#include "server/pgbouncer.hpp"
#include "util/errors.hpp"
#include "util/stoppable_sleep.hpp"
#include "util/text.hpp"
#include "workload/pattern_registry.hpp"
#include "workload/process_replica.hpp"
#include "workload/worker_context.hpp"

namespace pgleak::run {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// --- phase 2: the simulated processes and what runs them ---------------------

// --- phase 3: watching until the end ----------------------------------------

// A shard ends the run with the others: its abort stops them, and theirs it.
void watch_until_end(const scenario::Scenario& sc, const RunOptions& options, LiveWatch& watch,
                     RunControl& control, ShardLink* link, Clock::time_point run_start) {
  const auto deadline = run_start + sc.duration.applied;
  const auto stop = control.end_token();
  while (!stop.stop_requested() && Clock::now() < deadline) {
    util::sleep_until(std::min(deadline, Clock::now() + 250ms), stop);
    if (auto why = watch.tick()) {
      control.stop(record::RunStatus::kAborted, *why);
      if (link != nullptr) {
        link->announce_abort();
      }
    } else if (link != nullptr) {
      if (const int other = link->aborted_by(); other >= 0) {
        control.stop(record::RunStatus::kAborted,
                     fmt::format("shard {}/{} ended the run early (abort_on_fail; its report says "
                                 "why), and this shard stopped with it",
                                 other, options.shard->shard.count));
      }
    }
  }
  watch.finish();
  if (options.interrupt.stop_requested()) {
    log(options, "interrupted: stopping and cleaning up (a second signal skips the grace periods)");
  }
}

// The run's full record, streamed as it goes (RunOptions::side_file), or
// none. Opened before the target, so that a path that cannot be written
// fails the run before anything starts.
std::unique_ptr<record::SideFile> open_timeline(const scenario::Scenario& sc,
                                                const RunOptions& options,
                                                const record::RunResult& r) {
  if (options.side_file.empty()) {
    return nullptr;
  }
  nlohmann::json header{
      {"run_id", r.run_id},          {"started_at", r.started_at_utc},
      {"scenario", sc.name},         {"scenario_digest", sc.digest},
      {"time_scale", sc.time_scale}, {"sample_interval_ms", util::to_millis(sc.sample_interval)}};
  if (options.shard) {
    // What `pgleak merge` needs to name a shard killed before its report.
    header["shard"] = {{"index", options.shard->shard.index},
                       {"count", options.shard->shard.count},
                       {"run_name", options.shard->run_name}};
  }
  return std::make_unique<record::SideFile>(options.side_file, std::move(header));
}

// Its last line, with the run's outcome, and where the file stands.
void close_timeline(record::SideFile& file, record::RunResult& r) {
  uint64_t events = 0;
  for (const auto& [kind, n] : r.events_by_kind) {
    events += n;
  }
  r.side_file = file.close({{"status", to_string(r.status)},
                            {"wall_s", r.wall_s},
                            {"samples", r.series.taken},
                            {"events", events}});
}

// The logs a run follows: the server's jsonlog (the embedded server's, or an
// external one's given as --server-log) and its own PgBouncer's.
struct FollowedLogs {
  std::unique_ptr<probe::ServerLogTailer> server;
  std::unique_ptr<probe::PgBouncerLogTailer> pgbouncer;
  // Stops both; the report says when the server's log could not be read whole.
  void stop(record::RunResult& result) {
    if (server) {
      server->stop();
      if (const auto gaps = server->gaps(); gaps.any()) {
        result.server_log_note +=
            fmt::format("{}the server's log was {}", result.server_log_note.empty() ? "" : "; ",
                        gaps.describe());
      }
    }
    if (pgbouncer) {
      pgbouncer->stop();
    }
  }
};

FollowedLogs follow_logs(const Target& target, const RunOptions& options,
                         const std::string& run_marker, record::Recorder& recorder,
                         const Fleet& fleet, record::RunResult& result) {
  FollowedLogs logs;
  const std::string server_log =
      target.embedded ? target.embedded->json_log_path().string() : options.server_log;
  if (options.shard && !samples_server(options.shard->shard)) {
    result.server_log_note = "shard " + options.shard->shard.str() +
                             ": the server's log is read by shard 0 of the run, not this one";
  } else if (!server_log.empty()) {
    logs.server = std::make_unique<probe::ServerLogTailer>(
        server_log, run_marker, recorder,
        [&fleet](const std::string& process, int replica, int pid) {
          return fleet.last_holder(process, replica, pid);
        },
        /*shared=*/!target.embedded);
    logs.server->start();
    result.server_log_available = true;
    if (!target.embedded) {
      result.server_log_note = "external server: its log read from --server-log " +
                               options.server_log + " (the run's own backends only)";
    }
  } else {
    result.server_log_note =
        "external server: its log is not readable by pgleak; events are what the clients saw";
  }
  if (target.pgbouncer) {
    logs.pgbouncer = std::make_unique<probe::PgBouncerLogTailer>(
        target.pgbouncer->log_path().string(), recorder);
    logs.pgbouncer->start();
  }
  return logs;
}

// What the recorder and the sampler hold, into the result.
void collect_recorded(const record::Recorder& recorder, const probe::ActivitySampler& sampler,
                      record::RunResult& result) {
  result.samples = recorder.samples();
  result.series = recorder.series_stats();
  result.events = recorder.events();
  result.events_dropped = recorder.dropped_events();
  result.events_by_kind = recorder.events_by_kind();
  auto lateness = std::make_shared<util::LatencyHistogram>();
  lateness->merge_from(recorder.timeout_lateness());
  result.timeout_lateness = std::move(lateness);
  result.errors_by_sqlstate = recorder.errors_by_sqlstate();
  result.server_errors_by_sqlstate = recorder.server_errors_by_sqlstate();
  result.pgbouncer_errors = recorder.pgbouncer_errors();
  result.pool_timeouts = recorder.pool_timeouts();
  result.connections_lost = recorder.connections_lost();
  result.sampler_missed_intervals = sampler.missed_intervals();
  result.sampler_max_lag_ms = sampler.max_lag_ms();
}

// A shard waits at the barrier for the others, after its target is open and
// before anything of its own starts; a signal while it waits stops the run.
std::unique_ptr<ShardLink> join_shards(const scenario::Scenario& sc, const RunOptions& options,
                                       const Target& target, RunControl& control,
                                       record::RunResult& result) {
  const auto& shard = *options.shard;
  log(options,
      fmt::format("shard {}: waiting for all {} shards of run {} at the barrier (up "
                  "to {}s)",
                  shard.shard.str(), shard.shard.count, shard.run_id,
                  std::chrono::duration_cast<std::chrono::seconds>(shard.barrier_timeout).count()));
  auto link = ShardLink::join(
      {.target = shard.barrier_dsn ? db::ConnInfo::parse(*shard.barrier_dsn) : target.admin,
       .run_id = shard.run_id,
       .shard = shard.shard,
       .scenario_digest = sc.digest,
       .timeout = shard.barrier_timeout,
       .interrupt = options.interrupt});
  auto& out = result.shard.emplace();
  out.shard = shard.shard;
  out.run_name = shard.run_name;
  out.samples_server = samples_server(shard.shard);
  out.barrier_wait_s = link->waited_s();
  out.started_at_unix_ms = link->passed_at_unix_ms();
  out.replicas =
      scenario::split_replicas(sc, shard.shard.count)[static_cast<size_t>(shard.shard.index)];
  if (link->interrupted()) {
    control.stop(record::RunStatus::kInterrupted, "interrupted at the shard barrier");
  } else {
    log(options, fmt::format("shard {}: every shard arrived; starting (waited {:.2f}s)",
                             shard.shard.str(), link->waited_s()));
  }
  return link;
}

// What the run's backends' tags hold: every shard's (the sampler and the
// server log count them all), and this process's (what it may act on).
struct Markers {
  std::string fleet;
  std::string own;
};
Markers markers_of(const std::string& run_id, const std::optional<scenario::ShardRef>& shard) {
  if (!shard) {
    const auto marker = scenario::BackendTag::run_marker(run_id);
    return {marker, marker};
  }
  return {scenario::BackendTag::fleet_marker(run_id),
          scenario::BackendTag::shard_marker(run_id, shard->index)};
}

// What the sampler reads besides pg_stat_activity, and what ends the run
// when the target is lost.
void set_up_sampler(probe::ActivitySampler& sampler, const Target& target,
                    const std::optional<scenario::ShardRef>& shard, RunControl& control) {
  if (shard && !samples_server(*shard)) {
    sampler.pools_only();
  } else if (target.pgbouncer_console) {
    sampler.read_pgbouncer(*target.pgbouncer_console);
  }
  sampler.on_target_lost(
      [&control](const std::string& why) { control.stop(record::RunStatus::kTargetLost, why); });
  if (target.embedded) {
    // The server's set-up and settings sessions must be gone before the
    // workload meets a tight connection limit.
    sampler.await_exit_of({db::own_name::kSetup, db::own_name::kProbe}, 5s);
  }
}

// The line that says what runs.
void announce(const RunOptions& options, const scenario::Scenario& sc,
              const std::optional<scenario::ShardRef>& shard, Fleet& fleet,
              const std::string& run_id) {
  log(options,
      fmt::format("running {} for {} ({} nominal, time_scale {}), {} workers in {} process "
                  "replicas{}, run id {}",
                  sc.name, util::format_duration(sc.duration.applied),
                  util::format_duration(sc.duration.nominal), sc.time_scale,
                  scenario::workers_of(sc, scenario::replicas_of(sc, shard)),
                  fleet.replicas().size(), shard ? " (this shard's)" : "", run_id));
}

// Shard 0's last sample sees the whole fleet: the other shards let go of
// nothing until it is taken (or 2 s have passed: shard 0 may be dead).
void meet_at_final_sample(ShardLink& link, bool sees_server, const RunOptions& options) {
  if (sees_server) {
    link.announce_final_sample();
  } else if (!options.interrupt.stop_requested()) {
    link.wait_final_sample(2s, options.force);
  }
}

// Each replica's checkouts still out at the end of the scenario; from here
// on, what comes back is the run's clean-up, not the application's.
std::vector<int> freeze_pools(Fleet& fleet) {
  std::vector<int> held_at_end;
  for (const auto& rep : fleet.replicas()) {
    held_at_end.push_back(static_cast<int>(rep->pool().outstanding().size()));
    rep->pool().cleaning_up(true);
  }
  return held_at_end;
}

// The most sessions the fleet had open at once, up to the end of the scenario.
record::RunResult::SessionPeak sessions_peak(const Fleet& fleet, Clock::time_point run_start) {
  const auto peak = fleet.sessions().peak();
  return {peak.open,
          peak.open > 0 ? std::chrono::duration<double>(peak.at - run_start).count() : 0.0};
}

// Ends every replica, takes its pool's counters and waits, and releases the
// replicas (their pools close their connections): nothing may read a
// replica after this.
void collect_pools(Fleet& fleet, const std::vector<int>& held_at_end, record::RunResult& result) {
  result.checkout_waits = std::make_shared<util::LatencyHistogram>();
  for (size_t i = 0; i < fleet.replicas().size(); ++i) {
    auto& rep = fleet.replicas()[i];
    rep->end();
    const auto stats = rep->pool().stats();
    result.connect_attempts += stats.connects + stats.connect_failures + rep->unpooled_connects();
    result.pools.push_back({rep->spec().name, rep->replica(), stats, held_at_end[i]});
    result.checkout_waits->merge_from(rep->pool().checkout_waits());
  }
  for (auto& rep : fleet.replicas()) {
    rep.reset();  // pools close their connections
  }
}

// No shard misses this one's abort or last sample; a shard stopped by a
// signal leaves at once (the others wait out their own bounds). What failed
// on the way is recorded.
void leave_shards(ShardLink& link, const RunOptions& options, record::Recorder& recorder) {
  if (!options.interrupt.stop_requested()) {
    link.settle(5s, options.force);
  }
  for (const auto& failure : link.failures()) {
    record::Event ev;
    ev.kind = record::kShardBarrier;
    ev.message = failure;
    recorder.add_event(std::move(ev));
  }
}

}  // namespace

record::RunResult run_scenario(const scenario::Scenario& sc, const RunOptions& options) {
  record::RunResult result;
  result.run_id = options.shard ? options.shard->run_id : make_run_id();
  result.started_at_utc = util::utc_now("%Y-%m-%dT%H:%M:%SZ");
  const auto wall_start = Clock::now();
  const std::optional<scenario::ShardRef> shard =
      options.shard ? std::optional{options.shard->shard} : std::nullopt;
  if (shard && !options.dsn) {
    throw util::UsageError("a sharded run needs a target every shard shares: give --dsn");
  }
  check_thread_budget(sc, shard, options.engine);  // before anything starts
  const auto markers = markers_of(result.run_id, shard);

  // Declaration order is the order of release, in reverse: the workload stops
  // before the instruments, the instruments before the pools close, and the
  // pools before the server goes.
  const auto side_file = open_timeline(sc, options, result);
  Target target = open_target(sc, options);
  result.target = target.description;
  RunControl control{options.interrupt};
  const auto link = shard ? join_shards(sc, options, target, control, result) : nullptr;
  Fleet fleet{sc, target.app, control.token(), shard};
  record::Recorder recorder{Clock::now()};
  recorder.stream_to(side_file.get());

  // Forced, the clean-up stops asking a server that may not answer. A shard
  // acts on its own backends only.
  probe::RunBackends backends{target.admin, markers.own, options.force};
  probe::ActivitySampler sampler{target.admin, markers.fleet, sc.sample_interval, recorder,
                                 [&fleet] { return fleet.pool_samples(); }};
  set_up_sampler(sampler, target, shard, control);
  // The scenario's clock starts once the instruments are ready: a wait for
  // the server's set-up sessions is not the workload's time.
  sampler.start([&recorder] { recorder.restart_clock(Clock::now()); });
  FollowedLogs logs = follow_logs(target, options, markers.fleet, recorder, fleet, result);

  announce(options, sc, shard, fleet, result.run_id);
  const auto run_start = recorder.start();
  Workload workload{sc,     fleet,         recorder, control,   backends,
                    target, result.run_id, shard,    run_start, options.engine};
  result.engine = options.engine.name();
  result.engine_threads = workload.engine_threads();
  const bool sees_server = !shard || samples_server(*shard);
  LiveWatch watch{
      sc,
      recorder,
      fleet.replicas(),
      options.log,
      options.progress_in_place,
      sees_server ? probe::workers_limit(probe::limits_for(result.target.server, 0)) : -1};
  watch_until_end(sc, options, watch, control, link.get(), run_start);

  // --- phase 4: stop and collect ---------------------------------------------
  // The state at the end of the scenario (or at the interruption), before
  // anything is released; then the sampler stops so shutdown is not sampled.
  sampler.finish();
  if (link) {
    meet_at_final_sample(*link, sees_server, options);
  }
  const auto held_at_end = freeze_pools(fleet);
  result.sessions_peak = sessions_peak(fleet, run_start);
  result.holders = watch.holders();
  logs.stop(result);  // what was logged up to the end of the scenario
  workload.stop(options.force);
  result.loads = workload.loads();  // before the replicas it names are released
  result.network_faults = workload.network_faults();
  result.engine_epoll_waits = workload.engine_epoll_waits();
  collect_pools(fleet, held_at_end, result);
  release_target(target, backends, recorder, options, result);
  if (link) {
    leave_shards(*link, options, recorder);
  }
  control.describe(result);
  collect_recorded(recorder, sampler, result);
  result.wall_s = std::chrono::duration<double>(Clock::now() - wall_start).count();
  if (side_file) {
    close_timeline(*side_file, result);
  }
  return result;
}

}  // namespace pgleak::run

#include "run/runner.hpp"

#include <fmt/format.h>

#include <condition_variable>
#include <ctime>
#include <mutex>
#include <random>
#include <thread>

#include "db/pg_connection.hpp"
#include "probe/activity_sampler.hpp"
#include "probe/run_backends.hpp"
#include "probe/server_log.hpp"
#include "run/live_watch.hpp"
#include "run/recorder.hpp"
#include "scenario/backend_tag.hpp"
#include "server/embedded_server.hpp"
#include "util/errors.hpp"
#include "util/stoppable_sleep.hpp"
#include "workload/pattern_registry.hpp"
#include "workload/process_replica.hpp"
#include "workload/worker_context.hpp"

namespace pgleak::run {
namespace {

using Clock = std::chrono::steady_clock;

std::chrono::milliseconds to_ms(const util::ScaledDuration& d) {
  // PostgreSQL's timeouts are whole milliseconds, and 0 would mean "off".
  return std::max(std::chrono::milliseconds{1},
                  std::chrono::duration_cast<std::chrono::milliseconds>(d.applied));
}

db::SessionSettings session_settings(const scenario::ConnectArgs& args) {
  db::SessionSettings s;
  if (args.connect_timeout) {
    s.connect_timeout = to_ms(*args.connect_timeout);
  }
  if (args.statement_timeout) {
    s.statement_timeout = to_ms(*args.statement_timeout);
  }
  if (args.idle_in_transaction_session_timeout) {
    s.idle_in_transaction_session_timeout = to_ms(*args.idle_in_transaction_session_timeout);
  }
  return s;
}

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
  bool wait_all_done(std::chrono::milliseconds timeout) {
    std::unique_lock lock{mutex_};
    return cv_.wait_for(lock, timeout, [&] { return live_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int live_ = 0;
};

void log(const RunOptions& options, const std::string& line) {
  if (options.log != nullptr) {
    *options.log << "pgleak: " << line << std::endl;
  }
}

}  // namespace

std::string_view to_string(RunStatus status) {
  switch (status) {
    case RunStatus::kCompleted:
      return "completed";
    case RunStatus::kInterrupted:
      return "interrupted";
    case RunStatus::kTargetLost:
      return "target_lost";
    case RunStatus::kAborted:
      return "aborted";
  }
  return "completed";
}

std::string make_run_id() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::uniform_int_distribution<size_t> pick{0, sizeof kAlphabet - 2};
  std::string id;
  for (size_t i = 0; i < scenario::kRunIdLength; ++i) {
    id.push_back(kAlphabet[pick(rd)]);
  }
  return id;
}

RunResult run_scenario(const scenario::Scenario& sc, const RunOptions& options) {
  RunResult result;
  result.run_id = make_run_id();
  result.started_at_utc = util::utc_now("%Y-%m-%dT%H:%M:%SZ");
  const auto wall_start = Clock::now();

  if (options.dsn && sc.needs_embedded_server()) {
    throw util::UsageError(
        "restart_server faults need the embedded server; drop --dsn or the fault");
  }

  // --- target -------------------------------------------------------------
  std::unique_ptr<server::EmbeddedServer> embedded;
  db::ConnInfo app_target;
  db::ConnInfo admin_target;
  if (options.dsn) {
    app_target = db::ConnInfo::parse(*options.dsn);
    admin_target = app_target;
    result.target.embedded = false;
    result.target.dsn_redacted = app_target.redacted();
  } else {
    if (const int reaped = server::EmbeddedServer::reap_orphans(); reaped > 0) {
      log(options, fmt::format("removed {} cluster(s) left behind by killed pgleak runs", reaped));
    }
    server::EmbeddedServerOptions so;
    so.max_connections = sc.server.max_connections;
    so.superuser_reserved_connections = sc.server.superuser_reserved_connections;
    embedded = server::EmbeddedServer::start(so);
    app_target = embedded->app_conninfo();
    admin_target = embedded->superuser_conninfo();
  }
  result.target.server = probe::read_server_info(admin_target);
  if (embedded) {
    log(options, fmt::format("embedded PostgreSQL {} on 127.0.0.1:{} ({})",
                             result.target.server.server_version, embedded->port(),
                             embedded->dir().string()));
  } else {
    log(options, fmt::format("target {} (PostgreSQL {}, max_connections {}); settings are read, "
                             "never changed",
                             result.target.dsn_redacted, result.target.server.server_version,
                             result.target.server.max_connections));
  }

  // --- processes and their pools -----------------------------------------
  std::vector<std::unique_ptr<workload::ProcessReplica>> replicas;
  for (const auto& spec : sc.processes) {
    for (int r = 0; r < spec.replicas; ++r) {
      auto factory = std::make_unique<db::PgConnectionFactory>(app_target,
                                                               session_settings(spec.pool.connect));
      replicas.push_back(std::make_unique<workload::ProcessReplica>(spec, r, std::move(factory)));
    }
  }

  Recorder recorder{Clock::now()};
  std::stop_source run_stop;
  std::mutex status_mutex;
  RunStatus status = RunStatus::kCompleted;
  std::string status_detail;
  auto stop_with = [&](RunStatus why, const std::string& detail) {
    {
      std::lock_guard lock{status_mutex};
      if (status == RunStatus::kCompleted) {
        status = why;
        status_detail = detail;
      }
    }
    run_stop.request_stop();
  };
  std::stop_callback on_interrupt{options.interrupt,
                                  [&] { stop_with(RunStatus::kInterrupted, "interrupted"); }};

  probe::ActivitySampler sampler{
      admin_target, scenario::BackendTag::run_marker(result.run_id), sc.sample_interval, recorder,
      [&] {
        std::vector<PoolSample> pools;
        pools.reserve(replicas.size());
        for (const auto& rep : replicas) {
          const auto s = rep->pool().stats();
          pools.push_back({rep->spec().name, rep->replica(), s.checked_out, s.idle, s.overflow,
                           s.waiting, s.open});
        }
        return pools;
      }};
  probe::RunBackends run_backends{admin_target, result.run_id};
  sampler.on_target_lost([&](const std::string& why) { stop_with(RunStatus::kTargetLost, why); });
  sampler.start();

  std::unique_ptr<probe::ServerLogTailer> server_log;
  if (embedded) {
    server_log = std::make_unique<probe::ServerLogTailer>(
        embedded->json_log_path().string(), result.run_id, recorder,
        [&](const std::string& process, int replica, int pid) -> std::string {
          for (const auto& rep : replicas) {
            if (rep->spec().name == process && rep->replica() == replica) {
              return rep->pool().last_holder(pid);
            }
          }
          return {};
        });
    server_log->start();
    result.server_log_available = true;
  } else {
    result.server_log_note =
        "external server: its log is not readable by pgleak; events are what the clients saw";
  }

  log(options, fmt::format("running {} for {} ({} nominal, time_scale {}), {} workers in {} "
                           "process replicas, run id {}",
                           sc.name, util::format_duration(sc.duration.applied),
                           util::format_duration(sc.duration.nominal), sc.time_scale,
                           sc.total_workers(), replicas.size(), result.run_id));

  // --- workers --------------------------------------------------------------
  const auto& registry = workload::PatternRegistry::builtin();
  const auto run_start = recorder.start();
  // Each worker group of each replica: when it starts and how it is paced.
  struct GroupRun {
    workload::ProcessReplica* replica;
    const scenario::WorkerGroup* group;
    Clock::time_point start_at;
    std::unique_ptr<workload::GroupLoad> load;
  };
  std::vector<GroupRun> groups;
  for (auto& rep : replicas) {
    for (const auto& group : rep->spec().workers) {
      const auto start_at = run_start + rep->replica() * rep->spec().start_interval.applied +
                            group.start_after.applied;
      groups.push_back({rep.get(), &group, start_at,
                        std::make_unique<workload::GroupLoad>(group, sc.time_scale, start_at)});
      groups.back().load->start(run_stop.get_token());
    }
  }
  WorkerCount live;
  std::vector<std::jthread> workers;
  workers.reserve(static_cast<size_t>(sc.total_workers()));
  // Whatever way this function is left, workers are told to stop before they
  // are joined (a jthread's own stop token is not the one they watch).
  struct StopOnExit {
    std::stop_source& source;
    ~StopOnExit() { source.request_stop(); }
  } stop_on_exit{run_stop};
  for (auto& g : groups) {
    const auto& rep = *g.replica;
    const auto& group = *g.group;
    const auto* info = registry.find(group.pattern);
    const auto resolved = registry.resolve_options(group.pattern, group.options);
    const auto tag =
        scenario::BackendTag{rep.spec().pool.connect.application_name.value_or("pgleak"),
                             result.run_id, rep.spec().name, rep.replica(), group.pattern}
            .str();
    for (int i = 0; i < group.count; ++i) {
      live.add();
      workers.emplace_back([&, info, resolved, tag, i, start_at = g.start_at, replica = g.replica,
                            group_ptr = g.group, load = g.load.get(), stop = run_stop.get_token()] {
        try {
          if (util::sleep_until(start_at, stop) && load->wait_to_start(i, stop)) {
            workload::WorkerContext ctx{*replica, *group_ptr, *load, i, tag, recorder, stop};
            info->make(workload::PatternArgs{resolved, sc.time_scale})->run(ctx);
          }
        } catch (const std::exception& e) {
          Event ev;
          ev.kind = "worker_error";
          ev.message = e.what();
          ev.process = replica->spec().name;
          ev.replica = replica->replica();
          ev.worker = group_ptr->name + "." + std::to_string(i);
          ev.pattern = group_ptr->pattern;
          recorder.add_event(std::move(ev));
        }
        live.done();
      });
    }
  }

  // --- faults, on their schedule ---------------------------------------------
  std::jthread faults{[&, stop = run_stop.get_token()] {
    for (const auto& fault : sc.faults) {
      if (!util::sleep_until(run_start + fault.at.applied, stop)) {
        return;
      }
      Event ev;
      ev.kind = kFault;
      ev.process = fault.target == "all" ? "" : fault.target;
      const auto process = fault.target == "all" ? std::string{} : fault.target;
      try {
        int affected = 0;
        switch (fault.action) {
          case scenario::Fault::Action::kTerminateBackends:
            affected = run_backends.terminate(process);
            break;
          case scenario::Fault::Action::kCancelBackends:
            affected = run_backends.cancel(process);
            break;
          case scenario::Fault::Action::kRestartServer:
            embedded->restart();
            break;
        }
        ev.message = fault.action == scenario::Fault::Action::kRestartServer
                         ? "restart_server: fast restart done"
                         : fmt::format("{} on {}: {} backends", scenario::to_string(fault.action),
                                       fault.target, affected);
      } catch (const std::exception& e) {
        ev.message = fmt::format("{} failed: {}", scenario::to_string(fault.action), e.what());
      }
      recorder.add_event(std::move(ev));
    }
  }};

  // --- wait for the end, watching -----------------------------------------
  LiveWatch watch{
      sc,
      recorder,
      replicas,
      options.log,
      options.progress_in_place,
      result.target.server.max_connections - result.target.server.superuser_reserved_connections};
  {
    const auto deadline = run_start + sc.duration.applied;
    const auto stop = run_stop.get_token();
    while (!stop.stop_requested() && Clock::now() < deadline) {
      util::sleep_until(std::min(deadline, Clock::now() + std::chrono::milliseconds{250}), stop);
      if (auto why = watch.tick()) {
        stop_with(RunStatus::kAborted, *why);
      }
    }
  }
  watch.finish();
  // The state at the end of the scenario (or at the interruption), before
  // anything is released; then the sampler stops so shutdown is not sampled.
  sampler.sample_now();
  sampler.stop();
  std::vector<int> held_at_end;
  for (const auto& rep : replicas) {
    held_at_end.push_back(static_cast<int>(rep->pool().outstanding().size()));
  }
  result.holders = watch.holders();
  if (server_log) {
    server_log->stop();  // what the server logged up to the end of the scenario
  }
  run_stop.request_stop();
  faults.join();

  // --- shutdown: every backend of the run goes away -------------------------
  if (!live.wait_all_done(std::chrono::milliseconds{500})) {
    // Workers stuck in a statement (pg_sleep, a lock wait): cancel them.
    run_backends.cancel({}, /*active_only=*/true);
    if (!live.wait_all_done(std::chrono::seconds{5})) {
      run_backends.terminate();
    }
  }
  workers.clear();  // joins
  for (size_t i = 0; i < replicas.size(); ++i) {
    auto& rep = replicas[i];
    rep->end();
    result.pools.push_back({rep->spec().name, rep->replica(), rep->pool().stats(), held_at_end[i]});
  }
  for (const auto& g : groups) {
    auto delays = std::make_shared<util::LatencyHistogram>();
    delays->merge_from(g.load->start_delays());
    result.loads.push_back({g.replica->spec().name, g.replica->replica(), g.group->name,
                            g.load->open_model(), g.load->arrivals(), g.load->dropped(),
                            std::move(delays)});
  }
  result.checkout_waits = std::make_shared<util::LatencyHistogram>();
  for (const auto& rep : replicas) {
    result.checkout_waits->merge_from(rep->pool().checkout_waits());
  }
  groups.clear();
  replicas.clear();  // pools close their connections
  // A safety net, and a check: no backend of this run may outlive it.
  if (const int left = run_backends.wait_gone(std::chrono::seconds{5}); left > 0) {
    result.leftover_backends_terminated = run_backends.terminate();
  }
  if (embedded) {
    embedded->stop();
  }

  {
    std::lock_guard lock{status_mutex};
    result.status = status;
    result.status_detail = status_detail;
  }
  result.samples = recorder.samples();
  result.events = recorder.events();
  result.events_dropped = recorder.dropped_events();
  result.errors_by_sqlstate = recorder.errors_by_sqlstate();
  result.server_errors_by_sqlstate = recorder.server_errors_by_sqlstate();
  result.pool_timeouts = recorder.pool_timeouts();
  result.sampler_missed_intervals = sampler.missed_intervals();
  result.sampler_max_lag_ms = sampler.max_lag_ms();
  result.wall_s = std::chrono::duration<double>(Clock::now() - wall_start).count();
  return result;
}

}  // namespace pgleak::run

#include "probe/activity_sampler.hpp"

#include <fmt/format.h>

#include "db/own_session.hpp"
#include "probe/pgbouncer_console.hpp"
#include "scenario/backend_tag.hpp"
#include "util/errors.hpp"
#include "util/stoppable_sleep.hpp"

namespace pgleak::probe {
namespace {

constexpr const char* kActivityQuery =
    "SELECT coalesce(state, 'unknown'), coalesce(application_name, ''), count(*)::int "
    "FROM pg_stat_activity "
    "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
    "GROUP BY 1, 2";

}  // namespace

ActivitySampler::ActivitySampler(db::ConnInfo target, std::string run_marker,
                                 std::chrono::microseconds interval, record::Recorder& recorder,
                                 PoolsSnapshot pools)
    : target_(std::move(target)),
      run_marker_(std::move(run_marker)),
      interval_(interval),
      recorder_(recorder),
      pools_(std::move(pools)) {}

ActivitySampler::~ActivitySampler() {
  stop();
}

bool ActivitySampler::reconnect() {
  try {
    // Bounded: a server that stops answering costs at most a second per try,
    // and the sampler's stop ends the wait at once.
    conn_ = std::make_unique<db::OwnSession>(
        target_, db::own_name::kSampler,
        db::OwnSession::Options{.connect_timeout = std::chrono::seconds{2},
                                .query_timeout = std::chrono::seconds{2},
                                .interrupt = stop_.get_token()});
    return true;
  } catch (const std::exception&) {
    conn_.reset();
    return false;
  }
}

void ActivitySampler::start(const std::function<void()>& ready) {
  if (!pools_only_ && !reconnect()) {
    throw util::InfrastructureError("the sampler cannot connect to " + target_.redacted());
  }
  if (!pools_only_ && !await_names_.empty()) {
    await_exits();
  }
  if (ready) {
    ready();
  }
  thread_ = std::thread{[this] { loop(stop_.get_token()); }};
}

void ActivitySampler::stop() {
  stop_.request_stop();  // also ends a query or connect under way
  if (thread_.joinable()) {
    thread_.join();
  }
}

void ActivitySampler::await_exits() {
  std::string names;
  for (const auto& n : await_names_) {
    names += (names.empty() ? "" : ", ") + conn_->quote(n);
  }
  const std::string sql =
      "SELECT count(*)::int FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
      "AND application_name IN (" +
      names + ")";
  // A backend's exit cannot be waited on from another session, only seen:
  // polled every 5 ms, for at most the bound. A failed query ends the wait
  // (the loop reconnects as it would for any tick).
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + await_bound_;
  try {
    while (conn_->scalar(sql, stop_.get_token()) > 0 && Clock::now() < deadline) {
      if (!util::sleep_until(std::min(deadline, Clock::now() + std::chrono::milliseconds{5}),
                             stop_.get_token())) {
        return;
      }
    }
  } catch (const std::exception&) {
    conn_.reset();
  }
}

bool ActivitySampler::read_activity(record::Sample& sample) {
  if (!conn_ && !reconnect()) {
    return false;
  }
  try {
    for (const auto& row : conn_->query(kActivityQuery)) {
      const auto state = row[0].value_or("unknown");
      const auto app = row[1].value_or("");
      const int n = db::OwnSession::number<int>(row[2]);
      sample.total += n;
      sample.by_state[state] += n;
      sample.by_application[app] += n;
      if (app.find(run_marker_) != std::string::npos) {
        sample.own += n;
        if (const auto tag = scenario::BackendTag::parse(app)) {
          sample.by_process[tag->process] += n;
        }
      }
    }
  } catch (const std::exception&) {
    conn_.reset();
    return false;
  }
  return true;
}

bool ActivitySampler::take(double lag_ms) {
  // A sample is stamped when it is asked for, and the pools are read then
  // too: the server takes its snapshot of pg_stat_activity as the query
  // starts, not when the answer has come back (3-5 ms later with 1,000
  // backends on a quiet server, 7-28 ms on a busy one).
  record::Sample sample;
  sample.t_s = recorder_.elapsed_s();
  sample.lag_ms = lag_ms;
  sample.pools = pools_();
  if (!pools_only_ && !read_activity(sample)) {
    return false;
  }
  sample.pgbouncer = pgbouncer_now();
  recorder_.add_sample(std::move(sample));
  max_lag_ms_ = std::max(max_lag_ms_, lag_ms);
  return true;
}

std::optional<record::PgBouncerSample> ActivitySampler::pgbouncer_now() {
  if (!console_target_) {
    return std::nullopt;
  }
  try {
    if (!console_) {
      console_ = std::make_unique<db::OwnSession>(
          *console_target_, db::own_name::kSampler,
          db::OwnSession::Options{.connect_timeout = std::chrono::seconds{2},
                                  .query_timeout = std::chrono::seconds{2},
                                  .interrupt = stop_.get_token()});
    }
    auto s = read_pgbouncer_console(*console_);
    console_failing_ = false;
    return s;
  } catch (const std::exception& e) {
    console_.reset();
    if (!console_failing_) {
      console_failing_ = true;
      record::Event ev;
      ev.kind = record::kSamplerError;
      ev.message = "cannot read PgBouncer's admin console at " + console_target_->redacted() +
                   ": " + e.what();
      recorder_.add_event(std::move(ev));
    }
    return std::nullopt;
  }
}

void ActivitySampler::finish() {
  {
    // The stop is requested before the lock is let go, so the loop, which
    // takes its ticks under the same lock, starts none after this sample.
    std::lock_guard lock{conn_mutex_};
    if (!stop_.stop_requested()) {
      take(0);
    }
    stop_.request_stop();
  }
  stop();
}

void ActivitySampler::loop(std::stop_token stop) {
  using Clock = std::chrono::steady_clock;
  auto next = Clock::now();
  bool failing = false;
  Clock::time_point failing_since{};
  constexpr auto kLostAfter = std::chrono::seconds{3};
  while (!stop.stop_requested()) {
    if (!util::sleep_until(next, stop)) {
      break;
    }
    const auto now = Clock::now();
    auto lag = now - next;
    if (lag >= interval_) {
      const auto skipped = lag / interval_;
      std::lock_guard lock{conn_mutex_};
      missed_ += static_cast<uint64_t>(skipped);
      next += skipped * interval_;
      lag = now - next;
    }
    bool ok = false;
    {
      std::lock_guard lock{conn_mutex_};
      if (stop.stop_requested()) {
        break;  // finish() took the last sample
      }
      ok = take(std::chrono::duration<double, std::milli>(lag).count());
    }
    if (ok) {
      failing = false;
    } else {
      if (!failing) {
        failing = true;
        failing_since = now;
        record::Event e;
        e.kind = record::kSamplerError;
        e.message = "sampler lost its connection to the server; reconnecting";
        recorder_.add_event(std::move(e));
      } else if (now - failing_since >= kLostAfter && on_lost_) {
        on_lost_(fmt::format("the server at {} has been unreachable for {}s", target_.redacted(),
                             kLostAfter.count()));
        failing_since = now;  // report once per period
      }
    }
    next += interval_;
  }
}

}  // namespace pgleak::probe

#include "run/shard_barrier.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "db/db_error.hpp"
#include "db/own_session.hpp"
#include "util/errors.hpp"
#include "util/stoppable_sleep.hpp"

namespace pgleak::run {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPoll = std::chrono::milliseconds{20};
// The granted two-key advisory locks in the target database: the barrier's
// (classid and objid hold the two int4 keys, which are non-negative here).
constexpr const char* kGrantedLocks =
    "FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";

int32_t key_of(const std::string& text) {
  return static_cast<int32_t>(scenario::fnv1a64(text) & 0x7fffffffU);
}

struct Seen {
  int arrived = 0;  // locks A of shards 0..N-1
  int passed = 0;   // locks B
  int foreign = 0;  // locks D with another digest
};

Seen look(db::OwnSession& session, const BarrierKeys& keys, int shards, int32_t digest) {
  const auto rows = session.query(
      fmt::format("SELECT count(*) FILTER (WHERE classid = {0} AND objid < {3}), "
                  "count(*) FILTER (WHERE classid = {1}), "
                  "count(*) FILTER (WHERE classid = {2} AND objid <> {4}) {5}",
                  keys.arrived, keys.passed, keys.digest, shards, digest, kGrantedLocks));
  if (rows.size() != 1 || rows[0].size() != 3) {
    throw util::InfrastructureError("the shard barrier: unexpected answer from pg_locks");
  }
  return {db::OwnSession::number<int>(rows[0][0]), db::OwnSession::number<int>(rows[0][1]),
          db::OwnSession::number<int>(rows[0][2])};
}

}  // namespace

BarrierKeys barrier_keys(const std::string& run_id) {
  return {
      key_of("pgleak-barrier-arrived/" + run_id),   key_of("pgleak-barrier-passed/" + run_id),
      key_of("pgleak-barrier-digest/" + run_id),    key_of("pgleak-barrier-aborted/" + run_id),
      key_of("pgleak-barrier-final/" + run_id),     key_of("pgleak-barrier-saw-abort/" + run_id),
      key_of("pgleak-barrier-saw-final/" + run_id), key_of("pgleak-barrier-mismatch/" + run_id)};
}

int32_t barrier_digest(const std::string& scenario_digest, int shards) {
  return key_of(fmt::format("{}/{}", scenario_digest, shards));
}

std::unique_ptr<ShardLink> ShardLink::join(const BarrierOptions& options) {
  std::unique_ptr<ShardLink> link{new ShardLink{options}};
  link->wait_at_start();
  return link;
}

ShardLink::ShardLink(const BarrierOptions& options)
    : options_(options), keys_(barrier_keys(options.run_id)) {}
ShardLink::~ShardLink() = default;

void ShardLink::refuse_foreign(int foreign, const std::string& who) {
  if (foreign > 0) {
    keep_place_until_mismatch_seen();
    throw util::InfrastructureError(fmt::format(
        "{}: {} shard(s) at the barrier run a different scenario or shard count (scenario "
        "digest {} for {} shards here); every shard must run the same file with the same "
        "N and --time-scale",
        who, foreign, options_.scenario_digest, options_.shard.count));
  }
}

void ShardLink::take_place(db::OwnSession& session, int32_t digest, const std::string& who) {
  const auto& o = options_;
  // The digest first: a shard of another N (the same file, so the same run
  // id) shares this one's indexes, and must be told it runs another N, not
  // that its place is taken.
  const auto pid = session.scalar("SELECT pg_backend_pid()");
  session.query(fmt::format("SELECT pg_advisory_lock_shared({}, {})", keys_.digest, digest));
  refuse_foreign(look(session, keys_, o.shard.count, digest).foreign, who);
  const auto first = session.query(fmt::format(
      "SELECT pg_try_advisory_lock({}, {}), pg_backend_pid()", keys_.arrived, o.shard.index));
  if (first.size() != 1 || first[0][0].value_or("f") != "t") {
    throw util::InfrastructureError(fmt::format(
        "{}: another pgleak already holds this shard's place at the barrier (two pods with one "
        "index, or a second run with the same --run-id)",
        who));
  }
  if (pid != db::OwnSession::number<long long>(first[0][1])) {
    throw util::InfrastructureError(
        who +
        ": the barrier's statements reached two different backends: the DSN goes through a "
        "transaction-pooling PgBouncer, where session advisory locks do not hold. Point --dsn "
        "at the server, or at a session-pooling PgBouncer, for a sharded run");
  }
}

void ShardLink::wait_at_start() {
  const auto& o = options_;
  const auto arrived_at = Clock::now();
  const auto deadline = arrived_at + o.timeout;
  const auto digest = barrier_digest(o.scenario_digest, o.shard.count);
  const auto who = fmt::format("shard {} of run {}", o.shard.str(), o.run_id);
  try {
    session_ = std::make_unique<db::OwnSession>(
        o.target, db::own_name::kShard,
        db::OwnSession::Options{.connect_timeout = std::chrono::seconds{10},
                                .query_timeout = std::chrono::seconds{10},
                                .interrupt = o.interrupt});
    auto& session = *session_;
    take_place(session, digest, who);

    // Waits until `done` holds, refusing a foreign scenario and the deadline.
    const auto wait = [&](auto done, bool arriving) {
      while (true) {
        const auto seen = look(session, keys_, o.shard.count, digest);
        refuse_foreign(seen.foreign, who);
        if (done(seen)) {
          return true;
        }
        if (Clock::now() >= deadline) {
          throw util::InfrastructureError(fmt::format(
              "{}: {} of {} shards {} within {}s (--barrier-timeout); the others never came", who,
              arriving ? seen.arrived : seen.passed, o.shard.count, arriving ? "arrived" : "passed",
              std::chrono::duration_cast<std::chrono::seconds>(o.timeout).count()));
        }
        if (!util::sleep_for(kPoll, o.interrupt)) {
          return false;
        }
      }
    };
    const int n = o.shard.count;
    if (!wait([n](const Seen& s) { return s.arrived >= n || s.passed > 0; }, true)) {
      interrupted_ = true;
      return;
    }
    session.query(fmt::format("SELECT pg_advisory_lock({}, {})", keys_.passed, o.shard.index));
    if (!wait([n](const Seen& s) { return s.passed >= n || s.arrived < n; }, false)) {
      interrupted_ = true;
      return;
    }
  } catch (const db::DbError& e) {
    if (o.interrupt.stop_requested()) {
      interrupted_ = true;
      return;
    }
    throw util::InfrastructureError(
        fmt::format("{}: the barrier on {} failed: {}", who, o.target.redacted(), e.what()));
  }
  waited_s_ = std::chrono::duration<double>(Clock::now() - arrived_at).count();
  passed_at_unix_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
}

void ShardLink::failed(std::string_view what, const std::exception& e) {
  auto text =
      fmt::format("shard {}: the barrier could not {}: {}", options_.shard.str(), what, e.what());
  if (std::find(failures_.begin(), failures_.end(), text) == failures_.end()) {
    failures_.push_back(std::move(text));
  }
}

bool ShardLink::take(int32_t key) {
  if (!session_ || session_->broken()) {
    return false;
  }
  try {
    session_->query(fmt::format("SELECT pg_advisory_lock({}, {})", key, options_.shard.index));
    return true;
  } catch (const std::exception& e) {
    failed(fmt::format("take its lock ({}, {})", key, options_.shard.index), e);
    return false;  // the others wait out their bounds
  }
}

long long ShardLink::count(const std::string& where) {
  return session_->scalar(
      fmt::format("SELECT count(DISTINCT objid) {} AND {}", kGrantedLocks, where));
}

void ShardLink::keep_place_until_mismatch_seen() {
  // Every shard at the barrier holds the digest lock D, shared; each marks
  // the mismatch (M, I), shared too (two shards of different N may share an
  // index), once it sees it. This one leaves (and its locks with it) when
  // every holder of D has, so none waits out its timeout for a shard that
  // left first. Bounded: a shard may be stuck.
  if (session_ && !session_->broken()) {
    try {
      session_->query(fmt::format("SELECT pg_advisory_lock_shared({}, {})", keys_.mismatch,
                                  options_.shard.index));
    } catch (const std::exception& e) {
      failed("mark the mismatch", e);
    }
  }
  const auto holders = [this](int32_t key) {
    return session_->scalar(fmt::format("SELECT count(*) {} AND classid = {}", kGrantedLocks, key));
  };
  const auto until = Clock::now() + std::chrono::seconds{2};
  try {
    while (holders(keys_.mismatch) < holders(keys_.digest) && Clock::now() < until &&
           util::sleep_for(kPoll, options_.interrupt)) {
    }
  } catch (const std::exception& e) {
    failed("wait for the other shards to see the mismatch", e);  // the others' sessions went too
  }
}

void ShardLink::announce_abort() {
  if (!announced_abort_) {
    announced_abort_ = take(keys_.aborted);
  }
}

void ShardLink::settle(std::chrono::milliseconds timeout, const std::stop_token& stop) {
  if ((!announced_abort_ && !announced_final_) || !session_ || session_->broken()) {
    return;
  }
  const auto me = options_.shard.index;
  const auto deadline = Clock::now() + timeout;
  while (true) {
    try {
      // The other shards still running (they hold A), against those that saw
      // what this one announced (a shard that aborted itself knows the run ended).
      const auto running = count(fmt::format("classid = {} AND objid <> {}", keys_.arrived, me));
      const bool abort_seen =
          !announced_abort_ || count(fmt::format("classid IN ({}, {}) AND objid <> {}",
                                                 keys_.aborted, keys_.saw_abort, me)) >= running;
      const bool final_seen =
          !announced_final_ ||
          count(fmt::format("classid = {} AND objid <> {}", keys_.saw_final, me)) >= running;
      if (abort_seen && final_seen) {
        return;
      }
    } catch (const std::exception& e) {
      failed("see that the other shards saw its announcement", e);
      return;
    }
    if (Clock::now() >= deadline || !util::sleep_for(kPoll, stop)) {
      return;
    }
  }
}

void ShardLink::announce_final_sample() {
  if (!announced_final_) {
    announced_final_ = take(keys_.final_sample);
  }
}

bool ShardLink::wait_final_sample(std::chrono::milliseconds timeout, const std::stop_token& stop) {
  const auto deadline = Clock::now() + timeout;
  while (session_ && !session_->broken()) {
    try {
      if (count(fmt::format("classid = {}", keys_.final_sample)) > 0) {
        take(keys_.saw_final);
        return true;
      }
    } catch (const std::exception& e) {
      failed("see shard 0's last sample", e);
      return false;
    }
    if (Clock::now() >= deadline || !util::sleep_for(kPoll, stop)) {
      return false;
    }
  }
  return false;
}

int ShardLink::aborted_by() {
  if (!session_ || session_->broken()) {
    return -1;
  }
  try {
    const auto rows =
        session_->query(fmt::format("SELECT min(objid) {} AND classid = {} AND objid <> {}",
                                    kGrantedLocks, keys_.aborted, options_.shard.index));
    if (rows.size() != 1 || !rows[0][0]) {
      return -1;
    }
    take(keys_.saw_abort);
    return db::OwnSession::number<int>(rows[0][0]);
  } catch (const std::exception& e) {
    failed("look for another shard's abort", e);
    return -1;
  }
}

}  // namespace pgleak::run

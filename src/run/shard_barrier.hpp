#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "db/conninfo.hpp"
#include "scenario/shard.hpp"

namespace pgleak::db {
class OwnSession;
}

namespace pgleak::run {

// What ties the shards of a sharded run together, with nothing but what they
// already share: the target database, through session-level advisory locks
// (pg_locks is readable by every role). Each shard holds one session, tagged
// "pgleak-shard", from its arrival to its end:
//
//  - The start line. A shard takes the lock (A, I), so a second shard I (two
//    pods with one index, or a second run with the same run id) is refused at
//    once, and a shared lock (D, digest of the scenario and N), so shards of
//    different scenarios refuse each other (each marks (M, I) on seeing the
//    other, and leaves once every shard at the barrier has). It polls pg_locks every 20 ms
//    until it sees N locks A, or a lock B (someone saw N before it), then
//    takes (B, I), and polls until it sees N locks B, or fewer than N locks A
//    (a shard lets go of A only after seeing N locks B). All start within a
//    poll or two of each other.
//  - An early end. A shard that stops the run for an abort_on_fail threshold
//    takes (X, I); the others see it at their next watch (4 times a second)
//    and stop too, as one process would.
//  - The last sample. Shard 0 takes (F, 0) once it has sampled the end; the
//    others keep what they hold until they see it, so that sample sees the
//    whole fleet however their ends are spread.
//  - Seen. A shard that sees X takes (Y, I), and one that sees F takes
//    (Z, I); a shard that announced X or F keeps its session at its end
//    until every shard still running has seen it (settle), so no shard
//    misses an announcement between two of its polls.
//
// A, B, D, M, X, F, Y and Z are int4 keys derived from the run id, so runs do not meet.
// Cost: one connection per shard for the run (the unsharded run has none).
// A killed shard lets go of its locks with its session: nothing is left
// behind. The session must be a session: through a transaction-pooling
// PgBouncer the locks would stay with whichever server connection ran the
// statement, and joining refuses that (two statements answered by two
// backends).
struct BarrierOptions {
  db::ConnInfo target;
  std::string run_id;
  scenario::ShardRef shard;
  std::string scenario_digest;
  std::chrono::milliseconds timeout{std::chrono::minutes{10}};
  std::stop_token interrupt;
};

// The lock keys of a run.
struct BarrierKeys {
  int32_t arrived;
  int32_t passed;
  int32_t digest;
  int32_t aborted;
  int32_t final_sample;
  int32_t saw_abort;
  int32_t saw_final;
  int32_t mismatch;
};
BarrierKeys barrier_keys(const std::string& run_id);

// Not thread-safe: one thread (the runner's) uses it.
class ShardLink {
 public:
  // Waits at the start line. Throws util::InfrastructureError (exit 3) when
  // the target cannot be reached, another shard holds this index, a shard
  // runs a different scenario or N, or not every shard arrives within the
  // timeout. Returns with interrupted() when `interrupt` came first.
  static std::unique_ptr<ShardLink> join(const BarrierOptions& options);
  ~ShardLink();
  ShardLink(const ShardLink&) = delete;
  ShardLink& operator=(const ShardLink&) = delete;

  bool interrupted() const { return interrupted_; }
  double waited_s() const { return waited_s_; }
  int64_t passed_at_unix_ms() const { return passed_at_unix_ms_; }

  // Tells the other shards this one ended the run early (at most once).
  void announce_abort();
  // The first other shard that ended the run early, or -1 (also when the
  // server cannot be asked: the sampler reports a lost target).
  int aborted_by();
  // Shard 0: its last sample is taken. The others: wait for that, up to
  // `timeout` or `stop`; false when it did not come.
  void announce_final_sample();
  bool wait_final_sample(std::chrono::milliseconds timeout, const std::stop_token& stop);
  // At this shard's end: once it announced an abort or the last sample, waits
  // until every other shard still running has seen it, up to `timeout`.
  void settle(std::chrono::milliseconds timeout, const std::stop_token& stop);

  // What failed after the start line (a lock not taken, a poll not
  // answered), each once, in order: the run records each as an event, since
  // the shards it concerns then wait out their bounds instead.
  const std::vector<std::string>& failures() const { return failures_; }

 private:
  ShardLink(const BarrierOptions& options);
  void wait_at_start();
  // wait_at_start()'s first step: this shard's scenario digest and place
  // taken (refused when another shard holds the place, or a shard of another
  // scenario or N is there, or the statements reach two backends).
  void take_place(db::OwnSession& session, int32_t digest, const std::string& who);
  // Throws, naming them, when `foreign` shards of another scenario are there.
  void refuse_foreign(int foreign, const std::string& who);
  // Takes (key, this shard's index); false when the server cannot be asked.
  bool take(int32_t key);
  // Notes that `what` failed, with the reason.
  void failed(std::string_view what, const std::exception& e);
  std::vector<std::string> failures_;
  // Distinct objids of the run's granted advisory locks matching `where`.
  long long count(const std::string& where);
  // Having seen a shard of another scenario: marks it (M, I) and stays until
  // every shard at the barrier has marked it too, at most 2 s.
  void keep_place_until_mismatch_seen();

  const BarrierOptions options_;
  const BarrierKeys keys_;
  std::unique_ptr<db::OwnSession> session_;
  bool interrupted_ = false;
  bool announced_abort_ = false;
  bool announced_final_ = false;
  double waited_s_ = 0;
  int64_t passed_at_unix_ms_ = 0;
};

// The int4 the barrier publishes for a scenario digest and shard count.
int32_t barrier_digest(const std::string& scenario_digest, int shards);

}  // namespace pgleak::run

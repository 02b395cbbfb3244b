#pragma once

// A model of node-postgres' Pool (pg 8, pg-pool 3), checked against the real
// one by tests/differential/pools/ (docs/POOLS.md):
//  - lazy: nothing is opened before a client asks;
//  - connect() takes the most recently released idle client; with none, it
//    connects a new one while fewer than `max` exist (a refused connect is
//    the caller's error, never retried); else it queues, and after
//    connectionTimeoutMillis (0: never) fails with "timeout exceeded when
//    trying to connect";
//  - an idle client whose connection ends (the server terminated it) is
//    removed on its error event; here, when it would next be handed out;
//  - release() puts a client back as it is: one released inside a
//    transaction stays in it, and the next caller inherits it; a client
//    released with an error, past maxLifetimeSeconds or at maxUses closes;
//  - a released client idle for idleTimeoutMillis closes while more than
//    `min` exist; maxLifetimeSeconds closes an idle one when it passes.
//
// Thread-safety: as MaintainedPool.

#include <set>

#include "pool/maintained_pool.hpp"
#include "scenario/scenario.hpp"

namespace pgleak::pool {

class NodePgPool final : public MaintainedPool {
 public:
  NodePgPool(const scenario::PoolSettings& settings, double time_scale,
             db::ConnectionFactory& factory);
  ~NodePgPool() override;

 private:
  void start_locked(Clock::time_point /*at*/) override { expired_.clear(); }
  void on_wait_locked() override {}
  bool lifo() const override { return true; }
  bool open_in_caller_locked() override;
  void on_opened_locked(Entry& entry) override;
  bool usable(Entry& entry) override;
  InTransaction in_transaction() const override { return InTransaction::kKeep; }
  std::string timeout_message(util::Micros waited) const override;
  bool keep_on_return_locked(Entry& entry, Clock::time_point now) override;
  void on_closed_locked() override {}

  const int max_;
  const int min_;
  const util::Micros idle_timeout_;
  const util::Micros lifetime_;
  const int max_uses_;
  std::set<uint64_t> expired_;  // past their life while checked out
};

}  // namespace pgleak::pool

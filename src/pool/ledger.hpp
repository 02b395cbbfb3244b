#pragma once

// What every pool kind keeps about its checkouts, whatever its library: the
// counters of record::PoolStats, who holds each connection now, who held
// each backend last, and every checkout's wait.
//
// Thread-safety: none of its own. A pool calls it with its mutex held, so
// `waits` is written with record_serialized(); readers of `waits` need no lock.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "pool/pool.hpp"

namespace pgleak::pool {

class Ledger {
 public:
  // Counts the checkout of `slot` for `request` and notes who holds it.
  void checked_out(const Slot& slot, const CheckoutRequest& request,
                   Pool::Clock::time_point requested, Pool::Clock::time_point now);
  // Counts the return of the checkout of `slot` (as clean-up while cleaning_up).
  void checked_in(const Slot& slot);

  std::vector<Outstanding> outstanding() const;
  std::string last_holder(int backend_pid) const;
  // Whether the checkout numbered `checkout` (Outstanding::id) is still out.
  bool is_out(uint64_t checkout) const;

  record::PoolStats counters;
  bool cleaning_up = false;
  util::LatencyHistogram waits;

 private:
  struct Out {
    uint64_t slot_id = 0;
    Outstanding what;
  };
  std::vector<Out> out_;
  std::map<int, std::string> holder_by_pid_;  // for server-log attribution after the fact
};

}  // namespace pgleak::pool

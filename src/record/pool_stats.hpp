#pragma once

#include <cstdint>

namespace pgleak::record {

// A consistent snapshot of one pool, taken under its lock.
//
// Invariants (checked by the unit tests):
//   checked_out + idle == pool_size + overflow_raw   (every record is in one place)
//   checkouts == checkins + checked_out               (a checkout is returned or still out)
//   connects - closes == open connections
struct PoolStats {
  int checked_out = 0;
  int idle = 0;          // records waiting in the queue (their connection may be closed)
  int overflow = 0;      // connections beyond pool_size, never negative
  int overflow_raw = 0;  // SQLAlchemy's QueuePool.overflow(): negative until pool_size are open
  int waiting = 0;       // threads blocked in checkout
  int open = 0;          // server connections currently open through this pool
  // Connections of the pools an engine.dispose() replaced: still checked out
  // by the application, or checked in and kept open by the old pool until it
  // is garbage-collected. Not part of the counts above (SQLAlchemy's
  // checkedout() is the new pool's), but part of `open`.
  int retired_out = 0;
  int retired_idle = 0;

  uint64_t checkouts = 0;
  uint64_t checkins = 0;  // made by the application (and its garbage collector)
  // Returns made while the process was ending or ended (QueuePool::cleaning_up):
  // a killed or exiting Python process checks nothing in; pgleak's clean-up
  // does, and counts those here, not in `checkins`.
  uint64_t checkins_by_cleanup = 0;
  uint64_t timeouts = 0;
  uint64_t connects = 0;
  uint64_t connect_failures = 0;
  uint64_t closes = 0;
  uint64_t overflow_closed = 0;  // closed on check-in because pool_size idle were kept
  uint64_t recycled = 0;         // replaced at checkout for pool_recycle
  uint64_t invalidated = 0;      // replaced at checkout after a pool invalidation
  uint64_t pre_pings = 0;        // pings made at checkout (fresh connections are not pinged)
  uint64_t pre_ping_failures = 0;
  uint64_t reset_failures = 0;  // rollback on return failed; connection discarded
  uint64_t disposals = 0;       // engine.dispose() calls
  uint64_t leak_warnings = 0;   // HikariCP's leakDetectionThreshold warnings
};

}  // namespace pgleak::record

#include "pool/node_pg_pool.hpp"

#include <algorithm>

namespace pgleak::pool {

NodePgPool::NodePgPool(const scenario::PoolSettings& s, double time_scale,
                       db::ConnectionFactory& factory)
    : MaintainedPool(factory, s.own_duration("connectionTimeoutMillis").applied, time_scale),
      max_(s.own_number("max")),
      min_(s.own_number("min")),
      idle_timeout_(s.own_duration("idleTimeoutMillis").applied),
      lifetime_(s.own_duration("maxLifetimeSeconds").applied),
      max_uses_(s.own_number("maxUses")) {}

NodePgPool::~NodePgPool() {
  shutdown();
}

bool NodePgPool::open_in_caller_locked() {
  if (total_ >= max_) {
    return false;
  }
  ++total_;
  return true;
}

void NodePgPool::on_opened_locked(Entry& entry) {
  if (lifetime_.count() == 0) {
    return;
  }
  schedule(entry.created + lifetime_, [this, id = entry.id] {
    Closing closing;
    if (auto idle = take_idle_locked(id)) {
      closing.push_back(std::move(idle));
    } else {
      expired_.insert(id);  // in use: closed when released
    }
    return closing;
  });
}

bool NodePgPool::usable(Entry& entry) {
  return entry.conn != nullptr && !entry.conn->broken_while_idle();
}

std::string NodePgPool::timeout_message(util::Micros /*waited*/) const {
  return "timeout exceeded when trying to connect";
}

bool NodePgPool::keep_on_return_locked(Entry& entry, Clock::time_point now) {
  if (expired_.erase(entry.id) > 0 || (max_uses_ > 0 && entry.uses >= max_uses_)) {
    return false;
  }
  if (idle_timeout_.count() > 0 && total_ > min_) {
    // Its timer: still idle since this return, and still above `min`.
    schedule(now + idle_timeout_, [this, id = entry.id, now] {
      Closing closing;
      if (total_ > min_) {
        if (auto idle =
                take_idle_locked(id, [now](const Entry& e) { return e.last_access == now; })) {
          closing.push_back(std::move(idle));
        }
      }
      return closing;
    });
  }
  return true;
}

}  // namespace pgleak::pool

#include "pool/ledger.hpp"

#include <algorithm>

namespace pgleak::pool {

void Ledger::checked_out(const Slot& slot, const CheckoutRequest& request,
                         Pool::Clock::time_point requested, Pool::Clock::time_point now) {
  waits.record_serialized(std::chrono::duration_cast<util::Micros>(now - requested));
  ++counters.checkouts;
  // The checkout count doubles as the checkout's id: slots are reused, checkouts are not.
  const int pid = slot.conn->backend_pid();
  out_.push_back(Out{slot.id, Outstanding{counters.checkouts, request.holder, pid, now}});
  auto& last = holder_by_pid_[pid];
  if (last != request.holder) {
    last = request.holder;
  }
}

void Ledger::checked_in(const Slot& slot) {
  ++(cleaning_up ? counters.checkins_by_cleanup : counters.checkins);
  std::erase_if(out_, [&](const Out& o) { return o.slot_id == slot.id; });
}

std::vector<Outstanding> Ledger::outstanding() const {
  std::vector<Outstanding> result;
  result.reserve(out_.size());
  for (const auto& o : out_) {
    result.push_back(o.what);
  }
  return result;
}

std::string Ledger::last_holder(int backend_pid) const {
  const auto it = holder_by_pid_.find(backend_pid);
  return it == holder_by_pid_.end() ? std::string{} : it->second;
}

bool Ledger::is_out(uint64_t checkout) const {
  return std::any_of(out_.begin(), out_.end(),
                     [checkout](const Out& o) { return o.what.id == checkout; });
}

}  // namespace pgleak::pool

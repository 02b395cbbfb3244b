#include "run/network_faults.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "util/duration.hpp"
#include "util/rate.hpp"
#include "util/stoppable_sleep.hpp"

namespace pgleak::run {
namespace {

using Action = scenario::NetworkFault::Action;

constexpr std::chrono::milliseconds kPoll{100};

std::string lasting(const scenario::NetworkFault& f) {
  return f.lasts ? fmt::format(" for {}", util::format_duration(f.lasts->nominal))
                 : " until the end of the run";
}

std::string lived_summary(std::vector<double> lived) {
  if (lived.empty()) {
    return "none ended";
  }
  std::sort(lived.begin(), lived.end());
  return fmt::format("{} ended on the server {:.1f}-{:.1f} s after (median {:.1f} s)", lived.size(),
                     lived.front(), lived.back(), lived[lived.size() / 2]);
}

}  // namespace

NetworkFaults::NetworkFaults(const scenario::Scenario& sc, Fleet& fleet, record::Recorder& recorder,
                             probe::RunBackends& backends, net::Namespace* network,
                             net::Relay* relay, int server_port, Clock::time_point run_start)
    : sc_(sc),
      fleet_(fleet),
      recorder_(recorder),
      backends_(backends),
      network_(network),
      relay_(relay),
      server_port_(server_port) {
  for (size_t i = 0; i < sc_.network_faults.size(); ++i) {
    const auto& f = sc_.network_faults[i];
    moments_.push_back({run_start + f.at.applied, i, true});
    if (f.lasts && f.action != Action::kReset) {
      moments_.push_back({run_start + f.at.applied + f.lasts->applied, i, false});
    }
  }
  std::stable_sort(moments_.begin(), moments_.end(),
                   [](const Moment& a, const Moment& b) { return a.at < b.at; });
  for (const auto& f : sc_.network_faults) {
    auto& outcome = outcomes_.emplace_back();
    outcome.action = to_string(f.action);
    outcome.target = f.target;
  }
}

void NetworkFaults::begin_due_at_start() {
  while (next_ < moments_.size() && moments_[next_].begins &&
         sc_.network_faults[moments_[next_].fault].at.applied.count() == 0) {
    begin(moments_[next_++].fault);
  }
}

void NetworkFaults::run(const std::stop_token& stop) {
  auto next_poll = Clock::now() + kPoll;
  while (next_ < moments_.size() || !watches_.empty()) {
    const bool poll_first =
        !watches_.empty() && (next_ == moments_.size() || next_poll < moments_[next_].at);
    if (!util::sleep_until(poll_first ? next_poll : moments_[next_].at, stop)) {
      poll_watches(true);
      return;
    }
    if (poll_first) {
      poll_watches(false);
      next_poll = Clock::now() + kPoll;
    } else if (moments_[next_].begins) {
      begin(moments_[next_++].fault);
    } else {
      end(moments_[next_++].fault);
    }
  }
}

void NetworkFaults::begin(size_t index) {
  const auto& f = sc_.network_faults[index];
  auto& outcome = outcomes_[index];
  const std::string process = f.target == "all" ? std::string{} : f.target;
  if (!scenario::kernel_fault(f.action)) {
    try {
      outcome.began_s = recorder_.elapsed_s();
      record(f, begin_relay_fault(index));
    } catch (const std::exception& e) {
      std::erase(shaping_, index);
      outcome.began_s = -1;
      outcome.error = e.what();
      record(f, fmt::format("{} failed: {}", to_string(f.action), e.what()));
    }
    return;
  }
  try {
    const auto ports = backends_.client_ports(process);
    if (!ports) {
      throw std::runtime_error("cannot list the run's backends: " + backends_.last_error());
    }
    std::vector<int> pids;
    std::vector<int> client_ports;
    for (const auto& [pid, port] : *ports) {
      pids.push_back(pid);
      client_ports.push_back(port);
    }
    outcome.began_s = recorder_.elapsed_s();
    outcome.cut_off = static_cast<int>(pids.size());
    record(f, apply(index, process, client_ports));
    if (!pids.empty()) {
      watches_.push_back({index, Clock::now(), std::move(pids)});
    }
  } catch (const std::exception& e) {
    std::erase_if(drops_, [&](const auto& d) { return d.first == index; });
    outcome.began_s = -1;
    outcome.cut_off = 0;
    outcome.error = e.what();
    record(f, fmt::format("{} failed: {}", to_string(f.action), e.what()));
  }
}

std::string NetworkFaults::apply(size_t index, const std::string& process,
                                 const std::vector<int>& client_ports) {
  const auto& f = sc_.network_faults[index];
  switch (f.action) {
    case Action::kBlackhole:
    case Action::kPartition:
      drops_.emplace_back(index, net::Drop{server_port_, {}});
      apply_drops();
      return fmt::format(
          "{}: every packet to and from the server dropped{}; {} backends cut off from their "
          "clients",
          to_string(f.action), lasting(f), client_ports.size());
    case Action::kReset:
      network_->reset(server_port_, process.empty() ? std::vector<int>{} : client_ports);
      return fmt::format("reset on {}: {} connections aborted, a RST to each client", f.target,
                         client_ports.size());
    case Action::kHalfOpen:
    case Action::kLatency:  // the relay's: begin_relay_fault
    case Action::kBandwidth:
      break;
  }
  if (!client_ports.empty()) {
    drops_.emplace_back(index, net::Drop{server_port_, client_ports});
    apply_drops();
  }
  int cut = 0;
  for (auto& rep : fleet_.replicas()) {
    if (process.empty() || rep->spec().name == process) {
      cut += rep->sockets().shutdown_all();
    }
  }
  return fmt::format(
      "half_open on {}: {} clients vanished without a FIN ({} sockets cut, their packets "
      "dropped{}); the server keeps each backend until its keepalives or tcp_user_timeout give up",
      f.target, client_ports.size(), cut, lasting(f));
}

void NetworkFaults::end(size_t index) {
  const auto& f = sc_.network_faults[index];
  if (outcomes_[index].began_s < 0) {
    return;  // it failed to begin (its error says why): there is nothing to end
  }
  std::erase_if(drops_, [&](const auto& d) { return d.first == index; });
  std::erase(shaping_, index);
  try {
    scenario::kernel_fault(f.action) ? apply_drops() : apply_shaping();
    outcomes_[index].ended_s = recorder_.elapsed_s();
    record(f, fmt::format("{} on {} ended after {}: its packets flow again", to_string(f.action),
                          f.target, util::format_duration(f.lasts->nominal)));
  } catch (const std::exception& e) {
    record(f, fmt::format("{} could not end: {}", to_string(f.action), e.what()));
    return;
  }
  // What the server dropped while it lasted is counted; what is left lives on.
  poll_watches(false);
  const auto healed = std::find_if(watches_.begin(), watches_.end(),
                                   [&](const Watch& w) { return w.fault == index; });
  if (healed != watches_.end()) {
    close_watch(*healed, true, "when it healed");
    watches_.erase(healed);
  }
}

void NetworkFaults::lift(bool ask_server) {
  try {
    drops_.clear();
    shaping_.clear();
    if (network_ != nullptr) {
      apply_drops();
    }
    if (relay_ != nullptr) {
      apply_shaping();
    }
  } catch (const std::exception& e) {
    record::Event ev;
    ev.kind = record::kFault;
    ev.message = fmt::format("the network faults could not be lifted: {}", e.what());
    recorder_.add_event(std::move(ev));
  }
  if (!ask_server || orphans_.empty()) {
    return;
  }
  const int ended = backends_.terminate_pids(orphans_);
  record::Event ev;
  ev.kind = record::kFault;
  ev.message = ended < 0 ? fmt::format("could not end the {} backends the network faults left: {}",
                                       orphans_.size(), backends_.last_error())
                         : fmt::format(
                               "ended {} backends the network faults left on the server (their "
                               "clients are gone; nothing else would end them before the server's "
                               "keepalives)",
                               ended);
  recorder_.add_event(std::move(ev));
}

void NetworkFaults::apply_drops() {
  std::vector<net::Drop> drops;
  for (const auto& [index, drop] : drops_) {
    drops.push_back(drop);
  }
  network_->set_drops(drops);
}

std::string NetworkFaults::begin_relay_fault(size_t index) {
  const auto& f = sc_.network_faults[index];
  shaping_.push_back(index);
  apply_shaping();
  const auto way = f.direction == scenario::NetworkFault::Direction::kBoth
                       ? std::string{"each way"}
                       : std::string{to_string(f.direction)};
  if (f.action == Action::kLatency) {
    return fmt::format(
        "latency: {} {}{}{}", util::format_duration(f.delay->nominal), way,
        f.jitter ? fmt::format(", give or take {}", util::format_duration(f.jitter->nominal))
                 : std::string{},
        lasting(f));
  }
  return fmt::format("bandwidth: at most {} {} on each connection{}",
                     util::format_rate(f.rate_nominal), way, lasting(f));
}

void NetworkFaults::apply_shaping() {
  net::Shaping to_server;
  net::Shaping to_client;
  for (const size_t index : shaping_) {  // in the order they began: the later wins
    const auto& f = sc_.network_faults[index];
    for (const auto dir : {net::Direction::kToServer, net::Direction::kToClient}) {
      const bool applies = f.direction == scenario::NetworkFault::Direction::kBoth ||
                           (f.direction == scenario::NetworkFault::Direction::kToServer) ==
                               (dir == net::Direction::kToServer);
      auto& s = dir == net::Direction::kToServer ? to_server : to_client;
      if (!applies) {
        continue;
      }
      if (f.action == Action::kLatency) {
        s.delay = f.delay->applied;
        s.jitter = f.jitter ? f.jitter->applied : util::Micros{0};
      } else {
        s.bytes_per_s = f.rate_applied;
      }
    }
  }
  relay_->shape(net::Direction::kToServer, to_server);
  relay_->shape(net::Direction::kToClient, to_client);
}

void NetworkFaults::poll_watches(bool at_end) {
  std::vector<int> all;
  for (const auto& w : watches_) {
    all.insert(all.end(), w.pids.begin(), w.pids.end());
  }
  const auto there = all.empty() ? std::optional<std::vector<int>>{} : backends_.still_there(all);
  const auto now = Clock::now();
  for (auto& w : watches_) {
    if (there) {
      std::erase_if(w.pids, [&](int pid) {
        const bool gone = std::find(there->begin(), there->end(), pid) == there->end();
        if (gone) {
          outcomes_[w.fault].lived_s.push_back(
              std::chrono::duration<double>(now - w.since).count());
        }
        return gone;
      });
    }
    if (w.pids.empty() || at_end) {
      close_watch(w, there.has_value(), "at the end of the run");
      orphans_.insert(orphans_.end(), w.pids.begin(), w.pids.end());
    }
  }
  std::erase_if(watches_, [&](const Watch& w) { return w.pids.empty() || at_end; });
}

void NetworkFaults::close_watch(const Watch& w, bool checked, const char* when) {
  const auto& f = sc_.network_faults[w.fault];
  auto& outcome = outcomes_[w.fault];
  outcome.left = static_cast<int>(w.pids.size());
  outcome.unchecked = checked ? 0 : outcome.left;
  std::string left;
  if (!w.pids.empty()) {
    left = checked ? fmt::format("; {} still on the server {}", w.pids.size(), when)
                   : fmt::format("; {} not checked ({}): counted as still there", w.pids.size(),
                                 backends_.last_error());
  }
  record(f, fmt::format("{} at {}: of the {} backends it cut off, {}{}", to_string(f.action),
                        util::format_duration(f.at.nominal), outcome.cut_off,
                        lived_summary(outcome.lived_s), left));
}

void NetworkFaults::record(const scenario::NetworkFault& f, std::string message) {
  record::Event ev;
  ev.kind = record::kFault;
  ev.process = f.target == "all" ? std::string{} : f.target;
  ev.message = std::move(message);
  recorder_.add_event(std::move(ev));
}

}  // namespace pgleak::run

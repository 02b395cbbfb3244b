#include "run/network_faults.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "util/duration.hpp"
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
                             probe::RunBackends& backends, net::Namespace& network, int server_port)
    : sc_(sc),
      fleet_(fleet),
      recorder_(recorder),
      backends_(backends),
      network_(network),
      server_port_(server_port) {}

void NetworkFaults::run(Clock::time_point run_start, const std::stop_token& stop) {
  struct Moment {
    Clock::time_point at;
    size_t fault;
    bool begins;
  };
  std::vector<Moment> moments;
  for (size_t i = 0; i < sc_.network_faults.size(); ++i) {
    const auto& f = sc_.network_faults[i];
    moments.push_back({run_start + f.at.applied, i, true});
    if (f.lasts && f.action != Action::kReset) {
      moments.push_back({run_start + f.at.applied + f.lasts->applied, i, false});
    }
  }
  std::stable_sort(moments.begin(), moments.end(),
                   [](const Moment& a, const Moment& b) { return a.at < b.at; });
  size_t next = 0;
  auto next_poll = Clock::now() + kPoll;
  while (next < moments.size() || !watches_.empty()) {
    const bool poll_first =
        !watches_.empty() && (next == moments.size() || next_poll < moments[next].at);
    if (!util::sleep_until(poll_first ? next_poll : moments[next].at, stop)) {
      poll_watches(true);
      return;
    }
    if (poll_first) {
      poll_watches(false);
      next_poll = Clock::now() + kPoll;
    } else if (moments[next].begins) {
      begin(moments[next++].fault);
    } else {
      end(moments[next++].fault);
    }
  }
}

void NetworkFaults::begin(size_t index) {
  const auto& f = sc_.network_faults[index];
  const std::string process = f.target == "all" ? std::string{} : f.target;
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
    std::string message;
    switch (f.action) {
      case Action::kBlackhole:
      case Action::kPartition:
        drops_.emplace_back(index, net::Drop{server_port_, {}});
        apply_drops();
        message = fmt::format(
            "{}: every packet to and from the server dropped{}; {} backends cut "
            "off from their clients",
            to_string(f.action), lasting(f), pids.size());
        break;
      case Action::kReset:
        network_.reset(server_port_, process.empty() ? std::vector<int>{} : client_ports);
        message = fmt::format("reset on {}: {} connections aborted, a RST to each client", f.target,
                              pids.size());
        break;
      case Action::kHalfOpen: {
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
        message = fmt::format(
            "half_open on {}: {} clients vanished without a FIN ({} sockets cut, "
            "their packets dropped{}); the server keeps each backend until its "
            "keepalives or tcp_user_timeout give up",
            f.target, client_ports.size(), cut, lasting(f));
        break;
      }
    }
    record(f, std::move(message));
    if (f.action != Action::kReset && !pids.empty()) {
      watches_.push_back({index, Clock::now(), std::move(pids), {}});
    }
  } catch (const std::exception& e) {
    record(f, fmt::format("{} failed: {}", to_string(f.action), e.what()));
  }
}

void NetworkFaults::end(size_t index) {
  const auto& f = sc_.network_faults[index];
  std::erase_if(drops_, [&](const auto& d) { return d.first == index; });
  try {
    apply_drops();
    record(f, fmt::format("{} on {} ended after {}: its packets flow again", to_string(f.action),
                          f.target, util::format_duration(f.lasts->nominal)));
  } catch (const std::exception& e) {
    record(f, fmt::format("{} could not end: {}", to_string(f.action), e.what()));
  }
}

void NetworkFaults::apply_drops() {
  std::vector<net::Drop> drops;
  for (const auto& [index, drop] : drops_) {
    drops.push_back(drop);
  }
  network_.set_drops(drops);
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
          w.lived_s.push_back(std::chrono::duration<double>(now - w.since).count());
        }
        return gone;
      });
    }
    if (w.pids.empty() || at_end) {
      const auto& f = sc_.network_faults[w.fault];
      std::string left;
      if (!w.pids.empty()) {
        left = there ? fmt::format("; {} still on the server at the end of the run", w.pids.size())
                     : fmt::format("; {} not checked: {}", w.pids.size(), backends_.last_error());
      }
      record(f, fmt::format("{} at {}: of the backends it cut off, {}{}", to_string(f.action),
                            util::format_duration(f.at.nominal), lived_summary(w.lived_s), left));
    }
  }
  std::erase_if(watches_, [&](const Watch& w) { return w.pids.empty() || at_end; });
}

void NetworkFaults::record(const scenario::NetworkFault& f, std::string message) {
  record::Event ev;
  ev.kind = record::kFault;
  ev.process = f.target == "all" ? std::string{} : f.target;
  ev.message = std::move(message);
  recorder_.add_event(std::move(ev));
}

}  // namespace pgleak::run

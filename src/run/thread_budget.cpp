#include "run/thread_budget.hpp"

#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <vector>

#include "scenario/pool_kinds.hpp"
#include "util/errors.hpp"

namespace pgleak::run {
namespace {

// The run's own threads beside its workers, rounded up.
constexpr int64_t kRunThreads = 16;
// The mappings of the process itself (libraries, heaps, threads), rounded up.
constexpr int64_t kOwnMappings = 2000;

std::optional<int64_t> read_number(const char* path) {
  std::ifstream in{path};
  int64_t n = 0;
  if (in >> n) {
    return n;
  }
  return std::nullopt;
}

// The threads that exist on the machine: /proc/loadavg's "running/total".
std::optional<int64_t> threads_in_use() {
  std::ifstream in{"/proc/loadavg"};
  std::string a, b, c, entities;
  if (!(in >> a >> b >> c >> entities)) {
    return std::nullopt;
  }
  const auto slash = entities.find('/');
  if (slash == std::string::npos) {
    return std::nullopt;
  }
  try {
    return std::stoll(entities.substr(slash + 1));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// This process's own threads (/proc/self/status "Threads:").
int64_t own_threads() {
  std::ifstream in{"/proc/self/status"};
  std::string key;
  while (in >> key) {
    if (key == "Threads:") {
      int64_t n = 1;
      in >> n;
      return n;
    }
    in.ignore(1 << 16, '\n');
  }
  return 1;
}

}  // namespace

int64_t threads_needed(const scenario::Scenario& sc, const std::optional<scenario::ShardRef>& shard,
                       const WorkerEngine& engine) {
  std::vector<int64_t> replicas_by_process(sc.processes.size());
  for (const auto& ref : scenario::replicas_of(sc, shard)) {
    ++replicas_by_process[ref.process];
  }
  // The network faults' thread, and the relay's.
  int64_t n = kRunThreads + (sc.has_network() ? 1 : 0) + (sc.needs_relay() ? 1 : 0);
  for (size_t p = 0; p < sc.processes.size(); ++p) {
    const auto& spec = sc.processes[p];
    const int64_t replicas = replicas_by_process[p];
    for (const auto& w : spec.workers) {
      n += engine.fibers() ? 0 : replicas * w.count;
      n += w.arrival_rate ? replicas : 0;
      if (scenario::any_step(w.steps,
                             [](const scenario::Step& s) { return s.after.has_value(); })) {
        n += replicas;  // a releaser thread per replica, at most
      }
    }
    n += spec.lifecycle ? replicas : 0;
    n += replicas * scenario::kind_of(spec.pool).threads;  // an eager pool's maintenance
  }
  if (engine.fibers()) {
    n += engine.loops_for(scenario::workers_of(sc, scenario::replicas_of(sc, shard)));
  }
  return n;
}

std::optional<int64_t> threads_available() {
  std::optional<int64_t> available;
  const auto max = read_number("/proc/sys/kernel/threads-max");
  const auto used = threads_in_use();
  if (max && used) {
    available = *max - *used;
  }
  rlimit limit{};
  if (::geteuid() != 0 && ::getrlimit(RLIMIT_NPROC, &limit) == 0 &&
      limit.rlim_cur != RLIM_INFINITY) {
    // The limit counts every thread of the user; this process's are the ones
    // known for sure, so the check is lenient and creation failures say the rest.
    const int64_t by_rlimit = static_cast<int64_t>(limit.rlim_cur) - own_threads();
    available = available ? std::min(*available, by_rlimit) : by_rlimit;
  }
  return available;
}

void check_thread_budget(const scenario::Scenario& sc,
                         const std::optional<scenario::ShardRef>& shard,
                         const WorkerEngine& engine) {
  const auto needed = threads_needed(sc, shard, engine);
  const auto available = threads_available();
  if (available && needed > *available) {
    throw util::UsageError(fmt::format(
        "{}{} needs {} threads (one per simulated worker, and a few of its own) and this "
        "machine lets pgleak start {} more: lower the workers or replicas{}, or raise the limit "
        "(ulimit -u for this user, sysctl kernel.threads-max for the machine)",
        sc.name, shard ? " shard " + shard->str() : std::string{}, needed,
        std::max<int64_t>(0, *available), shard ? ", use more shards" : ""));
  }
  // A fiber's stack is a mapping and its guard page another.
  const auto maps = read_number("/proc/sys/vm/max_map_count");
  const int64_t maps_needed =
      2 * scenario::workers_of(sc, scenario::replicas_of(sc, shard)) + kOwnMappings;
  if (engine.fibers() && maps && maps_needed > *maps) {
    throw util::UsageError(fmt::format(
        "{}{} needs {} memory mappings (two per simulated worker's stack) and vm.max_map_count "
        "allows {}: raise it (sysctl vm.max_map_count={}), lower the workers or replicas{}",
        sc.name, shard ? " shard " + shard->str() : std::string{}, maps_needed, *maps, maps_needed,
        shard ? ", use more shards" : ""));
  }
}

std::string worker_start_failure(int64_t started, int64_t needed, const std::string& why) {
  return fmt::format(
      "could not start simulated worker {} of {} ({}): its stack could not be mapped; lower the "
      "workers or replicas, or raise vm.max_map_count (two mappings per worker)",
      started + 1, needed, why);
}

std::string thread_start_failure(int64_t started, int64_t needed, const std::string& why) {
  return fmt::format(
      "could not start thread {} of {} ({}): the machine's thread limit was reached; lower the "
      "workers or replicas, or raise the limit (ulimit -u, sysctl kernel.threads-max)",
      started + 1, needed, why);
}

}  // namespace pgleak::run

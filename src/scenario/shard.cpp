#include "scenario/shard.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "util/duration.hpp"
#include "util/errors.hpp"
#include "util/text.hpp"

namespace pgleak::scenario {
namespace {

std::optional<int> whole_number(std::string_view text) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

std::string ShardRef::str() const {
  return fmt::format("{}/{}", index, count);
}

std::optional<ShardRef> parse_shard(std::string_view text, std::string* why) {
  const auto fail = [why](std::string reason) -> std::optional<ShardRef> {
    if (why != nullptr) {
      *why = std::move(reason);
    }
    return std::nullopt;
  };
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return fail("must be I/N, shard I of N counting from 0 (e.g. 0/4)");
  }
  const auto index = whole_number(text.substr(0, slash));
  const auto count = whole_number(text.substr(slash + 1));
  if (!index || !count) {
    return fail("must be I/N with whole numbers I and N (e.g. 0/4)");
  }
  if (*count < 1 || *count > kMaxShards) {
    return fail(fmt::format("N must be from 1 to {}", kMaxShards));
  }
  if (*index < 0 || *index >= *count) {
    return fail(fmt::format("I must be from 0 to N-1 ({}): shards count from 0", *count - 1));
  }
  return ShardRef{*index, *count};
}

std::chrono::milliseconds parse_barrier_timeout(const std::string& text) {
  std::string why;
  const auto timeout = util::parse_duration(text, &why);
  if (!timeout || *timeout < std::chrono::milliseconds{1}) {
    throw util::UsageError("--barrier-timeout " + util::printable(text) + ": " +
                           (why.empty() ? "must be at least 1ms" : why));
  }
  return std::chrono::ceil<std::chrono::milliseconds>(*timeout);
}

void check_shard_count(const Scenario& sc, int shards, const std::string& flag,
                       const std::string& given) {
  if (const int replicas = total_replicas(sc); shards > replicas) {
    throw util::UsageError(fmt::format(
        "{} {}: {} has {} process replicas, so at most {} shards (each shard runs whole replicas)",
        flag, given, sc.name, replicas, replicas));
  }
}

std::vector<std::vector<ReplicaRef>> split_replicas(const Scenario& sc, int shards) {
  std::vector<std::vector<ReplicaRef>> out(static_cast<size_t>(std::max(shards, 1)));
  size_t g = 0;
  for (size_t p = 0; p < sc.processes.size(); ++p) {
    for (int r = 0; r < sc.processes[p].replicas; ++r, ++g) {
      out[g % out.size()].push_back({p, r});
    }
  }
  return out;
}

std::vector<ReplicaRef> replicas_of(const Scenario& sc, const std::optional<ShardRef>& shard) {
  auto split = split_replicas(sc, shard ? shard->count : 1);
  return std::move(split[static_cast<size_t>(shard ? shard->index : 0)]);
}

int total_replicas(const Scenario& sc) {
  int n = 0;
  for (const auto& p : sc.processes) {
    n += p.replicas;
  }
  return n;
}

int64_t workers_of(const Scenario& sc, const std::vector<ReplicaRef>& replicas) {
  int64_t n = 0;
  for (const auto& ref : replicas) {
    for (const auto& w : sc.processes[ref.process].workers) {
      n += w.count;
    }
  }
  return n;
}

int64_t busiest_shard_workers(const Scenario& sc, int shards) {
  int64_t busiest = 0;
  for (const auto& shard : split_replicas(sc, shards)) {
    busiest = std::max(busiest, workers_of(sc, shard));
  }
  return busiest;
}

uint64_t fnv1a64(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string scenario_digest(const nlohmann::json& document, double time_scale) {
  // dump() writes object keys sorted, and one way for every number.
  const auto canonical = document.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  return fmt::format("{:016x}", fnv1a64(canonical + fmt::format("|time_scale={}", time_scale)));
}

}  // namespace pgleak::scenario

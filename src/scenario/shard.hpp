#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "scenario/scenario.hpp"

// One scenario run as N shards: which shard runs which process replica, and
// how shards tell that they run the same scenario.
namespace pgleak::scenario {

inline constexpr int kMaxShards = 999;  // "@999" keeps a backend tag 4 bytes longer at most

// Shard `index` of `count` (0 <= index < count).
struct ShardRef {
  int index = 0;
  int count = 1;
  std::string str() const;  // "I/N"
};

// "I/N" with 0 <= I < N <= kMaxShards; nullopt, with `why`, otherwise.
std::optional<ShardRef> parse_shard(std::string_view text, std::string* why = nullptr);

// One process replica of a scenario: processes[process], replica `replica`.
struct ReplicaRef {
  size_t process = 0;
  int replica = 0;
};

// --barrier-timeout's value: a duration of more than zero. Throws
// util::UsageError naming the flag.
std::chrono::milliseconds parse_barrier_timeout(const std::string& text);

// N shards of `scenario` (named `flag` on the command line, as `given`): at
// most one per process replica, since each shard runs whole replicas.
// Throws util::UsageError.
void check_shard_count(const Scenario& scenario, int shards, const std::string& flag,
                       const std::string& given);

// The split. Number every replica of the scenario in file order (the first
// process's replicas 0, 1, ..., then the next process's): replica number g
// runs on shard g mod N. Each process's replicas are dealt round the shards
// like cards, so every shard gets a slice of every large process, and the
// same scenario and N always give the same split.
std::vector<std::vector<ReplicaRef>> split_replicas(const Scenario& scenario, int shards);
// The replicas one process runs, in file order: every one, or a shard's slice of the split.
std::vector<ReplicaRef> replicas_of(const Scenario& scenario, const std::optional<ShardRef>& shard);
int total_replicas(const Scenario& scenario);
// Workers of these replicas, and of the busiest of N shards.
int64_t workers_of(const Scenario& scenario, const std::vector<ReplicaRef>& replicas);
int64_t busiest_shard_workers(const Scenario& scenario, int shards);

// What the scenario asks for, as 16 hex digits (FNV-1a 64): its JSON parsed
// and written back (so comments, whitespace and key order do not count) and
// the time_scale applied. Shards compare it to refuse running different
// scenarios as one; it is a consistency check, not a signature.
std::string scenario_digest(const nlohmann::json& document, double time_scale);

// FNV-1a 64 of `bytes`.
uint64_t fnv1a64(std::string_view bytes);

}  // namespace pgleak::scenario

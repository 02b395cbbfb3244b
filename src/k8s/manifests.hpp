#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "scenario/scenario.hpp"

// A sharded run on Kubernetes, the way k6-operator runs k6, with nothing
// pgleak invents: an Indexed Job whose pods run `pgleak run --shard
// $(JOB_COMPLETION_INDEX)/N` (they find each other through the database's
// advisory locks, run/shard_barrier.hpp), and a second Job that merges their
// reports from a shared volume.
namespace pgleak::k8s {

struct ManifestOptions {
  std::string name = "pgleak";  // prefix of every object's name
  std::string image;            // a pgleak image (docker/Dockerfile)
  int shards = 1;
  std::string namespace_name;   // empty: the kubectl context's
  std::string secret;           // empty: <name>-dsn; key "dsn" holds the DSN
  std::string storage = "1Gi";  // the reports volume
  std::string storage_class;    // empty: the cluster's default (must offer ReadWriteMany)
  std::string barrier_timeout = "10m";
};

// Throws util::UsageError for a name, namespace, secret, image or size
// Kubernetes would refuse, or more shards than the scenario has replicas.
void check_options(const scenario::Scenario& scenario, const ManifestOptions& options);

// ConfigMap (the scenario file, as written), PersistentVolumeClaim (the
// reports, ReadWriteMany), Job <name>-shards (Indexed, completions =
// parallelism = N, no retry of a failed index), Job <name>-merge.
std::vector<nlohmann::json> manifests(const scenario::Scenario& scenario,
                                      const ManifestOptions& options);

// What to apply first (the ConfigMap, the volume and the shards' Job), and
// what to apply once that Job has finished, Complete or Failed (the merge
// Job): each a multi-document YAML stream with a header saying how.
enum class Part { kShards, kMerge };
std::string manifests_yaml(const scenario::Scenario& scenario, const ManifestOptions& options,
                           Part part);

// Memory a shard asks for (requests) and may use (limits), in MiB, for its
// busiest shard's workers: measured at 56 MB for 1,000 connections
// (bench/scale.sh), with room.
struct ShardMemory {
  int request_mib = 0;
  int limit_mib = 0;
};
ShardMemory shard_memory(int64_t workers);
// Memory the merge Job asks for and may use: it holds every shard's report
// parsed at once (about 27 times a report's size). A shard's report of the
// incident is 0.1-0.25 MB and a merge of three peaks at 16 MB; a report at
// pgleak's event cap (20,000 events, from a run whose workers retried a dead
// server) measured 7.9 MB, about 210 MB parsed: the limit allows each shard
// 256 MiB.
ShardMemory merge_memory(int shards);

}  // namespace pgleak::k8s

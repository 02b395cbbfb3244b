// pgleak k8s: the Kubernetes manifests of a sharded run (k8s/manifests.hpp).
#include <iostream>

#include "cli/commands.hpp"
#include "cli/exit_code.hpp"
#include "k8s/manifests.hpp"
#include "scenario/loader.hpp"
#include "scenario/shard.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::cli {

Command add_k8s(CLI::App& app, const CommandIo& io) {
  struct State {
    k8s::ManifestOptions k8s_options;
    std::string k8s_scenario;
    bool k8s_merge = false;
  };
  auto st = std::make_shared<State>();
  auto* k8s_cmd = app.add_subcommand(
      "k8s",
      "Print Kubernetes manifests that run a scenario as N shards: the scenario in a\n"
      "ConfigMap, the DSN from a Secret (never on a command line), the reports on a\n"
      "ReadWriteMany volume, an Indexed Job whose pods run pgleak run --shard\n"
      "$(JOB_COMPLETION_INDEX)/N, and (with --merge) the Job that merges their reports\n"
      "once it has finished. deploy/k8s/ has an example and run.sh. Example:\n"
      "  pgleak k8s scenarios/incident-after.json --shards 4 --image ghcr.io/me/pgleak:1 "
      "> shards.yaml");
  k8s_cmd->add_option("scenario", st->k8s_scenario, "Scenario file (JSON)")->required();
  k8s_cmd->add_option("--shards", st->k8s_options.shards, "How many shards (pods)")
      ->required()
      ->check(CLI::Range(1, scenario::kMaxShards));
  k8s_cmd->add_option("--image", st->k8s_options.image, "pgleak's image (docker/Dockerfile)")
      ->required();
  k8s_cmd->add_option("--name", st->k8s_options.name, "Prefix of every object's name")
      ->capture_default_str();
  k8s_cmd->add_option("--namespace", st->k8s_options.namespace_name,
                      "Namespace (default: kubectl's)");
  k8s_cmd->add_option("--secret", st->k8s_options.secret,
                      "Secret whose key \"dsn\" holds the DSN (default: <name>-dsn)");
  k8s_cmd->add_option("--storage", st->k8s_options.storage, "Size of the reports volume")
      ->capture_default_str();
  k8s_cmd->add_option("--storage-class", st->k8s_options.storage_class,
                      "StorageClass of the reports volume; it must offer ReadWriteMany");
  k8s_cmd
      ->add_option("--barrier-timeout", st->k8s_options.barrier_timeout,
                   "How long a shard waits for the others to be scheduled")
      ->capture_default_str();
  k8s_cmd->add_flag("--merge", st->k8s_merge,
                    "Print the merge Job instead, to apply once the shards' Job has finished");
  return {k8s_cmd, [=, &io]() -> int {
            auto& k8s_options = st->k8s_options;
            auto& k8s_scenario = st->k8s_scenario;
            auto& k8s_merge = st->k8s_merge;
            auto& out = io.out;
            scenario::LoadOptions load_options;
            load_options.shards = k8s_options.shards;
            const auto sc = scenario::load(
                k8s_scenario, workload::PatternRegistry::builtin().catalog(), load_options);
            k8s::check_options(sc, k8s_options);
            out << k8s::manifests_yaml(sc, k8s_options,
                                       k8s_merge ? k8s::Part::kMerge : k8s::Part::kShards);
            return kPassed;
          }};
}

}  // namespace pgleak::cli

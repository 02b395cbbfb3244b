#include "k8s/manifests.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <regex>

#include "k8s/yaml.hpp"
#include "scenario/shard.hpp"
#include "util/duration.hpp"
#include "util/errors.hpp"

namespace pgleak::k8s {
namespace {

using nlohmann::json;

constexpr const char* kReports = "/reports";
constexpr const char* kScenarioDir = "/scenario";

// RFC 1123 label: what Kubernetes takes as a name of most objects.
bool is_label(const std::string& s, size_t max) {
  static const std::regex kLabel{"[a-z0-9]([-a-z0-9]*[a-z0-9])?"};
  return !s.empty() && s.size() <= max && std::regex_match(s, kLabel);
}

std::string secret_of(const ManifestOptions& o) {
  return o.secret.empty() ? o.name + "-dsn" : o.secret;
}

json metadata(const ManifestOptions& o, const std::string& name, const std::string& component) {
  json m = {{"name", name},
            {"labels",
             {{"app.kubernetes.io/name", "pgleak"},
              {"app.kubernetes.io/instance", o.name},
              {"app.kubernetes.io/component", component}}}};
  if (!o.namespace_name.empty()) {
    m["namespace"] = o.namespace_name;
  }
  return m;
}

json volumes(const ManifestOptions& o) {
  return json::array(
      {{{"name", "scenario"}, {"configMap", {{"name", o.name + "-scenario"}}}},
       {{"name", "reports"}, {"persistentVolumeClaim", {{"claimName", o.name + "-reports"}}}}});
}

json mounts() {
  return json::array({{{"name", "scenario"}, {"mountPath", kScenarioDir}, {"readOnly", true}},
                      {{"name", "reports"}, {"mountPath", kReports}}});
}

// pgleak's image runs as its own user, uid 10001 (docker/Dockerfile), which
// owns what it writes on the reports volume.
json pod_security_context() {
  return {{"runAsNonRoot", true},
          {"runAsUser", 10001},
          {"runAsGroup", 10001},
          {"fsGroup", 10001},
          {"seccompProfile", {{"type", "RuntimeDefault"}}}};
}

// It needs nothing more of the node.
json security_context() {
  return {{"runAsNonRoot", true},
          {"allowPrivilegeEscalation", false},
          {"readOnlyRootFilesystem", true},
          {"capabilities", {{"drop", json::array({"ALL"})}}}};
}

// A Job <name>-<component>: `spec` with its pod template, whose pods run
// `pod` as pgleak's user, once, and which is kept a day after it finishes.
json job(const ManifestOptions& o, const std::string& component, json spec, json pod) {
  pod["restartPolicy"] = "Never";
  pod["securityContext"] = pod_security_context();
  spec["ttlSecondsAfterFinished"] = 86400;
  spec["template"] = {{"metadata", {{"labels", metadata(o, "", component).at("labels")}}},
                      {"spec", std::move(pod)}};
  return {{"apiVersion", "batch/v1"},
          {"kind", "Job"},
          {"metadata", metadata(o, o.name + "-" + component, component)},
          {"spec", std::move(spec)}};
}

json shards_job(const scenario::Scenario& sc, const ManifestOptions& o) {
  const auto n = std::to_string(o.shards);
  const auto memory = shard_memory(scenario::busiest_shard_workers(sc, o.shards));
  // The barrier, the scenario, and two minutes to stop and write the report.
  const auto barrier = scenario::parse_barrier_timeout(o.barrier_timeout);
  const auto deadline_s =
      static_cast<int64_t>(std::ceil(std::chrono::duration<double>(barrier).count() +
                                     util::to_seconds(sc.duration.applied))) +
      120;
  json container = {
      {"name", "pgleak"},
      {"image", o.image},
      {"args", json::array({"run", std::string{kScenarioDir} + "/scenario.json", "--shard",
                            "$(JOB_COMPLETION_INDEX)/" + n, "--run-id", "$(RUN_ID)",
                            "--barrier-timeout", o.barrier_timeout, "--report",
                            std::string{kReports} + "/shard-$(JOB_COMPLETION_INDEX).json"})},
      {"env",
       json::array(
           {// The DSN from the Secret, never on a command line: pgleak reads $PGLEAK_DSN.
            {{"name", "PGLEAK_DSN"},
             {"valueFrom", {{"secretKeyRef", {{"name", secret_of(o)}, {"key", "dsn"}}}}}},
            // Where the shards meet, when "dsn" is a transaction-pooling PgBouncer.
            {{"name", "PGLEAK_BARRIER_DSN"},
             {"valueFrom",
              {{"secretKeyRef",
                {{"name", secret_of(o)}, {"key", "barrier_dsn"}, {"optional", true}}}}}},
            // Set by the Job controller too; named here so $(...) above expands it.
            {{"name", "JOB_COMPLETION_INDEX"},
             {"valueFrom",
              {{"fieldRef",
                {{"fieldPath",
                  "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}}}},
            // One id for every pod of this Job, and a new one for each Job.
            {{"name", "RUN_ID"},
             {"valueFrom",
              {{"fieldRef",
                {{"fieldPath", "metadata.labels['batch.kubernetes.io/controller-uid']"}}}}}},
            {{"name", "TMPDIR"}, {"value", "/tmp"}}})},
      {"resources",
       {{"requests", {{"cpu", "500m"}, {"memory", fmt::format("{}Mi", memory.request_mib)}}},
        {"limits", {{"memory", fmt::format("{}Mi", memory.limit_mib)}}}}},
      {"securityContext", security_context()},
      {"volumeMounts", [] {
         auto m = mounts();
         m.push_back({{"name", "tmp"}, {"mountPath", "/tmp"}});
         return m;
       }()}};
  auto vols = volumes(o);
  vols.push_back({{"name", "tmp"}, {"emptyDir", json::object()}});
  return job(o, "shards",
             {{"completionMode", "Indexed"},
              {"completions", o.shards},
              {"parallelism", o.shards},
              // A failed or killed shard is not run again (a second shard I would
              // find the others gone); the merge says it ended early.
              {"backoffLimitPerIndex", 0},
              {"maxFailedIndexes", o.shards},
              {"activeDeadlineSeconds", deadline_s}},
             {// Give the server connections from many hosts, as a fleet's are.
              {"topologySpreadConstraints",
               json::array({{{"maxSkew", 1},
                             {"topologyKey", "kubernetes.io/hostname"},
                             {"whenUnsatisfiable", "ScheduleAnyway"},
                             {"labelSelector",
                              {{"matchLabels",
                                {{"app.kubernetes.io/instance", o.name},
                                 {"app.kubernetes.io/component", "shards"}}}}}}})},
              // SIGTERM reaches pgleak, which stops, cleans up and writes its
              // report: give it the time its clean-up may take.
              {"terminationGracePeriodSeconds", 60},
              {"containers", json::array({container})},
              {"volumes", vols}});
}

json merge_job(const ManifestOptions& o) {
  // Each shard's report, or the timeline of a shard killed before writing one.
  const auto script = fmt::format(
      "set --\n"
      "i=0\n"
      "while [ \"$i\" -lt {0} ]; do\n"
      "  if [ -f {1}/shard-$i.json ]; then set -- \"$@\" {1}/shard-$i.json\n"
      "  else set -- \"$@\" {1}/shard-$i.timeline.jsonl.gz; fi\n"
      "  i=$((i + 1))\n"
      "done\n"
      "exec pgleak merge \"$@\" --report {1}/merged.json --html {1}/merged.html --junit "
      "{1}/merged.xml\n",
      o.shards, kReports);
  const auto memory = merge_memory(o.shards);
  json container = {
      {"name", "merge"},
      {"image", o.image},
      {"command", json::array({"/bin/sh", "-c", script})},
      {"resources",
       {{"requests", {{"cpu", "100m"}, {"memory", fmt::format("{}Mi", memory.request_mib)}}},
        {"limits", {{"memory", fmt::format("{}Mi", memory.limit_mib)}}}}},
      {"securityContext", security_context()},
      {"volumeMounts", mounts()}};
  return job(o, "merge", {{"backoffLimit", 0}},
             {{"containers", json::array({container})}, {"volumes", volumes(o)}});
}

}  // namespace

ShardMemory merge_memory(int shards) {
  return {128 + 16 * shards, 512 + 256 * shards};
}

ShardMemory shard_memory(int64_t workers) {
  const auto request = 32 + static_cast<int>((workers * 48 + 1023) / 1024);
  return {request, 2 * request};
}

void check_options(const scenario::Scenario& sc, const ManifestOptions& o) {
  if (!is_label(o.name, 40)) {
    throw util::UsageError(
        "--name: 1 to 40 of a-z 0-9 -, starting and ending with a letter or "
        "digit (Kubernetes names Jobs and their pods after it)");
  }
  if (!o.namespace_name.empty() && !is_label(o.namespace_name, 63)) {
    throw util::UsageError("--namespace: not a Kubernetes namespace name (a-z 0-9 -, at most 63)");
  }
  if (!o.secret.empty() && !is_label(o.secret, 63)) {
    throw util::UsageError("--secret: not a Kubernetes Secret name (a-z 0-9 -, at most 63)");
  }
  static const std::regex kImage{"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}"};
  if (!std::regex_match(o.image, kImage)) {
    throw util::UsageError("--image: an image reference such as registry.example/pgleak:1.0");
  }
  static const std::regex kQuantity{"[1-9][0-9]{0,5}(Mi|Gi|Ti)"};
  if (!std::regex_match(o.storage, kQuantity)) {
    throw util::UsageError("--storage: a size such as 1Gi (Mi, Gi or Ti)");
  }
  if (!o.storage_class.empty() && !is_label(o.storage_class, 63)) {
    throw util::UsageError("--storage-class: not a StorageClass name");
  }
  scenario::parse_barrier_timeout(o.barrier_timeout);
  if (o.shards < 1) {
    throw util::UsageError(fmt::format("--shards {}: at least 1", o.shards));
  }
  scenario::check_shard_count(sc, o.shards, "--shards", std::to_string(o.shards));
  // Kubernetes refuses a ConfigMap over 1 MiB (its whole object); the
  // scenario is most of it, and the rest is well under the margin kept here.
  constexpr size_t kConfigMapLimit = size_t{1} << 20;
  constexpr size_t kMargin = 16 * 1024;
  if (sc.source_text.size() > kConfigMapLimit - kMargin) {
    throw util::UsageError(fmt::format(
        "the scenario is {} bytes: a Kubernetes ConfigMap holds at most 1 MiB ({} bytes of "
        "scenario, leaving room for the rest of the object); shorten it (descriptions, "
        "formatting) or mount it another way",
        sc.source_text.size(), kConfigMapLimit - kMargin));
  }
}

std::vector<json> manifests(const scenario::Scenario& sc, const ManifestOptions& o) {
  json pvc_spec = {{"accessModes", json::array({"ReadWriteMany"})},
                   {"resources", {{"requests", {{"storage", o.storage}}}}}};
  if (!o.storage_class.empty()) {
    pvc_spec["storageClassName"] = o.storage_class;
  }
  return {{{"apiVersion", "v1"},
           {"kind", "ConfigMap"},
           {"metadata", metadata(o, o.name + "-scenario", "scenario")},
           {"data", {{"scenario.json", sc.source_text}}}},
          {{"apiVersion", "v1"},
           {"kind", "PersistentVolumeClaim"},
           {"metadata", metadata(o, o.name + "-reports", "reports")},
           {"spec", pvc_spec}},
          shards_job(sc, o),
          merge_job(o)};
}

std::string manifests_yaml(const scenario::Scenario& sc, const ManifestOptions& o, Part part) {
  const auto ns = o.namespace_name.empty() ? std::string{} : " -n " + o.namespace_name;
  std::string out;
  if (part == Part::kShards) {
    out = fmt::format(
        "# pgleak: scenario {0} as {1} shards on Kubernetes (pgleak k8s; docs/SHARDING.md).\n"
        "# First the DSN, in a Secret made from a file (never on a command line):\n"
        "#   kubectl{2} create secret generic {3} --from-file=dsn=./dsn.txt\n"
        "# then this file, and wait for Job {4}-shards to be Complete or Failed:\n"
        "#   kubectl{2} apply -f shards.yaml\n"
        "# then the merge (pgleak k8s ... --merge): deploy/k8s/run.sh does all of it.\n",
        sc.name, o.shards, ns, secret_of(o), o.name);
  } else {
    out = fmt::format(
        "# pgleak: the merge of the {0} shards of {1}, once Job {2}-shards has finished.\n"
        "#   kubectl{3} apply -f merge.yaml && kubectl{3} wait --for=condition=complete "
        "job/{2}-merge\n"
        "#   kubectl{3} logs job/{2}-merge   (the verdict; the reports stay on PVC "
        "{2}-reports)\n",
        o.shards, sc.name, o.name, ns);
  }
  const auto all = manifests(sc, o);
  for (size_t i = 0; i < all.size(); ++i) {
    if ((i + 1 == all.size()) == (part == Part::kMerge)) {
      out += "---\n" + to_yaml(all[i]);
    }
  }
  return out;
}

}  // namespace pgleak::k8s

#!/usr/bin/env bash
# Runs a sharded pgleak run on the cluster kubectl points at, and prints the
# merged verdict. The Secret with the DSN must exist first (see README.md).
#   deploy/k8s/run.sh deploy/k8s/incident-after [NAMESPACE]
# The directory holds shards.yaml and merge.yaml, as `pgleak k8s` prints them.
set -euo pipefail
dir="${1:?usage: run.sh DIR [NAMESPACE]   (DIR holds shards.yaml and merge.yaml)}"
ns=()
[ -n "${2:-}" ] && ns=(-n "$2")
name="$(sed -n 's/^  name: "\(.*\)-shards"$/\1/p' "$dir/shards.yaml" | head -n 1)"
[ -n "$name" ] || { echo "run.sh: no shards Job in $dir/shards.yaml" >&2; exit 2; }

# A Job name is used once: the previous run's Jobs go (their reports stay on the volume).
kubectl "${ns[@]}" delete job "$name-shards" "$name-merge" --ignore-not-found
kubectl "${ns[@]}" apply -f "$dir/shards.yaml"
echo "run.sh: waiting for Job $name-shards to finish (Complete or Failed)"
while true; do
  state="$(kubectl "${ns[@]}" get job "$name-shards" \
    -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}')"
  case "$state" in
    *Complete*|*Failed*) echo "run.sh: $name-shards: $state"; break ;;
  esac
  sleep 5
done
kubectl "${ns[@]}" apply -f "$dir/merge.yaml"
# The merge exits 1 for a failed verdict: its logs are the result either way.
kubectl "${ns[@]}" wait --for=condition=complete --timeout=600s "job/$name-merge" || true
kubectl "${ns[@]}" logs "job/$name-merge"

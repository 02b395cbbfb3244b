#!/usr/bin/env bash
# The Kubernetes manifests `pgleak k8s` prints, validated offline:
#  - deploy/k8s/incident-after/ is still what pgleak prints;
#  - every document of several scenarios' manifests passes the Kubernetes API
#    schema (kubernetes-models) and what a sharded run needs
#    (tests/k8s/validate.mjs), whose self-test shows each check can fail;
#  - bad options are refused with exit 2.
# Usage: check_k8s_manifests.sh PGLEAK SOURCE_DIR
set -euo pipefail
pgleak="$1"
src="$2"
if ! command -v node >/dev/null; then
  echo "no node here: the manifests cannot be validated (scripts/setup.sh installs it)"
  exit 77
fi
if [ ! -d "$src/tests/k8s/node_modules/kubernetes-models" ]; then
  echo "FAIL: tests/k8s/node_modules is missing: run npm ci --prefix tests/k8s (scripts/setup.sh does)" >&2
  exit 1
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/pgleak-test-k8s-XXXXXX")"
trap 'rm -rf "$work"' EXIT

example=(k8s "$src/scenarios/incident-after.json" --shards 4 --image ghcr.io/example/pgleak:0.1)
"$pgleak" "${example[@]}" > "$work/shards.yaml"
"$pgleak" "${example[@]}" --merge > "$work/merge.yaml"
for part in shards merge; do
  if ! diff -u "$src/deploy/k8s/incident-after/$part.yaml" "$work/$part.yaml"; then
    echo "FAIL: deploy/k8s/incident-after/$part.yaml is not what pgleak prints; regenerate it" >&2
    exit 1
  fi
done

"$pgleak" k8s "$src/scenarios/incident-before.json" --shards 5 --image registry.example/pgleak@sha256:0123 \
  --name before --namespace load-tests --secret prod-dsn --storage 5Gi --storage-class nfs \
  --barrier-timeout 15m > "$work/before.yaml"
"$pgleak" k8s "$src/scenarios/incident-before.json" --shards 5 --image registry.example/pgleak:1 \
  --name before --namespace load-tests --merge > "$work/before-merge.yaml"
"$pgleak" k8s "$src/scenarios/incident-after.json" --shards 1 --image pgleak > "$work/one.yaml"
grep -q '"--shard"' "$work/before.yaml"
grep -q '"\$(JOB_COMPLETION_INDEX)/5"' "$work/before.yaml"
grep -q 'namespace: "load-tests"' "$work/before.yaml"
grep -q 'name: "prod-dsn"' "$work/before.yaml"

# The scenario reaches the pods byte for byte, whatever it holds: comments,
# tabs, non-ASCII text, a line that starts with spaces.
python3 - "$src/scenarios/incident-after.json" "$work/odd.json" <<'PY'
import sys
text = open(sys.argv[1], encoding="utf-8").read()
text = text.replace('"name": "incident-after",',
                    '"name": "incident-after", // 3 × 5 — naïve\t"quoted"\n   ', 1)
open(sys.argv[2], "w", encoding="utf-8").write(text)
PY
"$pgleak" k8s "$work/odd.json" --shards 2 --image pgleak > "$work/odd.yaml"
node --input-type=module -e '
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
const require = createRequire(process.argv[1] + "/tests/k8s/");
const { parseAllDocuments } = require("yaml");
const docs = parseAllDocuments(readFileSync(process.argv[2], "utf8")).map((d) => d.toJS());
const got = docs.find((d) => d && d.kind === "ConfigMap").data["scenario.json"];
if (got !== readFileSync(process.argv[3], "utf8")) {
  console.error("FAIL: the ConfigMap does not hold the scenario file as written");
  process.exit(1);
}' "$src" "$work/odd.yaml" "$work/odd.json"

node "$src/tests/k8s/validate.mjs" "$work/shards.yaml" "$work/merge.yaml" "$work/before.yaml" \
  "$work/before-merge.yaml" "$work/one.yaml" "$work/odd.yaml"
node "$src/tests/k8s/validate.mjs" --self-test "$work/before.yaml"

refuse() {
  local says="$1"
  shift
  local code=0
  "$pgleak" k8s "$src/scenarios/incident-after.json" "$@" > "$work/out" 2> "$work/err" || code=$?
  if [ "$code" -ne 2 ] || ! grep -q -- "$says" "$work/err"; then
    echo "FAIL: pgleak k8s $* gave exit $code, not 2 with \"$says\":" >&2
    cat "$work/err" >&2
    exit 1
  fi
}
refuse "--name" --shards 2 --image pgleak --name Bad_Name
refuse "--namespace" --shards 2 --image pgleak --namespace "x y"
refuse "--image" --shards 2 --image "pgleak; rm -rf /"
refuse "--storage" --shards 2 --image pgleak --storage 1TB
refuse "so at most 5 shards" --shards 6 --image pgleak
refuse "--barrier-timeout" --shards 2 --image pgleak --barrier-timeout soon
# A scenario past what one ConfigMap holds (1 MiB) is refused, not printed.
python3 - "$src/scenarios/incident-after.json" "$work/big.json" <<'PY'
import sys
text = open(sys.argv[1], encoding="utf-8").read()
open(sys.argv[2], "w", encoding="utf-8").write(text + " " * (1 << 20))
PY
code=0
"$pgleak" k8s "$work/big.json" --shards 2 --image pgleak > "$work/out" 2> "$work/err" || code=$?
if [ "$code" -ne 2 ] || ! grep -q "ConfigMap holds at most 1 MiB" "$work/err" || [ -s "$work/out" ]; then
  echo "FAIL: a scenario over 1 MiB gave exit $code:" >&2
  cat "$work/err" >&2
  exit 1
fi
echo "k8s manifests: ok"

#!/usr/bin/env bash
# The wall time of `pgleak tune scenarios/incident-after.json` (every
# candidate a real compressed run on an embedded server), and how many runs
# it made; RESULT line: seconds (target <= 60 on 2 cores).
# Exits non-zero only when something fails to run.
#   bench/tune.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib/common.sh
source bench/lib/common.sh
require_pgleak tune
out=$(mktemp /tmp/pgleak-bench-tune-XXXXXX)
trap 'rm -f "$out"' EXIT INT TERM
start=$(date +%s.%N)
"$pgleak" tune scenarios/incident-after.json --json >"$out"
end=$(date +%s.%N)
python3 - "$out" "$start" "$end" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
b = r["best"]
print(f"tune incident-after: {r['runs']} runs in {wall:.1f}s; recommended "
      f"{b['pool_size']}+{b['max_overflow']}" if b else f"no setting passes: {r['why_none']}")
print(f"RESULT tune_incident_after_s {wall:.1f} target 60")
PY

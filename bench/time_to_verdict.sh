#!/usr/bin/env bash
# Wall time, from launch to exit, of pgleak's own incident scenarios on their
# embedded server, ROUNDS rounds each (default 3):
#  - incident-before, which stops as soon as its verdict is certain (its
#    thresholds on errors.53300 and pool_timeouts abort_on_fail: neither
#    count can go back down), must fail with exit 1;
#  - incident-after must run its whole course and pass with exit 0.
# Prints each round and the medians. Exits non-zero only when something fails
# to run (an exit code other than the expected one counts as that).
#   bench/time_to_verdict.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
# shellcheck source=bench/lib/common.sh
source bench/lib/common.sh
require_pgleak time_to_verdict
make_scratch

python3 - "$pgleak" "$rounds" "$work" <<'PY'
import json, statistics, subprocess, sys, time
pgleak, rounds, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
want = {"incident-before": 1, "incident-after": 0}
walls = {name: [] for name in want}
for i in range(rounds):
    for name, code in want.items():
        report = f"{out}/{name}-{i}.json"
        start = time.monotonic()
        rc = subprocess.run([pgleak, "run", f"scenarios/{name}.json", "--report", report,
                             "--timeline", "none", "--quiet"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL).returncode
        wall = time.monotonic() - start
        if rc != code:
            sys.exit(f"time_to_verdict: {name} exited {rc}, expected {code}")
        r = json.load(open(report))
        walls[name].append(wall)
        print(f"round {i + 1} {name}: {wall:.2f} s to exit {rc} ({r['run']['status']}, "
              f"{r['verdict']['diagnosis']}, peak {r['summary']['peak_connections']})")
before = statistics.median(walls["incident-before"])
after = statistics.median(walls["incident-after"])
print(f"median: incident-before {before:.2f} s to its failing verdict, "
      f"incident-after {after:.2f} s to its pass")
print(f"RESULT time_to_verdict_before_s {before:.2f} target 5.0")
print(f"RESULT time_to_pass_after_s {after:.2f} target 10.0")
PY

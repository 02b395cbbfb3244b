#!/usr/bin/env bash
# The JSON report of a run ten times as long as another, both past the
# report's 1,500 kept samples: incident-after's processes at time_scale 0.01,
# sampled every 10 ms, for SECONDS and for ten times SECONDS of wall time
# (defaults 18 and 180: 1,800 and 18,000 samples taken). Prints both sizes
# and their ratio; the last line is
#   RESULT report_size_ratio_10x <long / short> target 2.0
# Exits non-zero only when something fails to run.
#   bench/report_size.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-18}"
# shellcheck source=bench/lib/common.sh
source bench/lib/common.sh
require_pgleak report_size
make_scratch
chmod 755 "$work"  # the embedded server runs as postgres

sizes=()
for factor in 1 10; do
  python3 - "$work/run-$factor.json" "$((seconds * factor * 100))s" <<'PY'
import json, sys
s = json.load(open("scenarios/incident-after.json"))
s["name"] = "report-size"
s["duration"] = sys.argv[2]  # nominal, at the scenario's time_scale 0.01
s["sample_interval"] = "10ms"
json.dump(s, open(sys.argv[1], "w"))
PY
  chmod 644 "$work/run-$factor.json"
  TMPDIR="$work" "$pgleak" run "$work/run-$factor.json" --report "$work/report-$factor.json" \
    --timeline none --quiet >/dev/null 2>&1 || true
  [ -s "$work/report-$factor.json" ] || { echo "report_size: the ${factor}x run wrote no report" >&2; exit 1; }
  sizes+=("$(stat -c %s "$work/report-$factor.json")")
done
python3 - "$work/report-1.json" "$work/report-10.json" "${sizes[0]}" "${sizes[1]}" <<'PY'
import json, sys
short, long_, a, b = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for name, path, size in (("short", short, a), ("ten times as long", long_, b)):
    r = json.load(open(path))
    print(f"{name}: {r['run']['wall_s']:.0f} s, {r['sampler']['samples']} samples taken, "
          f"{len(r['samples'])} kept, {len(r['events'])} events, report {size / 1e6:.2f} MB")
print(f"RESULT report_size_ratio_10x {b / a:.2f} target 2.0")
PY

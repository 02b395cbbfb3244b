#!/usr/bin/env bash
# The size of one hour of `pgleak monitor --record` at 1 s against 1,000
# client backends (the pgleak_bench target's BM_CaptureHour: the real
# writer, a real file), with all of them idle, 10 % and 100 % changing state
# every second; RESULT line: the worst case, MB per hour (target <= 20).
# Exits non-zero only when something fails to run.
#   bench/capture.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bench_bin="${PGLEAK_BENCH:-build/bench/pgleak_bench}"
[ -x "$bench_bin" ] || { echo "capture: build the pgleak_bench target first ($bench_bin)" >&2; exit 2; }
out=$(mktemp /tmp/pgleak-bench-capture-XXXXXX)
trap 'rm -f "$out"' EXIT INT TERM
"$bench_bin" --benchmark_filter=BM_CaptureHour --benchmark_out="$out" \
  --benchmark_out_format=json >/dev/null 2>&1
python3 - "$out" <<'PY'
import json, sys
runs = {b["name"]: b for b in json.load(open(sys.argv[1]))["benchmarks"]}
sizes = {int(n.split("/")[1]): b["MB_per_hour"] for n, b in runs.items()}
for churn, mb in sorted(sizes.items()):
    print(f"1,000 backends at 1 s, {churn}% changing each second: {mb:.2f} MB per hour")
print(f"RESULT capture_mb_per_hour_worst {sizes[100]:.2f} target 20")
PY

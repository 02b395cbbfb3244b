#!/usr/bin/env bash
# The pool micro-benchmarks (the pgleak_bench target: Google Benchmark, an
# in-memory connection), with their targets as RESULT lines:
#  - an uncontended checkout + check-in, in ns, the median of 5 runs
#    (target <= 50);
#  - a 3+5 pool under 8 threads: pairs per second of all threads together
#    / uncontended pairs per second (target >= 0.5);
#  - how far past pool_timeout a timeout fires, p99 with 8 and 500 waiters
#    (target <= 5 ms).
# Exits non-zero only when something fails to run.
#   bench/pool.sh [MIN_TIME_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
bench_bin="${PGLEAK_BENCH:-build/bench/pgleak_bench}"
[ -x "$bench_bin" ] || { echo "pool: build the pgleak_bench target first ($bench_bin)" >&2; exit 2; }
out=$(mktemp /tmp/pgleak-bench-pool-XXXXXX)
trap 'rm -f "$out"' EXIT INT TERM
"$bench_bin" --benchmark_min_time="${1:-0.5}" --benchmark_out="$out" --benchmark_out_format=json
python3 - "$out" <<'PY'
import json, sys
runs = {b["name"]: b for b in json.load(open(sys.argv[1]))["benchmarks"]}
def find(prefix):
    return next(b for name, b in runs.items() if name.startswith(prefix))
unc = find("BM_Uncontended/repeats:5_median")  # the median of its repetitions
unc_ns = 1e9 / unc["items_per_second"]
# items_per_second adds up every thread's pairs.
c8_rate = find("BM_Contended/real_time/threads:8")["items_per_second"]
ratio = c8_rate / unc["items_per_second"]
print(f"uncontended pair {unc_ns:.0f} ns; 8 threads on a 3+5 pool {c8_rate / 1e6:.2f} M pairs/s, "
      f"{ratio:.2f} x uncontended")
# BM_TimeoutLateness/WAITERS/ENGINE/...: ENGINE 0 is threads, 1 fibers.
late = {(int(n.split("/")[1]), "fibers" if n.split("/")[2] == "1" else "threads"): b
        for n, b in runs.items() if n.startswith("BM_TimeoutLateness/")}
for (waiters, engine), b in sorted(late.items()):
    print(f"timeouts with {waiters} waiters on {engine}: p50 {b['late_p50_ms']:.2f} ms, "
          f"p99 {b['late_p99_ms']:.2f} ms past pool_timeout")
print(f"RESULT pool_uncontended_ns {unc_ns:.0f} target 50")
print(f"RESULT pool_contended_8_ratio {ratio:.2f} target 0.5")
for (waiters, engine), b in sorted(late.items()):
    suffix = "" if engine == "fibers" else "_threads"  # fibers: the default engine
    print(f"RESULT pool_timeout_late_p99_ms_{waiters}{suffix} {b['late_p99_ms']:.2f} target 5.0")
PY

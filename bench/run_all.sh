#!/usr/bin/env bash
# Every benchmark, in about 27 minutes on 2 cores (an estimate:
# vs_pgbench.sh's four runs a round took 11-12 of them on 2026-12-06,
# scale.sh's three runs a round 7 on 2026-12-07, and the whole was not timed
# since): the pool micro-benchmarks, throughput against
# pgbench, the 1,000-connection ramp, memory and sampler,
# the embedded server's start, time to verdict, and a shortened wall-clock
# soak (WALL_SECONDS, default 120; bench/soak.sh alone runs 600). Prints each
# benchmark's output, then every RESULT line together. Exits non-zero only when
# something fails to run; a missed target is reported, never failed.
#   bench/run_all.sh [WALL_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
wall="${1:-120}"
results=$(mktemp /tmp/pgleak-bench-results-XXXXXX)
trap 'rm -f "$results"' EXIT INT TERM

run() {
  echo "== $*"
  "$@" | tee -a "$results"
}
run bench/pool.sh 0.2
run bench/capture.sh
run bench/tune.sh
run bench/vs_pgbench.sh 3 10
run bench/scale.sh 1000 10
run bench/shard_cost.sh 1000 4 10
run bench/relay.sh 3 5
run bench/server_start.sh 3
run bench/time_to_verdict.sh 3
run bench/report_size.sh 18
run bench/soak.sh "$wall"
echo "== results"
grep '^RESULT ' "$results"

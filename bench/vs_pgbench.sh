#!/usr/bin/env bash
# pgleak's scoped saturation run against pgbench running the same transaction
# (BEGIN; SELECT 1; COMMIT) on the same throwaway server, at 8, 64 and 256
# clients, ROUNDS rounds each of pgbench, pgleak, pgleak, pgbench, all
# counted by the server's COMMITs (pg_stat_statements) over SECONDS once
# every client is connected (a connection ramp is not throughput, and
# pgbench's -T clock runs while it connects, one client after another: where
# a backend takes 13 ms to start, 256 clients used most of a 5 s run).
# Prints pgleak / pgbench per round (the sums of each tool's two runs) and
# the median; the last line is
#   RESULT vs_pgbench_<clients> <median ratio> target 1.0
# for each size. Exits non-zero only when something fails to run.
#   bench/vs_pgbench.sh [ROUNDS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
seconds="${2:-10}"
# shellcheck source=bench/lib/common.sh
source bench/lib/common.sh
require_pgleak vs_pgbench

# shellcheck source=bench/lib/server.sh
source bench/lib/server.sh
start_server 300 "" "-c shared_preload_libraries=pg_stat_statements"
server_sql "CREATE EXTENSION pg_stat_statements"

printf 'BEGIN;\nSELECT 1;\nCOMMIT;\n' >"$dir/tx.sql"
chmod 644 "$dir/tx.sql"

# Both tools are measured the same way: the COMMITs the server has run, over
# the same window. Not pg_stat_database.xact_commit: a busy backend may not
# flush its counts to it until it exits (with 8 clients at 18k tps, a
# 1-second reading moved by 2 for seconds on end, then by 125k at the end),
# while pg_stat_statements counts each statement as it finishes.
commits() {
  server_sql "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query ~* '^\\s*commit\\s*;?\\s*\$'"
}

# Each tool runs for its ramp allowance plus SECONDS; the window starts when
# the server shows all CLIENTS of it connected, and a tool that has not
# connected them all within the allowance fails the benchmark.
ramp_allowance() { echo $((2 + $1 / 20)); }                    # clients -> seconds
run_for() { echo $(($(ramp_allowance "$1") + seconds + 1)); }  # clients -> a tool's seconds

connected() {  # application_name pattern (LIKE)
  server_sql "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE '$1'"
}

# Runs the command given (in the background), waits until CLIENTS of its
# backends (application_name LIKE PATTERN) are connected, and prints the
# committed transactions per second over the next SECONDS; then waits for it.
window_tps() {  # clients pattern command...
  local clients=$1 pattern=$2
  shift 2
  "$@" >/dev/null 2>&1 &
  local tool=$! deadline=$(($(date +%s) + $(ramp_allowance "$clients")))
  until [ "$(connected "$pattern")" -ge "$clients" ]; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "vs_pgbench: $clients clients were not all connected within $(ramp_allowance "$clients") s" >&2
      wait "$tool" || true
      return 1
    fi
    sleep 0.05
  done
  local before after
  before=$(commits)
  sleep "$seconds"
  after=$(commits)
  wait "$tool" || true
  awk -v a="$after" -v b="$before" -v s="$seconds" 'BEGIN {print (a - b) / s}'
}

pgbench_tps() {  # clients
  window_tps "$1" pgbench "${run_as[@]}" "$bin/pgbench" -n -h "$dir" -p "$port" -U postgres \
    -c "$1" -j 2 -T "$(run_for "$1")" -f "$dir/tx.sql" postgres
}

pgleak_tps() {  # clients
  local scenario="$dir/scoped-$1.json" report="$dir/report-$1.json"
  cat >"$scenario" <<EOF
{"name": "saturation-$1", "duration": "$(run_for "$1")s",
 "sample_interval": "1s",
 "processes": [{"name": "app", "pool": {"pool_size": $1, "max_overflow": 0},
   "workers": [{"pattern": "scoped", "count": $1}]}]}
EOF
  window_tps "$1" 'pgleak/%' "$pgleak" run "$scenario" --dsn "$dsn" --report "$report" --quiet
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

results=()
for clients in 8 64 256; do
  ratios=()
  for round in $(seq 1 "$rounds"); do
    # pgbench, pgleak, pgleak, pgbench: each tool's two runs sit as far from
    # the round's middle as the other's, so a machine that speeds up or
    # slows down over the round, or a run that goes better first or second,
    # moves both alike. The round's ratio is of the two runs' sums.
    b1=$(pgbench_tps "$clients")
    l1=$(pgleak_tps "$clients")
    l2=$(pgleak_tps "$clients")
    b2=$(pgbench_tps "$clients")
    r=$(awk -v l="$l1" -v m="$l2" -v b="$b1" -v c="$b2" 'BEGIN {printf "%.3f", (l + m) / (b + c)}')
    ratios+=("$r")
    printf 'clients %-3s round %s: pgbench %8.0f and %8.0f tps, pgleak %8.0f and %8.0f tps, pgleak/pgbench %s\n' \
      "$clients" "$round" "$b1" "$b2" "$l1" "$l2" "$r"
  done
  m=$(printf '%s\n' "${ratios[@]}" | median)
  printf 'clients %-3s median pgleak/pgbench %s\n' "$clients" "$m"
  results+=("RESULT vs_pgbench_$clients $m target 1.0")
done
printf '%s\n' "${results[@]}"

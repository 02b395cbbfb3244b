#!/usr/bin/env bash
# pgleak's scoped saturation run against pgbench running the same transaction
# (BEGIN; SELECT 1; COMMIT) on the same throwaway server, at 8, 64 and 256
# clients, alternately, ROUNDS rounds each, both counted by the server's
# committed transactions. Prints pgleak / pgbench per round
# and the median; the last line is
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
start_server 300

printf 'BEGIN;\nSELECT 1;\nCOMMIT;\n' >"$dir/tx.sql"
chmod 644 "$dir/tx.sql"

# Both tools are measured the same way: the server's committed transactions
# (pg_stat_database.xact_commit) over the run's SECONDS.
commits() {
  "${run_as[@]}" "$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -Atc \
    "SELECT pg_stat_clear_snapshot(); SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'" |
    tail -1
}

pgbench_tps() {  # clients
  local before after
  before=$(commits)
  "${run_as[@]}" "$bin/pgbench" -n -h "$dir" -p "$port" -U postgres -c "$1" -j 2 -T "$seconds" \
    -f "$dir/tx.sql" postgres >/dev/null 2>&1
  after=$(commits)
  awk -v a="$after" -v b="$before" -v s="$seconds" 'BEGIN {print (a - b) / s}'
}

pgleak_tps() {  # clients
  local scenario="$dir/scoped-$1.json" report="$dir/report-$1.json"
  cat >"$scenario" <<EOF
{"name": "saturation-$1", "duration": "${seconds}s", "sample_interval": "1s",
 "processes": [{"name": "app", "pool": {"pool_size": $1, "max_overflow": 0},
   "workers": [{"pattern": "scoped", "count": $1}]}]}
EOF
  local before after
  before=$(commits)
  "$pgleak" run "$scenario" --dsn "$dsn" --report "$report" --quiet >/dev/null || true
  after=$(commits)
  awk -v a="$after" -v b="$before" -v s="$seconds" 'BEGIN {print (a - b) / s}'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

results=()
for clients in 8 64 256; do
  ratios=()
  for round in $(seq 1 "$rounds"); do
    b=$(pgbench_tps "$clients")
    l=$(pgleak_tps "$clients")
    r=$(awk -v l="$l" -v b="$b" 'BEGIN {printf "%.3f", l / b}')
    ratios+=("$r")
    printf 'clients %-3s round %s: pgbench %8.0f tps, pgleak %8.0f tps, pgleak/pgbench %s\n' \
      "$clients" "$round" "$b" "$l" "$r"
  done
  m=$(printf '%s\n' "${ratios[@]}" | median)
  printf 'clients %-3s median pgleak/pgbench %s\n' "$clients" "$m"
  results+=("RESULT vs_pgbench_$clients $m target 1.0")
done
printf '%s\n' "${results[@]}"

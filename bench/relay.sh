#!/usr/bin/env bash
# What pgleak's relay (net/relay.hpp: the latency, jitter and bandwidth
# faults) costs when it shapes nothing, measured with pgbench on one
# throwaway server, directly over TCP and through `pgleak relay`, alternately,
# ROUNDS rounds each:
#  - added latency: the median of pgbench's per-transaction latencies (one
#    client, SELECT 1) through the relay minus the direct one;
#  - throughput at 64 clients: tps through the relay / tps direct.
# The last lines are
#   RESULT relay_added_latency_ms <median> target 0.1
#   RESULT relay_throughput_64 <median ratio> target n/a
# (the issue asks for the throughput to be known, not for a bound: an extra
# hop on the same two cores cannot be free).
# Exits non-zero only when something fails to run.
#   bench/relay.sh [ROUNDS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
seconds="${2:-5}"
# shellcheck source=bench/lib/common.sh
source bench/lib/common.sh
require_pgleak relay
# shellcheck source=bench/lib/server.sh
source bench/lib/server.sh
start_server 100 127.0.0.1

relay_pid=
stop_all() {
  if [ -n "$relay_pid" ]; then kill "$relay_pid" 2>/dev/null || true; wait "$relay_pid" 2>/dev/null || true; fi
  stop_server
}
trap stop_all EXIT INT TERM

"$pgleak" relay --to "127.0.0.1:$port" 2>"$dir/relay.err" &
relay_pid=$!
for _ in $(seq 1 100); do
  grep -q 'relaying 127.0.0.1:' "$dir/relay.err" && break
  sleep 0.05
done
relay_port=$(sed -n 's/.*relaying 127.0.0.1:\([0-9]*\) to.*/\1/p' "$dir/relay.err")
[ -n "$relay_port" ] || { echo "relay: pgleak relay did not start:" >&2; cat "$dir/relay.err" >&2; exit 1; }

printf 'SELECT 1;\n' >"$dir/select.sql"
chmod 644 "$dir/select.sql"

# The median per-transaction latency in ms of one client on PORT.
latency_ms() {
  rm -f "$dir"/lat.*
  "${run_as[@]}" "$bin/pgbench" -n -h 127.0.0.1 -p "$1" -U postgres -c 1 -T "$seconds" \
    -f "$dir/select.sql" -l --log-prefix "$dir/lat" postgres >/dev/null 2>&1
  cat "$dir"/lat.* | awk '{print $3}' | sort -n |
    awk '{a[NR]=$1} END {printf "%.4f", ((NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2) / 1000}'
}

tps() {  # PORT CLIENTS
  "${run_as[@]}" "$bin/pgbench" -n -h 127.0.0.1 -p "$1" -U postgres -c "$2" -j 2 -T "$seconds" \
    -f "$dir/select.sql" postgres 2>&1 | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

chown postgres "$dir" 2>/dev/null || true
added=()
ratios=()
for round in $(seq 1 "$rounds"); do
  d=$(latency_ms "$port")
  r=$(latency_ms "$relay_port")
  a=$(awk -v r="$r" -v d="$d" 'BEGIN {printf "%.4f", r - d}')
  added+=("$a")
  td=$(tps "$port" 64)
  tr=$(tps "$relay_port" 64)
  q=$(awk -v r="$tr" -v d="$td" 'BEGIN {printf "%.3f", r / d}')
  ratios+=("$q")
  printf 'round %s: latency direct %s ms, relayed %s ms (+%s ms); 64 clients direct %.0f tps, relayed %.0f tps (%s)\n' \
    "$round" "$d" "$r" "$a" "$td" "$tr" "$q"
done
echo "RESULT relay_added_latency_ms $(printf '%s\n' "${added[@]}" | median) target 0.1"
echo "RESULT relay_throughput_64 $(printf '%s\n' "${ratios[@]}" | median) target n/a"

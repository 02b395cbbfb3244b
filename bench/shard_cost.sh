#!/usr/bin/env bash
# The cost of sharding: CONNECTIONS held connections (default 1,000) from one
# pgleak process, then from SHARDS processes (default 4) of the same scenario
# at once (pgleak run --shard I/N), against one server with max_connections
# CONNECTIONS + 100, beside pgbench -c CONNECTIONS on the same server:
#  - ramp: the time until every connection is open (the first sample of the
#    run's own backends with all of them; the sharded run's from shard 0,
#    whose t = 0 is the barrier), sharded / unsharded, and each / pgbench's
#    initial connection time;
#  - pgleak's CPU per connection (user + system of every pgleak process, the
#    whole run), sharded / unsharded;
#  - the barrier: how long the shards waited for each other, and how far
#    apart they started.
# Ends with RESULT lines. Exits non-zero only when something fails to run.
#   bench/shard_cost.sh [CONNECTIONS] [SHARDS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
shards="${2:-4}"
seconds="${3:-15}"
# shellcheck source=bench/lib/common.sh
source bench/lib/common.sh
require_pgleak shard_cost

# shellcheck source=bench/lib/server.sh
source bench/lib/server.sh
start_server $((n + 100))

pgbench_connect "$n" shard_cost

# Held for SECONDS, or longer where backends are slow to start: a run that
# ends before its ramp has no ramp to compare.
write_held_fleet "$dir/fleet.json" "$n" "$(hold_seconds "$seconds" "$pgbench_ms")"

# One process.
await_no_clients
/usr/bin/time -f '%U %S' -o "$dir/one.cpu" "$pgleak" run "$dir/fleet.json" --dsn "$dsn" \
  --report "$dir/one.json" --timeline "$dir/one.timeline.jsonl.gz" --quiet --allow-exhaust \
  >/dev/null 2>&1 || true

# SHARDS processes, started together through the barrier, once the one
# process's backends have gone.
await_no_clients
pids=()
for ((i = 0; i < shards; i++)); do
  /usr/bin/time -f '%U %S' -o "$dir/shard-$i.cpu" "$pgleak" run "$dir/fleet.json" --dsn "$dsn" \
    --shard "$i/$shards" --run-id "bench-$$" --report "$dir/shard-$i.json" --quiet \
    --allow-exhaust >/dev/null 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done
shard_reports=()
for ((i = 0; i < shards; i++)); do shard_reports+=("$dir/shard-$i.json"); done
"$pgleak" merge "${shard_reports[@]}" --report "$dir/merged.json" >/dev/null 2>&1 || true

python3 - "$dir" "$n" "$shards" "$pgbench_ms" <<'PY'
import json, sys
sys.path.insert(0, "bench/lib")
import timeline as tl
d, n, shards, pgbench_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
def cpu(path):
    u, s = open(path).read().split()[-2:]
    return float(u) + float(s)
one_ramp = tl.ramp_ms(tl.samples(f"{d}/one.timeline.jsonl.gz"), n)
sharded_ramp = tl.ramp_ms(tl.samples(f"{d}/shard-0.timeline.jsonl.gz"), n)
one_cpu = cpu(f"{d}/one.cpu")
sharded_cpu = sum(cpu(f"{d}/shard-{i}.cpu") for i in range(shards))
merged = json.load(open(f"{d}/merged.json"))
peak = merged["summary"]["peak_connections"]
waits = [s["barrier_wait_s"] for s in merged["merge"]["shards"]]
print(f"ramp to {n} open: one process {one_ramp:.0f} ms, {shards} shards {sharded_ramp:.0f} ms "
      f"(pgbench {pgbench_ms:.0f} ms)")
print(f"pgleak CPU: one process {one_cpu:.2f} s ({one_cpu / n * 1000:.2f} ms per connection), "
      f"{shards} shards {sharded_cpu:.2f} s ({sharded_cpu / n * 1000:.2f} ms per connection)")
print(f"merged: peak {peak} of {n}; barrier waits {min(waits):.2f}-{max(waits):.2f} s, "
      f"start skew {merged['merge']['start_skew_ms']} ms")
print(f"RESULT shard_ramp_vs_pgbench {sharded_ramp / pgbench_ms:.2f} target 1.0")
print(f"RESULT one_process_ramp_vs_pgbench {one_ramp / pgbench_ms:.2f} target 1.0")
print(f"RESULT shard_ramp_ratio {sharded_ramp / one_ramp:.2f} target 1.2")
print(f"RESULT shard_cpu_per_connection_ratio {sharded_cpu / one_cpu:.2f} target 1.2")
print(f"RESULT shard_merged_peak {peak} target {n}")
PY

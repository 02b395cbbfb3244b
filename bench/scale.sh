#!/usr/bin/env bash
# 1,000 held connections from one pgleak process against a throwaway server
# with max_connections 1,100, beside pgbench -c 1000 on the same server, in
# alternating rounds (pgbench, then pgleak; RAMP_ROUNDS, default 3):
#  - ramp: pgleak's time until all 1,000 are open (its first sample with
#    every one) / pgbench's "initial connection time" in the same round; the
#    median of the rounds (one round's ratio ranged 0.91-1.45 on 2026-12-06);
#  - the same ramp against a second pgbench in each round, one that connects
#    while a parked pgleak's sampler asks the server every 50 ms, as the held
#    run's sampler does during its ramp (the server's cost of being watched,
#    on both sides; for reading the ramp, not a target);
#  - memory: pgleak's peak RSS / pgbench's (the first round);
#  - the size of pgleak's report for that run, and of its timeline (the full
#    record streamed beside it; the first round);
#  - the sampler at 20 Hz with 1,000 backends: missed intervals, median and
#    maximum lag (the first round);
#  - 20,000 workers in one process, most parked (100 processes whose one
#    pooled connection is held while 150 more workers each wait on it,
#    pool_timeout 10 min, and 49 parked by start_after): pgleak's own CPU
#    over 10 s of waiting, in cores, and its peak RSS.
# Ends with RESULT lines (ratio or value, and the target). Exits non-zero only
# when something fails to run.
#   bench/scale.sh [CONNECTIONS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
seconds="${2:-30}"
rounds="${RAMP_ROUNDS:-3}"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "scale: RAMP_ROUNDS must be a positive whole number" >&2; exit 2; }
# shellcheck source=bench/lib/common.sh
source bench/lib/common.sh
require_pgleak scale

# shellcheck source=bench/lib/server.sh
source bench/lib/server.sh
start_server $((n + 100))

# Until the server has no client but the caller (at most 60 s): the backends
# of the run before may still be exiting, and would hold slots and CPU.
await_no_clients() {
  for _ in $(seq 1 600); do
    others=$(server_sql "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
    [ "$others" = 0 ] && return
    sleep 0.1
  done
}

# An observer: pgleak's own sampler, ticking every 50 ms as in the held run,
# in a pgleak whose one worker is parked for the whole run (its pool never
# connects), so that the server pays for being watched and for nothing else.
# Started before a pgbench and interrupted after it (on SIGINT pgleak ends
# and writes its report).
observer=""
# However the script ends, a running observer is stopped before the server.
stop_observer_and_server() {
  if [ -n "$observer" ]; then
    kill -INT "$observer" 2>/dev/null || true
    wait "$observer" 2>/dev/null || true
  fi
  stop_server
}
trap stop_observer_and_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start_observer() {  # REPORT
  cat >"$dir/observer.json" <<EOF
{"name": "observer", "duration": "10m", "sample_interval": "50ms",
 "processes": [{"name": "o", "pool": {"pool_size": 1, "max_overflow": 0},
   "workers": [{"pattern": "scoped", "count": 1, "start_after": "10m"}]}]}
EOF
  "$pgleak" run "$dir/observer.json" --dsn "$dsn" --report "$1" --timeline none --quiet \
    >/dev/null 2>&1 &
  observer=$!
  for _ in $(seq 1 100); do
    [ "$(server_sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgleak-sampler'")" = 1 ] && return
    sleep 0.1
  done
  echo "scale: the observer's sampler did not connect within 10 s" >&2
  exit 1
}
# Sets watched_by: the sampler's ticks and those it missed. Not to be called
# in a subshell, which could neither wait for the observer nor forget it.
stop_observer() {  # REPORT
  kill -INT "$observer"
  wait "$observer" || true
  observer=""  # gone: its number may be another process's now
  watched_by=$(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))["sampler"]
print(s["samples"], "samples at 50 ms,", s["missed_intervals"], "missed")' "$1")
}

# pgleak: n replicas of one process that holds one connection each, sampled
# at 20 Hz, for SECONDS or, where backends are slow to start, for twice
# pgbench's connection time and 5 s more, so that the run outlasts its ramp.
ramps=()
pgbench_ramps=()
watched_ramps=()
for round in $(seq 1 "$rounds"); do
  await_no_clients
  pgbench_connect "$n" scale
  pgbench_ramps+=("$pgbench_ms")
  [ "$round" = 1 ] && first_pgbench_rss=$pgbench_rss
  await_no_clients
  start_observer "$dir/observer-$round.json"
  pgbench_connect "$n" scale
  stop_observer "$dir/observer-$round.json"
  watched_ramps+=("$pgbench_ms")
  echo "ramp round $round: pgbench $pgbench_ms ms to $n open while watched ($watched_by)"
  hold_s=$(awk -v s="$seconds" -v p="${pgbench_ramps[-1]}" 'BEGIN {h = int(2 * p / 1000) + 5; print (h > s ? h : s)}')
  write_held_fleet "$dir/scale.json" "$n" "$hold_s"
  await_no_clients
  /usr/bin/time -f '%M' -o "$dir/pgleak-$round.rss" "$pgleak" run "$dir/scale.json" --dsn "$dsn" \
    --report "$dir/report-$round.json" --timeline "$dir/timeline-$round.jsonl.gz" --quiet \
    --allow-exhaust >/dev/null 2>&1 || true
  ramp=$(python3 -c '
import sys
sys.path.insert(0, "bench/lib")
import timeline as tl
print(f"{tl.ramp_ms(tl.samples(sys.argv[1]), int(sys.argv[2])):.0f}")' "$dir/timeline-$round.jsonl.gz" "$n")
  ramps+=("$ramp")
  echo "ramp round $round: pgleak $ramp ms to $n open, pgbench ${pgbench_ramps[-1]} ms"
done
pgleak_rss=$(tail -1 "$dir/pgleak-1.rss")
pgbench_rss=$first_pgbench_rss
report_bytes=$(stat -c %s "$dir/report-1.json")

# 20,000 simulated workers in one process: 100 processes whose one pooled
# connection is held while 150 workers each wait on it (pool_timeout 10 min)
# and 49 more are parked by their start_after. pgleak's CPU (utime + stime)
# from 8 s to 18 s into the run, and its peak RSS. The waiters start at 5 s,
# once every holder holds: a waiter that gets there first hands the
# connection back and takes it again before the woken holder runs (as
# SQLAlchemy's QueuePool lets it), and then 150 waiters cycle through it for
# the whole run (on 2026-12-06 with waiters at 1 s: 0.36 and 0.75 of a core,
# 88,137 and 302,651 checkouts). Each process checks out once for its holder,
# and once more when the run ends and a waiter is handed the connection
# the holder gave back; a run with more than that is flagged: it did not
# measure waiting.
cat >"$dir/waiters.json" <<EOF
{"name": "waiters", "duration": "20s", "sample_interval": "1s",
 "processes": [{"name": "w", "replicas": 100,
   "pool": {"pool_size": 1, "max_overflow": 0, "pool_timeout": "10m"},
   "workers": [{"name": "holder", "pattern": "held_by_object", "count": 1, "think_time": "10m"},
               {"name": "waiter", "pattern": "scoped", "count": 150, "start_after": "5s"},
               {"name": "later", "pattern": "scoped", "count": 49, "start_after": "10m"}]}]}
EOF
# The held fleet's 1,000 backends may still be exiting: the run starts once
# they are gone, so that no holder is refused.
await_no_clients
/usr/bin/time -f '%M' -o "$dir/waiters.rss" "$pgleak" run "$dir/waiters.json" --dsn "$dsn" \
  --report "$dir/waiters-report.json" --timeline none --quiet --allow-exhaust >/dev/null 2>&1 &
time_pid=$!
waiters_pid=""
for _ in $(seq 1 50); do
  waiters_pid=$(pgrep -P "$time_pid" -f waiters.json || true)
  [ -n "$waiters_pid" ] && break
  sleep 0.1
done
cpu_ticks() { awk '{print $14 + $15}' "/proc/$waiters_pid/stat"; }
sleep 8
t0=$(cpu_ticks)
sleep 10
t1=$(cpu_ticks)
wait "$time_pid" || true
idle_cores=$(awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.3f", (b - a) / hz / 10}')
waiters_mb=$(tail -1 "$dir/waiters.rss" | awk '{printf "%.0f", $1 / 1024}')
checkouts=$(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
n, refused = s["checkout_wait_ms"]["count"], s["connect_failures"]
flag = "" if n <= 200 else " (more than two per process: waiters took a pool before its holder, so this did not measure waiting)"
print(f"{n} checkouts, {refused} refused connects{flag}")' "$dir/waiters-report.json" 2>/dev/null || echo "?")
echo "20,000 workers (15,000 waiting on 100 pools, 4,900 parked): pgleak used $idle_cores of a core while they waited, peak RSS $waiters_mb MB, $checkouts"

python3 - "$dir/report-1.json" "$dir/timeline-1.jsonl.gz" "$n" "${ramps[*]}" "${pgbench_ramps[*]}" \
  "$pgleak_rss" "$pgbench_rss" "$report_bytes" "${watched_ramps[*]}" <<'PY'
import json, math, os, statistics, sys
sys.path.insert(0, "bench/lib")
import timeline as tl
report, timeline, n, ramps, pgbench_ramps, pgleak_rss, pgbench_rss, size, watched = sys.argv[1:]
r = json.load(open(report))
samples = tl.samples(timeline)
lags = [s["lag_ms"] for s in samples]
sampler = r["sampler"]
# A round whose pgleak never had all open has no ramp (nan): its ratio
# counts as the worst.
def ramp_ratios(against):
    ratios = [float(a) / float(b) for a, b in zip(ramps.split(), against.split())]
    return ratios, statistics.median([math.inf if math.isnan(x) else x for x in ratios])
ratios, ratio_ramp = ramp_ratios(pgbench_ramps)
watched_ratios, ratio_watched = ramp_ratios(watched)
ratio_rss = int(pgleak_rss) / int(pgbench_rss)
print(f"ramp: pgleak {ramps} ms to {n} open (first full sample), pgbench {pgbench_ramps} ms: "
      f"{', '.join(f'{x:.2f}' for x in ratios)}; median {ratio_ramp:.2f}")
print(f"ramp against pgbench watched by a sampler at 50 ms: pgbench {watched} ms: "
      f"{', '.join(f'{x:.2f}' for x in watched_ratios)}; median {ratio_watched:.2f}")
print(f"peak RSS: pgleak {int(pgleak_rss)/1024:.0f} MB, pgbench {int(pgbench_rss)/1024:.0f} MB: {ratio_rss:.2f}")
print(f"report: {int(size)/1e6:.2f} MB for {r['run']['wall_s']:.0f} s, {len(r['samples'])} of "
      f"{len(samples)} samples kept; timeline {os.path.getsize(timeline)/1e6:.2f} MB")
print(f"sampler at {sampler['interval_ms']:.0f} ms: {sampler['missed_intervals']} missed, "
      f"lag median {statistics.median(lags):.2f} ms, max {max(lags):.2f} ms")
print(f"RESULT scale_ramp_ratio {ratio_ramp:.2f} target 1.0")
print(f"RESULT scale_ramp_ratio_watched {ratio_watched:.2f} target n/a")
print(f"RESULT scale_rss_ratio {ratio_rss:.2f} target 2.0")
print(f"RESULT scale_report_mb {int(size)/1e6:.1f} target 2.0")
print(f"RESULT sampler_missed {sampler['missed_intervals']} target 0")
print(f"RESULT sampler_median_lag_ms {statistics.median(lags):.2f} target 5.0")
PY
echo "RESULT waiting_20000_workers_cpu_cores $idle_cores target 0.05"
echo "RESULT waiting_20000_workers_rss_mb $waiters_mb target 500"

#!/usr/bin/env bash
# 1,000 held connections from one pgleak process against a throwaway server
# with max_connections 1,100, beside pgbench -c 1000 on the same server, in
# rounds of pgbench, then pgleak twice (RAMP_ROUNDS, default 3):
#  - ramp: pgleak's time until all 1,000 of its sessions are open, as it
#    counts them itself (the report's run.sessions_peak), sampling the server
#    every second (the default) / pgbench's "initial connection time" (its own
#    count too) in the same round; the median of the rounds;
#  - the same with the sampler at 50 ms, and the ramp as those samples show
#    it (their first with all 1,000): what being watched at 20 Hz costs the
#    server's backend starts (printed, not a target);
#  - memory: pgleak's peak RSS / pgbench's (the first round, at 50 ms);
#  - the size of pgleak's report for that run, and of its timeline (the full
#    record streamed beside it);
#  - the sampler at 20 Hz with 1,000 backends: missed intervals, median and
#    maximum lag (the same run);
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
# On INT or TERM the script ends (server.sh's EXIT trap stops the server).
trap 'exit 130' INT
trap 'exit 143' TERM

# A held run: n replicas of one process that holds one connection each, for
# hold_s (hold_seconds: long enough to outlast its ramp); sampled every
# INTERVAL. Sets counted_ms (when pgleak's own count of open sessions
# first reached n: the report's run.sessions_peak, to the moment) and
# sampled_ms (the first sample in which the server showed all n).
held_run() {  # INTERVAL ROUND
  write_held_fleet "$dir/scale.json" "$n" "$hold_s" "$1"
  await_no_clients
  /usr/bin/time -f '%M' -o "$dir/pgleak-$1-$2.rss" "$pgleak" run "$dir/scale.json" --dsn "$dsn" \
    --report "$dir/report-$1-$2.json" --timeline "$dir/timeline-$1-$2.jsonl.gz" --quiet \
    --allow-exhaust >/dev/null 2>&1 || true
  read -r counted_ms sampled_ms < <(python3 -c '
import json, sys
sys.path.insert(0, "bench/lib")
import timeline as tl
report, timeline, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
peak = json.load(open(report))["run"]["sessions_peak"]
counted = peak["at_s"] * 1000 if peak and peak["open"] >= n else float("nan")
print(f"{counted:.0f} {tl.ramp_ms(tl.samples(timeline), n):.0f}")' \
    "$dir/report-$1-$2.json" "$dir/timeline-$1-$2.jsonl.gz" "$n")
}

# Each round: pgbench; pgleak sampled every second (the default, as a user
# runs it), whose ramp is the target; pgleak sampled every 50 ms, whose ramp
# is read both ways. The sampler's every read of pg_stat_activity costs the
# server time (4-8 ms with 1,000 backends open, on 2026-12-07), which it
# takes from the backends it is starting: the 50 ms run shows
# what that costs, and is the run the memory, report and sampler figures
# come from (the first round's).
ramps=()
pgbench_ramps=()
fast_counted=()
fast_sampled=()
for round in $(seq 1 "$rounds"); do
  await_no_clients
  pgbench_connect "$n" scale
  pgbench_ramps+=("$pgbench_ms")
  [ "$round" = 1 ] && first_pgbench_rss=$pgbench_rss
  hold_s=$(hold_seconds "$seconds" "$pgbench_ms")
  held_run 1s "$round"
  ramps+=("$counted_ms")
  held_run 50ms "$round"
  fast_counted+=("$counted_ms")
  fast_sampled+=("$sampled_ms")
  echo "ramp round $round: pgbench $pgbench_ms ms to $n open; pgleak ${ramps[-1]} ms sampled every second, $counted_ms ms every 50 ms (the samples saw all at $sampled_ms ms)"
done
pgleak_rss=$(tail -1 "$dir/pgleak-50ms-1.rss")
pgbench_rss=$first_pgbench_rss
report_bytes=$(stat -c %s "$dir/report-50ms-1.json")

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

python3 - "$dir/report-50ms-1.json" "$dir/timeline-50ms-1.jsonl.gz" "$n" "${ramps[*]}" \
  "${pgbench_ramps[*]}" "$pgleak_rss" "$pgbench_rss" "$report_bytes" "${fast_counted[*]}" \
  "${fast_sampled[*]}" <<'PY'
import json, math, os, statistics, sys
sys.path.insert(0, "bench/lib")
import timeline as tl
(report, timeline, n, ramps, pgbench_ramps, pgleak_rss, pgbench_rss, size, fast_counted,
 fast_sampled) = sys.argv[1:]
r = json.load(open(report))
samples = tl.samples(timeline)
lags = [s["lag_ms"] for s in samples]
sampler = r["sampler"]
# A round whose pgleak never had all open has no ramp (nan): its ratio
# counts as the worst.
def ramp_ratios(these):
    ratios = [float(a) / float(b) for a, b in zip(these.split(), pgbench_ramps.split())]
    return ratios, statistics.median([math.inf if math.isnan(x) else x for x in ratios])
def line(what, these):
    ratios, median = ramp_ratios(these)
    print(f"ramp, {what}: pgleak {these} ms to {n} open: "
          f"{', '.join(f'{x:.2f}' for x in ratios)} of pgbench's; median {median:.2f}")
    return median
print(f"ramp: pgbench {pgbench_ramps} ms (its initial connection time)")
ratio_ramp = line("sampled every second, as pgleak counted its sessions", ramps)
ratio_fast = line("sampled every 50 ms, as pgleak counted its sessions", fast_counted)
ratio_fast_sampled = line("sampled every 50 ms, the first sample with all", fast_sampled)
ratio_rss = int(pgleak_rss) / int(pgbench_rss)
print(f"peak RSS: pgleak {int(pgleak_rss)/1024:.0f} MB, pgbench {int(pgbench_rss)/1024:.0f} MB: {ratio_rss:.2f}")
print(f"report: {int(size)/1e6:.2f} MB for {r['run']['wall_s']:.0f} s, {len(r['samples'])} of "
      f"{len(samples)} samples kept; timeline {os.path.getsize(timeline)/1e6:.2f} MB")
print(f"sampler at {sampler['interval_ms']:.0f} ms: {sampler['missed_intervals']} missed, "
      f"lag median {statistics.median(lags):.2f} ms, max {max(lags):.2f} ms")
print(f"RESULT scale_ramp_ratio {ratio_ramp:.2f} target 1.0")
print(f"RESULT scale_ramp_ratio_sampled_50ms {ratio_fast_sampled:.2f} target n/a")
print(f"RESULT scale_rss_ratio {ratio_rss:.2f} target 2.0")
print(f"RESULT scale_report_mb {int(size)/1e6:.1f} target 2.0")
print(f"RESULT sampler_missed {sampler['missed_intervals']} target 0")
print(f"RESULT sampler_median_lag_ms {statistics.median(lags):.2f} target 5.0")
PY
echo "RESULT waiting_20000_workers_cpu_cores $idle_cores target 0.05"
echo "RESULT waiting_20000_workers_rss_mb $waiters_mb target 500"

#!/usr/bin/env bash
# Long runs: does pgleak's memory stay flat and its report bounded?
#  1. one nominal hour of an API-like workload (12 scoped workers on a 3+5
#     pool, with the incident's loop) at time_scale 0.03: 108 s of wall time;
#  2. WALL_SECONDS (default 600) of wall-clock time at time_scale 1.
# Both sample pg_stat_activity at 40 Hz on the embedded server, so the
# report's kept series (at most 1,500 samples) is full after 37.5 s. For each:
# pgleak's RSS once a second after a warm-up of 45 s (or the first fifth, if
# longer): its growth as MB per hour of wall time (and, for the compressed
# run, per nominal hour, which its RESULT line takes), and its spread; the
# report's size, the timeline's size, and both as MB per hour of wall time.
# Exits non-zero only when something fails to run (a run whose verdict fails
# has still run).
#   bench/soak.sh [WALL_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
wall="${1:-600}"
# shellcheck source=bench/lib/common.sh
source bench/lib/common.sh
require_pgleak soak
make_scratch

python3 - "$pgleak" "$wall" "$work" <<'PY'
import json, os, subprocess, sys, time
pgleak, wall, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def scenario(name, duration, time_scale):
    return {"name": name, "duration": duration, "time_scale": time_scale,
            "sample_interval": "25ms",
            "pool": {"pool_size": 3, "max_overflow": 5, "pool_timeout": "10s"},
            "processes": [{"name": "api", "workers": [
                {"name": "request", "pattern": "scoped", "count": 12, "think_time": "200ms"},
                {"name": "loop", "pattern": "scoped", "think_time": "2s",
                 "query": "SELECT pg_sleep(0.02)"}]}]}

def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None

def slope(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0

def soak(label, sc):
    path = f"{work}/{sc['name']}.json"
    json.dump(sc, open(path, "w"))
    report, timeline = f"{work}/{sc['name']}-report.json", f"{work}/{sc['name']}.jsonl.gz"
    start = time.monotonic()
    p = subprocess.Popen([pgleak, "run", path, "--report", report, "--timeline", timeline,
                          "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    at, mb = [], []
    while p.poll() is None:
        r = rss_mb(p.pid)
        if r is not None:
            at.append(time.monotonic() - start)
            mb.append(r)
        time.sleep(1)
    # What is measured is pgleak's memory and its outputs, not the verdict: a
    # run that completed and failed its verdict (exit 1: on a slow day the 3+5
    # pool keeps checkouts waiting, "undersized") measured them as well.
    if p.returncode not in (0, 1):
        sys.exit(f"soak: {label} exited {p.returncode}")
    run = json.load(open(report))
    if run["run"]["status"] != "completed":
        sys.exit(f"soak: {label} did not complete ({run['run']['status']})")
    seconds = time.monotonic() - start
    warm = next((i for i, t in enumerate(at) if t >= max(45, seconds / 5)), len(at) - 2)
    growth = slope(at[warm:], mb[warm:]) * 3600  # MB per hour of wall time
    # Per hour of the run's own clock: an hour of wall time is 1 / time_scale
    # of a compressed run's. Its window after warm-up is a minute or so, and a
    # megabyte's spread over it reads as tens of MB per hour of wall time.
    ts = sc["time_scale"]
    growth_run = growth * ts
    nominal = "" if ts == 1 else f" ({growth_run:+.1f} MB per nominal hour)"
    rep, tl = os.path.getsize(report) / 1e6, os.path.getsize(timeline) / 1e6
    kept = run["sampler"]
    print(f"{label}: {seconds:.0f} s wall, verdict {run['verdict']['diagnosis']}; RSS after warm-up {min(mb[warm:]):.1f}-{max(mb[warm:]):.1f} MB, "
          f"growth {growth:+.1f} MB per hour of wall time{nominal}; report {rep:.2f} MB ({kept['samples_kept']} of "
          f"{kept['samples']} samples), {rep / seconds * 3600:.2f} MB per hour of wall time; "
          f"timeline {tl:.2f} MB, {tl / seconds * 3600:.1f} MB per hour of wall time")
    return growth_run, rep

g1, r1 = soak("one nominal hour at time_scale 0.03", scenario("soak-nominal", "1h", 0.03))
g2, r2 = soak(f"{wall} s of wall-clock time", scenario("soak-wall", f"{wall}s", 1))
print(f"RESULT soak_rss_growth_mb_per_h {max(g1, g2):.1f} target 0")
print(f"RESULT soak_report_mb {max(r1, r2):.2f} target 2.0")
PY

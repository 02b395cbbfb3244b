#!/usr/bin/env bash
# How long pgleak's embedded server takes to be ready: from launch until pgleak
# announces the server on stderr (it is up and its roles are made), for
#  - cold: an empty initdb cache, so initdb runs and its template is made;
#  - warm: the template made by the cold round, copied (ROUNDS rounds, the
#    median is reported), into $TMPDIR (default /tmp) and, where it is a
#    tmpfs, into /dev/shm: most of a copy's time on a disk is creating its
#    ~970 files.
# Uses its own cache directory, removed on exit. Exits non-zero only when
# something fails to run.
#   bench/server_start.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
# shellcheck source=bench/lib/common.sh
source bench/lib/common.sh
require_pgleak server_start
make_scratch
chmod 755 "$work"  # the server account (postgres, when root) reads the cache in it
printf '%s\n' '{"name": "start", "duration": "100ms",' \
  '"processes": [{"name": "p", "workers": [{"pattern": "scoped"}]}]}' >"$work/start.json"

PGLEAK_INITDB_CACHE="$work/cache" python3 - "$pgleak" "$rounds" "$work" <<'PY'
import os, statistics, subprocess, sys, time
pgleak, rounds, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def ready_s(tmpdir=None):
    env = dict(os.environ)
    if tmpdir:
        env["TMPDIR"] = tmpdir
    start = time.monotonic()
    p = subprocess.Popen([pgleak, "run", f"{work}/start.json", "--report", f"{work}/r.json",
                          "--timeline", "none"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, env=env)
    ready = None
    for line in p.stderr:
        if ready is None and "embedded PostgreSQL" in line:
            ready = time.monotonic() - start
    if p.wait() != 0 or ready is None:
        sys.exit("server_start: the run failed")
    return ready

cold = ready_s()
warm = [ready_s() for _ in range(rounds)]
print(f"cold (initdb, template made): {cold:.3f} s")
print("warm (template copied): " + ", ".join(f"{w:.3f}" for w in warm) + " s")
if os.path.isdir("/dev/shm") and os.statvfs("/dev/shm").f_bavail * os.statvfs("/dev/shm").f_frsize > 1 << 28:
    shm = [ready_s("/dev/shm") for _ in range(rounds)]
    print("warm, TMPDIR=/dev/shm: " + ", ".join(f"{w:.3f}" for w in shm) + " s")
    print(f"RESULT server_start_warm_shm_s {statistics.median(shm):.3f} target 0.3")
print(f"RESULT server_start_cold_s {cold:.3f} target 1.0")
print(f"RESULT server_start_warm_s {statistics.median(warm):.3f} target 0.3")
PY

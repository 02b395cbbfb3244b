#!/usr/bin/env bash
# The main job: the incident before and after its fixes, each against its own
# throwaway PostgreSQL. Reports go to results/. A failing "before" is the point:
# this script exits 0 when before fails and after passes, as they should.
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

./build/src/pgleak run scenarios/incident-before.json --report results/incident-before.json --html
before=$?
echo
./build/src/pgleak run scenarios/incident-after.json --report results/incident-after.json --html
after=$?
echo
./build/src/pgleak report results/incident-before.json results/incident-after.json \
  --html results/incident-before-after.html
if [ "$before" -eq 1 ] && [ "$after" -eq 0 ]; then
  echo "demo: incident-before failed (exit 1) and incident-after passed (exit 0), as expected;"
  echo "      open results/incident-before-after.html to see both"
  exit 0
fi
echo "demo: unexpected exit codes: before=$before (expected 1), after=$after (expected 0)" >&2
exit 1

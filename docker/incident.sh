#!/usr/bin/env bash
# The incident, before and after its fixes, in the compose stack: PostgreSQL 15
# (max_connections 100, 3 reserved), PgBouncer in transaction mode, and pgleak
# with --dsn through PgBouncer, its admin console and the server's log.
# Reports in results/. Takes the stack down (and its volumes) on every exit.
# Needs Docker with Compose v2 (`docker compose`).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p results
compose=(docker compose -f docker/compose.yaml)
trap '"${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true' EXIT INT TERM
"${compose[@]}" build
"${compose[@]}" up -d --wait db pgbouncer
run() {
  "${compose[@]}" run --rm pgleak run "$@" --out /work/results \
    --server-log /var/log/postgresql/postgresql.json \
    --pgbouncer-admin postgresql://app@pgbouncer:6432/pgbouncer
}
# The leak would take every slot: --allow-exhaust says that is the point.
run /scenarios/pgbouncer/incident-before.json --allow-exhaust && before=0 || before=$?
run /scenarios/pgbouncer/incident-after.json && after=0 || after=$?
echo "incident-before exited $before (1 expected: it fails), incident-after $after (0 expected)"
[ "$before" = 1 ] && [ "$after" = 0 ]

# Sourced by the benchmark scripts: a private PostgreSQL 15 cluster on a unix
# socket only (no TCP), run as postgres when root, stopped and removed on
# every exit. Call start_server MAX_CONNECTIONS [LISTEN_ADDRESS [SETTINGS]]
# (TCP on that address too, for a benchmark that needs it; SETTINGS: more
# "-c name=value" for the server); it sets dir, port, dsn, run_as (the prefix
# that runs a command as the cluster's owner) and bin; server_sql SQL prints
# the answer to SQL, unaligned, one row per line; await_no_clients waits for
# the backends of a run before to go; hold_seconds says how long a held run
# must last to outlast its ramp.
bin=/usr/lib/postgresql/15/bin

start_server() {
  dir=$(mktemp -d /tmp/pgleak-bench-XXXXXX)
  run_as=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$dir"
    run_as=(runuser -u postgres --)
  fi
  trap stop_server EXIT INT TERM
  "${run_as[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
  port=$((20000 + RANDOM % 20000))
  "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -w -l "$dir/log" \
    -o "-c listen_addresses=${2:-} -k $dir -p $port -c max_connections=$1 -c fsync=off ${3:-}" start >/dev/null
  dsn="host=$dir port=$port user=postgres dbname=postgres"
}

server_sql() {  # SQL
  "${run_as[@]}" "$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -qAtc "$1"
}

stop_server() {
  "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}

# pgbench -c CLIENTS on the server, 10 SELECT 1 each, as the reference the
# connection benchmarks divide by: sets pgbench_ms (its "initial connection
# time") and pgbench_rss (its peak RSS in KB). CALLER names the script in errors.
# A count, not a duration: pgbench's -T clock runs while it connects, and
# where a backend takes 13 ms to start, 1,000 clients on 2 threads need 6 s
# or more; a -T shorter than that ends before any client has run, and
# pgbench then prints no connection time.
pgbench_connect() {  # CLIENTS CALLER
  printf 'SELECT 1;\n' >"$dir/select.sql"
  chmod 644 "$dir/select.sql"
  "${run_as[@]}" /usr/bin/time -f '%M' -o "$dir/pgbench.rss" "$bin/pgbench" -n -h "$dir" \
    -p "$port" -U postgres -c "$1" -j 2 -t 10 -f "$dir/select.sql" postgres >"$dir/pgbench.out" 2>&1
  pgbench_ms=$(sed -n 's/^initial connection time = \([0-9.]*\) ms.*/\1/p' "$dir/pgbench.out")
  [ -n "$pgbench_ms" ] || { echo "$2: pgbench did not run:" >&2; head -20 "$dir/pgbench.out" >&2; exit 1; }
  pgbench_rss=$(tail -1 "$dir/pgbench.rss")
}

# Until the server has no client but the caller (at most 60 s): the backends
# of the run before may still be exiting, and would hold slots and CPU.
await_no_clients() {
  for _ in $(seq 1 600); do
    [ "$(server_sql "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")" = 0 ] && return
    sleep 0.1
  done
}

# How long a held run lasts: SECONDS, or, where backends are slow to start,
# twice pgbench's connection time (pgbench_ms) and 5 s more, so that the run
# outlasts its ramp (on 2026-12-07 pgbench took 10-14 s for 1,000, and a
# 10-second run ended before it had them all).
hold_seconds() {  # SECONDS PGBENCH_MS
  awk -v s="$1" -v p="$2" 'BEGIN {h = int(2 * p / 1000) + 5; print (h > s ? h : s)}'
}

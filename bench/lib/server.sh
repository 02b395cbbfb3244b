# Sourced by the benchmark scripts: a private PostgreSQL 15 cluster on a unix
# socket only (no TCP), run as postgres when root, stopped and removed on
# every exit. Call start_server MAX_CONNECTIONS; it sets dir, port, dsn,
# run_as (the prefix that runs a command as the cluster's owner) and bin.
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
    -o "-c listen_addresses= -k $dir -p $port -c max_connections=$1 -c fsync=off" start >/dev/null
  dsn="host=$dir port=$port user=postgres dbname=postgres"
}

stop_server() {
  "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}

# Sourced by every benchmark script: the pgleak binary to measure ($PGLEAK,
# else build/src/pgleak), checked, and, for the scripts without a server of
# their own (bench/lib/server.sh sets its own trap), a scratch directory
# ($work) removed on every exit.
pgleak="${PGLEAK:-build/src/pgleak}"

require_pgleak() {  # NAME of the calling script
  [ -x "$pgleak" ] || { echo "$1: build pgleak first ($pgleak)" >&2; exit 2; }
}

make_scratch() {
  work=$(mktemp -d /tmp/pgleak-bench-XXXXXX)
  trap 'rm -rf "$work"' EXIT INT TERM
}

# The fleet scale.sh and shard_cost.sh both measure: N replicas of one process
# whose one worker holds one pooled connection for the run, sampled every
# INTERVAL (default 50ms).
write_held_fleet() {  # FILE N SECONDS [INTERVAL]
  cat >"$1" <<EOF
{"name": "held-$2", "duration": "${3}s", "sample_interval": "${4:-50ms}",
 "processes": [{"name": "holder", "replicas": $2, "pool": {"pool_size": 1, "max_overflow": 0},
   "workers": [{"pattern": "held_by_object", "count": 1, "think_time": "10s"}]}]}
EOF
}

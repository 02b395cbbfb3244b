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

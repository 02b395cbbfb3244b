#!/usr/bin/env bash
# Installs what pgleak needs on Debian 12 (as root) and builds it into build/
# (PGLEAK_SETUP=binary: only the binary, into build-binary/).
# Idempotent: packages already present are not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."

# What building the pgleak binary needs (PGLEAK_SETUP=binary, as the
# Dockerfile builds it), then what the tests, benchmarks and demo need too.
packages=(build-essential cmake pkg-config libpq-dev libcli11-dev nlohmann-json3-dev
          libfmt-dev libjs-chart.js zlib1g-dev)
if [ "${PGLEAK_SETUP:-all}" != binary ]; then
  packages+=(libpqxx-dev libgtest-dev libbenchmark-dev libxml2-dev postgresql-15 clang-format
             python3-sqlalchemy python3-psycopg2 chromium fonts-liberation pgbouncer
             docker-compose python3-yaml
             python3-psycopg-pool default-jdk-headless libhikaricp-java libpostgresql-jdbc-java
             libslf4j-java golang-go golang-github-jackc-pgx-v4-dev iproute2 nftables)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The Kubernetes manifests' validator (tests/k8s): Node.js and the npm
# packages its lock file pins.
if [ "${PGLEAK_SETUP:-all}" != binary ]; then
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
    else
      echo "setup: no node/npm: the Kubernetes manifest check will be skipped" >&2
    fi
  fi
  # Again only when a lock file changed since the last install: the
  # manifests' validator, and the real node-postgres the pool kinds are
  # checked against (tests/differential/pools/node).
  for dir in tests/k8s tests/differential/pools/node; do
    if command -v npm >/dev/null &&
       ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.installed-lock.json"; then
      npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
      cp "$dir/package-lock.json" "$dir/node_modules/.installed-lock.json"
    fi
  done
fi

default_preset=default
[ "${PGLEAK_SETUP:-all}" = binary ] && default_preset=binary
preset="${PGLEAK_PRESET:-$default_preset}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"

#!/usr/bin/env bash
# The whole test suite: unit tests (no server) and integration tests (each
# binary starts its own PostgreSQL 15 under a temp dir). Warnings are errors.
# Select with: scripts/test.sh -L unit   or   scripts/test.sh -L integration
set -euo pipefail
cd "$(dirname "$0")/.."
PGLEAK_PRESET=ci ./scripts/setup.sh
if command -v clang-format >/dev/null; then
  cmake --build --preset ci --target format-check
fi
ctest --preset ci --output-on-failure "$@"

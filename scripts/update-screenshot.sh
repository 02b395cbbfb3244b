#!/usr/bin/env bash
# Remakes docs/incident-before-after.png, the README's picture, through the
# browser test's own code path: real runs of incident-before and
# incident-after, `pgleak report ... --html`, headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${PGLEAK_PRESET:-ci}"
cmake --build --preset "$preset" --target pgleak_browser_tests >/dev/null
dir=build-$preset
[ "$preset" = default ] && dir=build
PGLEAK_SCREENSHOT="$PWD/docs/incident-before-after.png" \
  "$dir/tests/pgleak_browser_tests" --gtest_filter='HtmlReport.TheIncidentBeforeAndAfter*'
echo "wrote docs/incident-before-after.png"

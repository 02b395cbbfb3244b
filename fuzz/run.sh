#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs one for a while.
#   fuzz/run.sh scenario 1800    # the scenario loader, 30 minutes
#   fuzz/run.sh dsn 600          # DSN parsing and redaction, 10 minutes
#   fuzz/run.sh merge 600        # pgleak merge on a hostile shard report
# Seeds come from scenarios/ (and a few DSNs); the corpus grows under
# build-fuzz/corpus/<target>/ and crashes land in build-fuzz/crashes/.
# Prints libFuzzer's final statistics; exits non-zero on a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:?usage: fuzz/run.sh scenario|dsn|merge SECONDS}"
seconds="${2:-60}"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)" --target "${target}_fuzzer" >/dev/null
corpus="build-fuzz/corpus/$target"
crashes="build-fuzz/crashes/$target"
mkdir -p "$corpus" "$crashes"
case "$target" in
  scenario)
    find scenarios tests/data -name '*.json' -size -64k -exec cp {} "$corpus/" \; ;;
  dsn)
    printf '%s' 'postgresql://app:s3cretpassword@127.0.0.1:5432/db?sslmode=disable' >"$corpus/url"
    printf '%s' "host=/tmp port=5432,5433 password='p w' user=app dbname=x" >"$corpus/keywords"
    printf '%s' 'dbname=postgresql://u:pw@h/db connect_timeout=10' >"$corpus/expand" ;;
  merge)
    PGLEAK_FUZZ_SEED="$corpus/shard-1.json" "build-fuzz/fuzz/merge_fuzzer" ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac
exec "build-fuzz/fuzz/${target}_fuzzer" "$corpus" -max_total_time="$seconds" \
  -timeout=1 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
  -artifact_prefix="$crashes/"

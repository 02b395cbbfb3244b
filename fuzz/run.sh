#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs one for a while.
#   fuzz/run.sh scenario 1800    # the scenario loader, 30 minutes
#   fuzz/run.sh dsn 600          # DSN parsing and redaction, 10 minutes
#   fuzz/run.sh merge 600        # pgleak merge on a hostile shard report
#   fuzz/run.sh timeline 600     # merge's reader of a killed shard's timeline
#   fuzz/run.sh capture 600      # diagnose's reader of a capture, and its starter scenario
#   fuzz/run.sh report 600       # pgleak report / compare on a hostile report
#   fuzz/run.sh lines 600        # the line splitter of the log follower and merge
# Seeds come from scenarios/ (and a few DSNs, reports, timelines and log
# lines), and from the corpus kept in the tree (fuzz/corpus/<target>/); the
# corpus grows under build-fuzz/corpus/<target>/ and crashes land in
# build-fuzz/crashes/. PGLEAK_FUZZ_KEEP=1 merges what it found back into
# fuzz/corpus/<target>/ (smallest inputs that keep the coverage).
# Prints libFuzzer's final statistics; exits non-zero on a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:?usage: fuzz/run.sh scenario|dsn|merge|timeline|report|lines|capture SECONDS}"
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
  timeline)
    PGLEAK_FUZZ_SEED="$corpus/killed-shard.jsonl" "build-fuzz/fuzz/timeline_fuzzer" ;;
  report)
    PGLEAK_FUZZ_SEED="$corpus/report.json" "build-fuzz/fuzz/report_fuzzer" ;;
  capture)
    PGLEAK_FUZZ_SEED="$corpus/capture.jsonl" "build-fuzz/fuzz/capture_fuzzer" ;;
  lines)
    printf '{"timestamp":"2026-11-30 15:19:07.812 UTC","error_severity":"FATAL"}\npartial' \
      >"$corpus/jsonlog"
    printf '\x85a\n\nb' >"$corpus/repeated" ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac
kept="fuzz/corpus/$target"
[ -d "$kept" ] && cp "$kept"/* "$corpus/" 2>/dev/null || true
# -rss_limit_mb=1024: the readers' bounds must hold under 1 GB.
"build-fuzz/fuzz/${target}_fuzzer" "$corpus" -max_total_time="$seconds" \
  -timeout=5 -rss_limit_mb=1024 -max_len=65536 -print_final_stats=1 \
  -artifact_prefix="$crashes/"
if [ "${PGLEAK_FUZZ_KEEP:-0}" = 1 ]; then
  mkdir -p "$kept"
  "build-fuzz/fuzz/${target}_fuzzer" -merge=1 "$kept" "$corpus" >/dev/null 2>&1
fi

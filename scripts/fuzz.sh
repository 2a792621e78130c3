#!/usr/bin/env bash
# Builds the fuzz targets in fuzz/ with clang (libFuzzer + ASan + UBSan) and runs each
# for a bounded time, one after another, then prints executions and crashes per target.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]    SECONDS per target (default 60);
#                                            0 = only replay the corpora (a smoke test)
# Environment: BUILD_DIR (default build-fuzz), JOBS (build parallelism, default 2),
#   KEEP_GOING=1 to continue past crashes (libFuzzer -fork=1 -ignore_crashes=1 ...).
# Seeds are read from fuzz/corpus/<target>/ and never written; inputs libFuzzer finds go
# to $BUILD_DIR/corpus/<target>/, crash reproducers to $BUILD_DIR/artifacts/<target>/,
# logs to $BUILD_DIR/logs/<target>.log. Exit status 1 if any target crashed.
# Needs: clang (Debian: apt-get install clang), cmake, ninja, libyaml-cpp-dev,
# nlohmann-json3-dev, zlib1g-dev.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_TARGET="${1:-60}"
shift || true
BUILD_DIR="${BUILD_DIR:-$ROOT/build-fuzz}"
JOBS="${JOBS:-2}"
ALL_TARGETS=(spec_fuzz idx_fuzz csv_fuzz libsvm_fuzz npy_fuzz gzip_fuzz store_meta_fuzz)
TARGETS=("${@:-${ALL_TARGETS[@]}}")

# Longest input per target: enough for every construct the format has, small enough
# that each execution stays fast.
max_len() {
  case "$1" in
    idx_fuzz) echo 8192 ;;
    gzip_fuzz) echo 16384 ;;
    *) echo 4096 ;;
  esac
}

command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (apt-get install clang)" >&2; exit 2; }
CC=clang CXX=clang++ cmake -S "$ROOT/fuzz" -B "$BUILD_DIR" -G Ninja >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" -- "${TARGETS[@]}" >/dev/null

status=0
report=()
for t in "${TARGETS[@]}"; do
  corpus="$BUILD_DIR/corpus/$t"
  artifacts="$BUILD_DIR/artifacts/$t"
  log="$BUILD_DIR/logs/$t.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  args=(-rss_limit_mb=2048 -timeout=10 -max_len="$(max_len "$t")" -print_final_stats=1
        -artifact_prefix="$artifacts/")
  [[ -f "$ROOT/fuzz/dicts/$t.dict" ]] && args+=(-dict="$ROOT/fuzz/dicts/$t.dict")
  if [[ "$SECONDS_PER_TARGET" == 0 ]]; then
    args+=(-runs=0)
  else
    args+=(-max_total_time="$SECONDS_PER_TARGET")
    [[ "${KEEP_GOING:-0}" == 1 ]] && args+=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
  fi
  before=$(find "$artifacts" -type f | wc -l)
  echo "fuzz.sh: $t (${SECONDS_PER_TARGET}s) ..." >&2
  start=$(date +%s)
  rc=0
  "$BUILD_DIR/$t" "${args[@]}" "$corpus" "$ROOT/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  elapsed=$(( $(date +%s) - start ))
  after=$(find "$artifacts" -type f | wc -l)
  crashes=$(( after - before ))
  (( rc != 0 && crashes == 0 )) && crashes=1  # e.g. a crash before any artifact was written
  execs=$(sed -n 's/^stat::number_of_executed_units: //p' "$log" | tail -1)
  [[ -z "$execs" ]] && execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  report+=("$(printf '%-16s %6ss %12s %9s %s' "$t" "$elapsed" "${execs:-?}" "$crashes" \
             "$( ((crashes > 0)) && echo "see $log, $artifacts/" )")")
  (( crashes > 0 )) && status=1
done

printf '%-16s %7s %12s %9s\n' target time executions crashes
printf '%s\n' "${report[@]}"
exit "$status"

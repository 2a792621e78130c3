# Shell helpers shared by the benchmark drivers (bench/run.sh, bench/early_stopping/run.sh,
# bench/pbt/run.sh). Sourced after the caller has set WORK (its work directory, holding the
# private copies of cerebro and cerebro-worker), PY (the Python that runs the harness) and
# BENCH_NAME (the prefix of its messages).

# timed OUT CMD...: runs CMD under bench/peers/peak_rss.py (peak memory of the whole process
# tree and the sampler's own CPU, OUT.mem.json; leftovers of the tree killed at the end),
# its output in OUT.log, and OUT.start = the wall clock (date +%s.%N) just before it, from
# which times to an accuracy are measured. Every command gets a fresh, empty CEREBRO_CACHE
# (a store cache would let a run skip preparing; BENCH_CACHE=off runs with the cache off
# instead), removed afterwards. Returns CMD's exit status and says so when it is not 0.
# BENCH_SAMPLE_INTERVAL / BENCH_PSS_INTERVAL (seconds, default 0.1 / 0.5) set how often
# the sampler reads RSS / PSS: a check that its own CPU ('sampler CPU s', more for more
# processes) does not decide a ratio is the same benchmark with both much longer.
timed() {
  local out=$1 cache=off rc=0
  shift
  [ "${BENCH_CACHE:-fresh}" = off ] || cache=$(mktemp -d "$WORK/cache.XXXXXX")
  date +%s.%N > "$out.start"
  CEREBRO_CACHE=$cache $PY bench/peers/peak_rss.py --kill-leftovers --out "$out.mem.json" \
    --interval "${BENCH_SAMPLE_INTERVAL:-0.1}" --pss-interval "${BENCH_PSS_INTERVAL:-0.5}" \
    -- "$@" > "$out.log" 2>&1 || rc=$?
  [ "$cache" = off ] || rm -rf "$cache"
  [ "$rc" = 0 ] || echo "$BENCH_NAME: $out failed (exit $rc; see $out.log)" >&2
  return "$rc"
}

# spec_field SPEC SECTION KEY [DEFAULT]: prints SPEC's SECTION.KEY (DEFAULT when absent;
# without DEFAULT a missing key is an error).
spec_field() {
  $PY -c "import yaml,sys;s=yaml.safe_load(open(sys.argv[1])).get(sys.argv[2]) or {};print(s.get(sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else s[sys.argv[3]])" "$@"
}

# private_binaries BUILD_DIR: copies cerebro and cerebro-worker from BUILD_DIR into WORK,
# so a rebuild while the benchmark runs cannot change what it measures.
private_binaries() {
  cp "$1/cerebro" "$1/cerebro-worker" "$WORK/"
}

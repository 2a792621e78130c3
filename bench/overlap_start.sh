#!/usr/bin/env bash
# Workers started while the data is prepared (issue 13 item 2), before vs after: the whole
# `cerebro run SPEC --epochs EPOCHS` process wall, the run's own set-up time
# (summary.json timing.prepare_seconds: from the run's start until every worker holds its
# partitions) and the preparation alone (the seconds of its "data: prepared store" line),
# REPEATS times, before and after interleaved. Every run gets a fresh, empty
# CEREBRO_CACHE, so it prepares from scratch (a cached store is linked in ~0 s and leaves
# nothing to overlap). Writes bench/results/<date>-overlap-start.md.
#   usage: BEFORE_DIR=build-before AFTER_DIR=build-data bench/overlap_start.sh [EPOCHS=1] [REPEATS=3] [SPEC]
# BEFORE_DIR / AFTER_DIR hold cerebro and cerebro-worker (copied, so a rebuild during the
# benchmark cannot change them). Run it under `flock /tmp/bench.lock`.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:-1}
REPEATS=${2:-3}
SPEC=${3:-examples/fashion_mnist/mlp_grid.yaml}
WORK=$(mktemp -d /tmp/cerebro-overlap-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
for v in before after; do
  dir_var=$(echo "$v" | tr a-z A-Z)_DIR
  mkdir -p "$WORK/$v"
  cp "${!dir_var}/cerebro" "${!dir_var}/cerebro-worker" "$WORK/$v/"
done

for r in $(seq 1 "$REPEATS"); do
  for v in before after; do
    mkdir -p "$WORK/cache-$v-$r"
    t0=$(date +%s.%N)
    CEREBRO_CACHE="$WORK/cache-$v-$r" "$WORK/$v/cerebro" run "$SPEC" --epochs "$EPOCHS" --quiet \
      --out "$WORK/$v-$r" > "$WORK/$v-$r.log" 2>&1
    t1=$(date +%s.%N)
    echo "$t0 $t1" > "$WORK/$v-$r.wall"
    rm -rf "$WORK/cache-$v-$r"
  done
done

python3 - "$WORK" "$REPEATS" "$EPOCHS" "$SPEC" <<'PY'
import json, statistics, sys, platform, subprocess, datetime, os, re
work, repeats, epochs, spec = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = {}
for v in ("before", "after"):
    rows[v] = []
    for r in range(1, repeats + 1):
        t0, t1 = map(float, open(f"{work}/{v}-{r}.wall").read().split())
        log = open(f"{work}/{v}-{r}.log").read()
        m = re.search(r"data: prepared store \S* ?\(([0-9.]+) s\)", log)
        if m is None or "reused prepared store" in log:
            sys.exit(f"{v}-{r}: the run did not prepare its store from scratch:\n{log}")
        t = json.load(open(f"{work}/{v}-{r}/summary.json"))["timing"]
        rows[v].append(dict(process=t1 - t0, setup=t["prepare_seconds"], prep=float(m.group(1)),
                            loop=t["wall_seconds"]))
med = lambda v, k: statistics.median(x[k] for x in rows[v])
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
out = [f"# Workers start while the data is prepared — `{spec}`, {epochs} epoch(s)\n",
       f"Machine: {cpu}, {os.cpu_count()} cores, {platform.platform()}; date {datetime.date.today()}.",
       f"Command: `BEFORE_DIR=... AFTER_DIR=... flock /tmp/bench.lock bench/overlap_start.sh {epochs} {repeats} {spec}` "
       f"(median of {repeats} runs each, before and after interleaved; every run prepares from scratch: fresh, empty CEREBRO_CACHE).\n",
       "| binary | process wall s | set-up s (timing.prepare_seconds) | preparation alone s (data line) | set-up beyond preparation s | loop wall s |",
       "|---|---|---|---|---|---|"]
for v in ("before", "after"):
    out.append(f"| {v} | {med(v,'process'):.2f} | {med(v,'setup'):.2f} | {med(v,'prep'):.2f} | "
               f"{statistics.median(x['setup'] - x['prep'] for x in rows[v]):.2f} | {med(v,'loop'):.2f} |")
out.append("")
for v in ("before", "after"):
    out.append(f"Per-run {v}: " + "; ".join(
        f"process {x['process']:.2f} s, set-up {x['setup']:.2f} s, preparation {x['prep']:.2f} s" for x in rows[v]))
out.append("")
out.append(f"Saved (medians): process wall {med('before','process') - med('after','process'):+.2f} s, "
           f"set-up {med('before','setup') - med('after','setup'):+.2f} s.")
out.append("\n'set-up' is what the run journals as timing.prepare_seconds: from the run's start until every "
           "worker holds its partitions. Before, that was preparation, then the workers' start (LibTorch load, "
           "BLAS detection) and partition load one after the other; after, the workers start while the data is "
           "prepared, so 'set-up beyond preparation' is what start-up still adds (loading the partitions, "
           "or a start that outlasts the preparation).")
text = "\n".join(out) + "\n"
print(text)
path = f"bench/results/{datetime.date.today()}-overlap-start.md"
open(path, "w").write(text)
PY

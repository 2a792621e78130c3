#!/usr/bin/env bash
# MOP (2 workers) vs sequential (1 worker, all data) vs task-parallel (2 workers, a full
# copy each) on the MLP grid of examples/fashion_mnist/mlp_grid.yaml, measured side by
# side, REPEATS times, interleaved so machine noise hits every strategy alike.
# Prints per-run figures and the median ratios, and writes bench/results/<date>-mop-vs-sequential.md.
#   usage: bench/mop_vs_sequential.sh [EPOCHS=2] [REPEATS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:-2}
REPEATS=${2:-3}
SPEC=examples/fashion_mnist/mlp_grid.yaml
WORK=$(mktemp -d /tmp/cerebro-bench-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# A private copy of the binaries, so a rebuild during the benchmark cannot change them.
cp "${BUILD_DIR:-build}/cerebro" "${BUILD_DIR:-build}/cerebro-worker" "$WORK/"
BIN="$WORK/cerebro"

for r in $(seq 1 "$REPEATS"); do
  for s in mop sequential task; do
    w=2; [ "$s" = sequential ] && w=1
    t0=$(date +%s.%N)
    "$BIN" run "$SPEC" --strategy "$s" --workers "$w" --epochs "$EPOCHS" --quiet \
      --out "$WORK/$s-$r" > "$WORK/$s-$r.log"
    echo "$t0 $(date +%s.%N)" > "$WORK/$s-$r.process"  # the whole process, from outside
  done
done

python3 - "$WORK" "$REPEATS" "$EPOCHS" <<'PY'
import json, statistics, sys, platform, subprocess, datetime, os
work, repeats, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = {}
for s in ("mop", "sequential", "task"):
    rows[s] = []
    for r in range(1, repeats + 1):
        j = json.load(open(f"{work}/{s}-{r}/summary.json"))
        t = j["timing"]
        moving = t["transfer_seconds"] + t["state_codec_seconds"]
        t0, t1 = map(float, open(f"{work}/{s}-{r}.process").read().split())
        rows[s].append(dict(wall=t["wall_seconds"], sps=t["train_samples_per_second"],
                            process=t1 - t0,
                            move_frac=moving / t["compute_seconds"],
                            ckpt_frac=t["checkpoint_seconds"] / t["wall_seconds"],
                            # the workers' time not spent in units (scheduling gaps, hand-offs)
                            idle=1 - t["compute_seconds"] / ((1 if s == "sequential" else 2) * t["wall_seconds"]),
                            best=j["best"]["value"]))
med = lambda s, k: statistics.median(x[k] for x in rows[s])
ratios = {s: [rows["mop"][i]["sps"] / rows[s][i]["sps"] for i in range(repeats)] for s in ("sequential", "task")}
# Whole process (start-up, preparation or a cached store, training, shutdown), per run.
process_ratios = {s: [rows[s][i]["process"] / rows["mop"][i]["process"] for i in range(repeats)]
                  for s in ("sequential", "task")}
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
out = []
out.append(f"# MOP vs sequential vs task — MLP grid (4 configs, 784-1000-500-10, Adam, batch 128), {epochs} epoch(s)\n")
out.append(f"Machine: {cpu}, {os.cpu_count()} cores, {platform.platform()}; date {datetime.date.today()}.")
out.append(f"Command: `bench/mop_vs_sequential.sh {epochs} {repeats}` (median of {repeats} interleaved runs).\n")
out.append("| strategy | workers | process wall s (median) | process wall vs MOP (median) | loop wall s (median) | train samples/s (median) | MOP throughput ratio (median) | state moving / compute | checkpoint / wall | workers idle / loop | best val acc |")
out.append("|---|---|---|---|---|---|---|---|---|---|---|")
for s, w in (("mop", 2), ("sequential", 1), ("task", 2)):
    ratio = "1.00" if s == "mop" else f"{statistics.median(ratios[s]):.2f}"
    pratio = "1.00" if s == "mop" else f"{statistics.median(process_ratios[s]):.2f}"
    out.append(f"| {s} | {w} | {med(s,'process'):.1f} | {pratio} | {med(s,'wall'):.1f} | {med(s,'sps'):.0f} | {ratio} | {100*med(s,'move_frac'):.2f}% | {100*med(s,'ckpt_frac'):.2f}% | {100*med(s,'idle'):.1f}% | {med(s,'best'):.4f} |")
out.append("")
out.append("Per-run process wall, sequential/MOP: " + ", ".join(f"{x:.3f}" for x in process_ratios["sequential"]))
out.append("Per-run process wall seconds: " + "; ".join(
    s + " " + ", ".join(f"{x['process']:.1f}" for x in rows[s]) for s in ("mop", "sequential", "task")))
out.append("Per-run MOP/sequential throughput ratios: " + ", ".join(f"{x:.3f}" for x in ratios["sequential"]))
out.append("Per-run MOP/task throughput ratios: " + ", ".join(f"{x:.3f}" for x in ratios["task"]))
out.append("\n'process wall' is each `cerebro run` timed from outside, start to exit; 'loop wall' "
           "and the throughput are summary.json's training loop. Runs use the default store cache: "
           "the first run of each strategy prepares, the later ones link the cached store.")
out.append("\n'state moving' = driver-side socket send/receive of model state + worker-side (de)serialization, "
           "summed over units, divided by summed unit compute time. 'workers idle' = 1 - summed unit "
           "compute / (workers x loop wall).")
text = "\n".join(out) + "\n"
print(text)
path = os.environ.get("BENCH_RESULTS", "bench/results") + f"/{datetime.date.today()}-mop-vs-sequential.md"
open(path, "w").write(text)
print("wrote", path)
PY

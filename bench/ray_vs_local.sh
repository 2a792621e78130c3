#!/usr/bin/env bash
# The Ray backend vs the local backend on the MLP grid of examples/fashion_mnist/
# mlp_grid.yaml: 2 Ray actors vs 2 local worker processes, MOP, REPEATS runs each,
# interleaved so machine noise hits both alike; then the actor-to-actor hand-off of a
# 5 MB state and of the real MLP state (its checkpoint size), ITER rounds each.
# Prints the figures and writes bench/results/<date>-ray-vs-local.md.
#   usage: bench/ray_vs_local.sh [EPOCHS=2] [REPEATS=3] [ITER=25]
# Each Ray run starts its own one-node head on loopback (as `cerebro run --backend ray`
# does without --ray-address); head start-up is preparation, outside the timed loop.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:-2}
REPEATS=${2:-3}
ITER=${3:-25}
BUILD=${BUILD:-build}
SPEC=examples/fashion_mnist/mlp_grid.yaml
WORK=$(mktemp -d /tmp/cerebro-bench-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
[ -x "$BUILD/cerebro_ray_handoff_bench" ] || { echo "no $BUILD/cerebro_ray_handoff_bench: build with the Ray backend (scripts/setup.sh)" >&2; exit 1; }
# A private copy of the binaries, so a rebuild during the benchmark cannot mix versions.
# The driver finds cerebro-worker and libcerebro_ray.so beside itself.
mkdir -p "$WORK/bin"
cp "$BUILD/cerebro" "$BUILD/cerebro-worker" "$BUILD/libcerebro_ray.so" "$BUILD/cerebro_ray_handoff_bench" "$WORK/bin/"
BIN=$WORK/bin/cerebro
HANDOFF=$WORK/bin/cerebro_ray_handoff_bench

# `ray start` preloads its bundled jemalloc into Ray's workers unless LD_PRELOAD is set;
# Cerebro's own head sets it empty, so its actors use glibc's malloc like cerebro-worker.
# The third arm runs the local workers on Ray's jemalloc: the evidence for that choice.
JEMALLOC=$(.venv/bin/python -c 'import os, ray; print(os.path.join(os.path.dirname(ray.__file__), "core", "libjemalloc.so"))' 2>/dev/null || true)
ARMS="local ray"
[ -f "$JEMALLOC" ] && ARMS="local ray local_jemalloc"
for r in $(seq 1 "$REPEATS"); do
  for a in $ARMS; do
    echo "run $r/$REPEATS: $a" >&2
    b=${a%_jemalloc}
    pre=""; [ "$a" = local_jemalloc ] && pre=$JEMALLOC
    LD_PRELOAD=$pre "$BIN" run "$SPEC" --backend "$b" --workers 2 --epochs "$EPOCHS" --quiet \
      --out "$WORK/$a-$r" > "$WORK/$a-$r.log" 2>&1 || { cat "$WORK/$a-$r.log" >&2; exit 1; }
  done
done

# The real state: the size of a checkpoint the Ray runs wrote (weights + Adam moments).
STATE_BYTES=$(find "$WORK/ray-1/checkpoints" -name '*.state' -printf '%s\n' | sort -n | tail -1)
echo "hand-off: 5 MB and $STATE_BYTES bytes, $ITER rounds each" >&2
"$HANDOFF" --iterations "$ITER" 5000000 "$STATE_BYTES" > "$WORK/handoff.txt"

python3 - "$WORK" "$REPEATS" "$EPOCHS" "$ITER" "$ARMS" <<'PY'
import json, statistics, sys, platform, subprocess, datetime, os
work, repeats, epochs, iters = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
arms = sys.argv[5].split()
rows = {}
for b in arms:
    rows[b] = []
    for r in range(1, repeats + 1):
        j = json.load(open(f"{work}/{b}-{r}/summary.json"))
        t = j["timing"]
        rows[b].append(dict(wall=t["wall_seconds"], prep=t["prepare_seconds"],
                            sps=t["train_samples_per_second"],
                            move_frac=(t["transfer_seconds"] + t["state_codec_seconds"]) / t["compute_seconds"],
                            ckpt_frac=t["checkpoint_seconds"] / t["wall_seconds"],
                            best=j["best"]["value"]))
med = lambda b, k: statistics.median(x[k] for x in rows[b])
ratios = [rows["ray"][i]["sps"] / rows["local"][i]["sps"] for i in range(repeats)]
ratios_je = [rows["local_jemalloc"][i]["sps"] / rows["local"][i]["sps"] for i in range(repeats)] if "local_jemalloc" in rows else []
handoff = []
for line in open(f"{work}/handoff.txt"):
    handoff.append(dict(kv.split("=") for kv in line.split()))
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
ray_v = subprocess.run([".venv/bin/python", "-c", "import ray; print(ray.__version__)"], capture_output=True, text=True).stdout.strip()
out = []
out.append(f"# Ray backend vs local backend — MLP grid (4 configs, 784-1000-500-10, Adam, batch 128), {epochs} epoch(s), MOP on 2 workers\n")
out.append(f"Machine: {cpu}, {os.cpu_count()} cores, {platform.platform()}; Ray {ray_v} (C++ API); date {datetime.date.today()}.")
out.append(f"Command: `bench/ray_vs_local.sh {epochs} {repeats} {iters}` (median of {repeats} interleaved runs per backend; ratios are medians of per-run ratios, run i of one backend against run i of the other).\n")
out.append("| backend | workers | wall s (median) | prepare s (median) | train samples/s (median) | state moving / compute | checkpoint / wall | best val acc |")
out.append("|---|---|---|---|---|---|---|---|")
names = {"local": "2 processes", "ray": "2 actors (glibc malloc)", "local_jemalloc": "2 processes, LD_PRELOAD=Ray's jemalloc"}
for b in arms:
    w = names[b]
    out.append(f"| {b} | {w} | {med(b,'wall'):.1f} | {med(b,'prep'):.1f} | {med(b,'sps'):.0f} | {100*med(b,'move_frac'):.2f}% | {100*med(b,'ckpt_frac'):.2f}% | {med(b,'best'):.4f} |")
out.append("")
out.append(f"**Ray / local throughput ratio: median {statistics.median(ratios):.3f}** (per run: " + ", ".join(f"{x:.3f}" for x in ratios) + "; target >= 0.9).\n")
if ratios_je:
    out.append(f"Allocator check, local on Ray's jemalloc / local on glibc malloc: median {statistics.median(ratios_je):.3f} (per run: " + ", ".join(f"{x:.3f}" for x in ratios_je) + "); the Ray backend's head runs its actors on glibc malloc.\n")
out.append(f"Actor-to-actor hand-off (ObjectRef passed from actor A's task to actor B's task; {iters} rounds after 2 warm-up rounds):\n")
out.append("| state bytes | hop median ms | hop p10-p90 ms | driver-observed A->B->reply median ms | state hash ms (driver) |")
out.append("|---|---|---|---|---|")
for h in handoff:
    out.append(f"| {int(h['bytes']):,} | {float(h['hop_median_ms']):.2f} | {float(h['hop_p10_ms']):.2f}-{float(h['hop_p90_ms']):.2f} | {float(h['chain_median_ms']):.2f} | {float(h['state_hash_ms']):.2f} |")
out.append("\n'hop' = wall clock from A's task returning to B's task holding the deserialized bytes "
           "(msgpack serialization, object store put, resolution on B, deserialization). "
           "'state moving' = for local: socket send/receive + worker-side (de)serialization; for ray: "
           "Remote() + the hop + the driver's ray::Get of the new state (for its checkpoint) + worker-side "
           "(de)serialization; summed over units / summed compute.")
text = "\n".join(out) + "\n"
print(text)
path = f"bench/results/{datetime.date.today()}-ray-vs-local.md"
os.makedirs("bench/results", exist_ok=True)
open(path, "w").write(text)
print("wrote", path)
PY

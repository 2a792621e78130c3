#!/usr/bin/env bash
# Smoke test of the external peers (small: ~1 minute on 2 cores). Not the benchmark.
#   bench/peers/smoke.sh            tiny blobs store: PyTorch sequential, PyTorch DDP (2 ranks)
#                                   and Ray Tune 2 trials
#   bench/peers/smoke.sh --fmnist   also Fashion-MNIST, one 784-1000-500-10 MLP, 1 epoch
# First the equivalence checks (check_equivalence.py: the peers' decoding of a uint8 store is
# bit-identical to Cerebro's float32 store; DDP's gradients equal a single process's within
# 1e-8); the script fails on a mismatch.
# Needs bench/setup_peers.sh and a built build/cerebro. Writes under ${SMOKE_DIR:-/tmp/peers_smoke}.
# PEER_PY=/usr/bin/python3 runs the PyTorch peers with Debian's Python (torch, no Ray) when
# .venv-bench is missing; SMOKE_SKIP_RAY=1 then leaves out the Ray Tune run (and says so).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PY=${PEER_PY:-$ROOT/.venv-bench/bin/python}
CEREBRO=${CEREBRO:-$ROOT/build/cerebro}
D=${SMOKE_DIR:-/tmp/peers_smoke}
mkdir -p "$D"

# A 3-class, 8-feature blobs CSV (the format of tests/test_data.cc), 3000 rows.
/usr/bin/python3 - "$D/blobs.csv" <<'EOF'
import random, sys
rng = random.Random(7)
with open(sys.argv[1], "w") as f:
    f.write(",".join(f"f{i}" for i in range(8)) + ",label\n")
    for i in range(3000):
        label = i % 3
        row = [(2.0 if k % 3 == label else 0.0) + rng.gauss(0, 0.6) for k in range(8)]
        f.write(",".join(f"{v:.5f}" for v in row) + f",{label}\n")
EOF
cat >"$D/spec.yaml" <<EOF
name: peers_smoke
task: classification
data:
  format: csv
  train: {path: $D/blobs.csv, header: true, label_column: label}
  validation: {fraction: 0.25}
params:
  model: mlp
  hidden: [32, 16]
  optimizer: adam
  lr: 0.003
  batch_size: 32
run: {epochs: 2, workers: 2, seed: 5}
EOF
cat >"$D/models.json" <<'EOF'
[{"id":0,"params":{"model":"mlp","hidden":[32,16],"activation":"relu","optimizer":"adam","lr":0.003,"batch_size":32}},
 {"id":1,"params":{"model":"mlp","hidden":[16],"activation":"tanh","dropout":0.1,"optimizer":"sgd","momentum":0.9,"lr":0.01,"weight_decay":0.0001,"batch_size":32}}]
EOF
echo "== equivalence checks (data decoding, DDP gradients)"
"$PY" bench/peers/check_equivalence.py --cerebro "$CEREBRO"

rm -rf "$D/store"
"$CEREBRO" prepare "$D/spec.yaml" --out "$D/store" --partitions 2

echo "== PyTorch sequential, tiny store"
"$PY" bench/peers/pytorch_seq.py --store "$D/store" --configs "$D/models.json" --epochs 2 \
  --out "$D/pytorch_tiny.json"
echo "== PyTorch DDP, 2 ranks, tiny store"
"$PY" bench/peers/pytorch_ddp.py --store "$D/store" --configs "$D/models.json" --epochs 2 \
  --workers 2 --out "$D/pytorch_ddp_tiny.json"
if [ "${SMOKE_SKIP_RAY:-0}" = 1 ]; then
  echo "== Ray Tune: SKIPPED (SMOKE_SKIP_RAY=1)"
else
echo "== Ray Tune, 2 trials on 2 workers, tiny store (under peak_rss.py)"
"$PY" bench/peers/peak_rss.py --out "$D/ray_tiny_mem.json" -- \
  "$PY" bench/peers/ray_tune.py --store "$D/store" --configs "$D/models.json" --epochs 2 \
  --workers 2 --out "$D/ray_tiny.json" --quiet 2>"$D/ray_tiny.log" || {
    echo "ray_tune failed; see $D/ray_tiny.log" >&2; exit 1; }
"$PY" - "$D/ray_tiny.json" "$D/ray_tiny_mem.json" <<'EOF'
import json, sys
r, m = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
o = r["tune_overhead"]
print(f"ray_tune: wall {r['wall_seconds']:.1f} s (ray.init {o['ray_init_seconds']:.1f} s, fit "
      f"{o['fit_seconds']:.1f} s, first trial started {o['first_trial_start_after_fit_seconds']:.1f} s "
      f"into fit, shutdown {o['shutdown_seconds']:.1f} s, then {r['exit_wait_seconds']:.1f} s waiting for "
      f"Ray's processes to exit); best {r['best']['val_accuracy']:.4f}")
print(f"peak_rss: wall {m['wall_seconds']:.1f} s, peak tree RSS {m['peak_tree_rss_bytes']/2**20:.0f} MiB, "
      f"PSS {(m['peak_tree_pss_bytes'] or 0)/2**20:.0f} MiB, USS {(m['peak_tree_uss_bytes'] or 0)/2**20:.0f} MiB, "
      f"{m['max_processes']} processes; leftovers: {len(m['leftover_processes'])} (runner saw "
      f"{len(r['leftover_processes'])}); sampler CPU {m['sampler_cpu_seconds']:.2f} s, "
      f"{m['cmdline_reads']} command-line reads")
EOF
fi

if [ "${1:-}" = "--fmnist" ]; then
  SPEC=examples/fashion_mnist/mlp_grid.yaml
  [ -e "$D/fmnist/meta.json" ] || "$CEREBRO" prepare "$SPEC" --out "$D/fmnist" --partitions 2
  cat >"$D/fmnist_one.json" <<'EOF'
[{"id":0,"params":{"model":"mlp","hidden":[1000,500],"activation":"relu","optimizer":"adam","lr":0.001,"weight_decay":0.0001,"batch_size":128}}]
EOF
  echo "== PyTorch, Fashion-MNIST, 784-1000-500-10 MLP, 1 epoch, 1 thread"
  "$PY" bench/peers/pytorch_seq.py --store "$D/fmnist" --configs "$D/fmnist_one.json" --epochs 1 \
    --out "$D/pytorch_fmnist.json"
  "$PY" - "$D/pytorch_fmnist.json" <<'EOF'
import json, sys
h = json.load(open(sys.argv[1]))["per_model"][0]["history"][0]
print(f"pytorch MLP: {h['train_samples_per_second']:.0f} samples/s in the training loop "
      f"({h['train_samples_per_cpu_second']:.0f} per CPU-second), val_accuracy {h['val_accuracy']:.4f}")
EOF
fi

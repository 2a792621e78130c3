#!/usr/bin/env bash
# Measures the MLP space that the search-quality bench's "mlp_surrogate" objective stands
# for (issue 11): random search with Cerebro over a mixed space (choice, uniform,
# log-uniform, quantized) on a 20K-example Fashion-MNIST subset (16K train, 4K validation),
# 2 epochs a model, and writes one CSV row per model: its params and its validation
# accuracy after the last epoch. fit_mlp_surrogate.py fits the surrogate to that table.
# ~2 minutes on 2 cores; run under nice (accuracy does not depend on the load).
# Usage: bench/search/measure_mlp_space.sh [CEREBRO] [NUM_MODELS] [OUT_CSV]
#        bench/search/measure_mlp_space.sh --optimum [CEREBRO]
#   --optimum trains the surrogate's optimum (mlp_surrogate.json) the same way with seeds
#   1..3 and prints its measured validation accuracy: how far the fitted peak is real.
# Needs Debian's dataset-fashion-mnist and numpy in /usr/bin/python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
OPTIMUM=0
if [ "${1:-}" = --optimum ]; then OPTIMUM=1; shift; fi
CEREBRO=${1:-build/cerebro}
NUM_MODELS=${2:-100}
OUT=${3:-bench/search/mlp_space_runs.csv}
PY=${PY:-/usr/bin/python3}
SRC=/usr/share/datasets/fashion-mnist
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# The first 20000 training examples (the file's order is already shuffled across classes).
"$PY" - "$SRC" "$TMP" 20000 <<'EOF'
import gzip, struct, sys
import numpy as np
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
    with gzip.open(f"{src}/{name}", "rb") as f:
        data = f.read()
    _, dtype, ndim = struct.unpack(">HBB", data[:4])
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    a = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)[:n]
    with gzip.open(f"{out}/{name}", "wb", compresslevel=1) as f:
        f.write(struct.pack(">HBB", 0, dtype, a.ndim) + struct.pack(">" + "I" * a.ndim, *a.shape))
        f.write(a.tobytes())
EOF

# The space: keep it in step with tpe_quality.cc's and optuna_quality.py's mlp_surrogate.
SPACE='  hidden: {choice: [[64], [128], [256], [256, 128]]}
  activation: {choice: [relu, tanh]}
  dropout: {uniform: [0.0, 0.5]}
  optimizer: {choice: [adam, sgd]}
  momentum: 0.9
  lr: {loguniform: [-5, -1]}
  weight_decay: {loguniform: [-6, -2]}
  batch_size: {quniform: [32, 256, 32]}'
SEARCH="{method: random, num_models: $NUM_MODELS}"
if [ $OPTIMUM = 1 ]; then  # the optimum's params, fixed: a grid of one model
  SPACE=$("$PY" -c 'import json, sys
p = json.load(open("bench/search/mlp_surrogate.json"))["optimum"]["params"]
print("\n".join(f"  {k}: {json.dumps(v)}" for k, v in p.items()) + "\n  momentum: 0.9")')
  SEARCH="{method: grid}"
fi
cat > "$TMP/spec.yaml" <<EOF
name: mlp_space_measure
data:
  format: idx
  train:
    images: $TMP/train-images-idx3-ubyte.gz
    labels: $TMP/train-labels-idx1-ubyte.gz
  validation: {fraction: 0.2}
  feature_scale: 0.00392156862745098
params:
  model: mlp
$SPACE
search: $SEARCH
run:
  epochs: 2
  workers: 1
  seed: 2026
EOF
if [ $OPTIMUM = 1 ]; then
  for seed in 1 2 3; do
    "$CEREBRO" run "$TMP/spec.yaml" --out "$TMP/opt$seed" --seed $seed --quiet > /dev/null
    "$PY" -c 'import json, sys; m = json.load(open(sys.argv[1]))["models"][0]
print("seed", sys.argv[2], "val accuracy", m["history"][-1]["val_accuracy"])' \
      "$TMP/opt$seed/summary.json" $seed
  done
  exit 0
fi
"$CEREBRO" run "$TMP/spec.yaml" --out "$TMP/run" --quiet >&2

"$PY" - "$TMP/run/summary.json" "$OUT" <<'EOF'
import csv, json, sys
summary = json.load(open(sys.argv[1]))
cols = ["hidden", "activation", "dropout", "optimizer", "lr", "weight_decay", "batch_size"]
with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["model"] + cols + ["val_accuracy", "val_loss"])
    for m in sorted(summary["models"], key=lambda m: m["id"]):
        if m["status"] != "completed":
            sys.exit(f"model {m['id']}: {m['status']}")
        p, last = m["params"], m["history"][-1]
        w.writerow([m["id"], "-".join(str(h) for h in p["hidden"]), p["activation"],
                    repr(p["dropout"]), p["optimizer"], repr(p["lr"]), repr(p["weight_decay"]),
                    p["batch_size"], last["val_accuracy"], repr(last["val_loss"])])
print(f"{sys.argv[2]}: {len(summary['models'])} models", file=sys.stderr)
EOF

#!/usr/bin/env bash
# State movement vs unit compute (issue 13 item 4): the MLP grid (examples/fashion_mnist/
# mlp_grid.yaml), 1 epoch, 2 workers, with run.checkpoint unit and epoch, and the same run
# with a binary from before the change (BEFORE=path/to/cerebro, optional). Prints, from each
# run's summary.json timing, transfer (driver <-> worker sockets), checkpoint (writing and
# reading state files, wherever done) and state_codec seconds as % of compute_seconds.
# Full-scale: run it under `flock /tmp/bench.lock`, never beside bench/run.sh.
# Usage: bench/state_movement.sh [REPEATS] (default 3, interleaved); BACKEND=ray: below.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cerebro="${CEREBRO:-$here/build/cerebro}"
before="${BEFORE:-}"
repeats="${1:-3}"
work="$(mktemp -d /tmp/state_movement.XXXXXX)"
trap 'rm -rf "$work"' EXIT
spec="${SPEC:-$here/examples/fashion_mnist/mlp_grid.yaml}"  # SPEC: another spec (a smoke test)
# order: fixed, so every arm trains the same numbers (each repetition cmp's its metrics).
if grep -q "^  order:" "$spec"; then cp "$spec" "$work/fixed.yaml"; else
  sed "s/^run:$/run:\n  order: fixed/" "$spec" > "$work/fixed.yaml"; fi
grep -q "^  order: fixed" "$work/fixed.yaml"
spec="$work/fixed.yaml"
sed "s/^run:$/run:\n  checkpoint: epoch/" "$spec" > "$work/epoch.yaml"
grep -q "checkpoint: epoch" "$work/epoch.yaml"
report() {  # label run_dir
  /usr/bin/python3 - "$1" "$2/summary.json" <<'PY'
import json, sys
label, path = sys.argv[1], sys.argv[2]
t = json.load(open(path))["timing"]
c = t["compute_seconds"]
moved = t["transfer_seconds"] + t["checkpoint_seconds"]
print(f"{label:8s} compute {c:8.2f} s  transfer {t['transfer_seconds']:6.3f} s  "
      f"checkpoint {t['checkpoint_seconds']:6.3f} s  codec {t['state_codec_seconds']:6.3f} s  "
      f"moved {100 * moved / c:5.2f}% of compute  bytes over sockets {t['state_bytes_moved']}  "
      f"wall {t['wall_seconds']:.2f} s")
PY
}
if [[ "${BACKEND:-local}" == ray ]]; then
  # BACKEND=ray: the Ray backend's two ways (exec/ray/ray_backend.h), 2 actors on a head of
  # its own: states by file (actors read and write the run's state files) vs through the
  # object store (actor to actor; the driver fetches each new state for its checkpoint).
  for i in $(seq 1 "$repeats"); do
    CEREBRO_RAY_STATES=object_store "$cerebro" run "$spec" --backend ray --epochs 1 \
      --out "$work/objects$i" --quiet
    report objects "$work/objects$i"
    CEREBRO_RAY_STATES=file "$cerebro" run "$spec" --backend ray --epochs 1 \
      --out "$work/file$i" --quiet
    report file "$work/file$i"
    cmp "$work/objects$i/metrics.csv" "$work/file$i/metrics.csv"
  done
  exit 0
fi
for i in $(seq 1 "$repeats"); do
  if [[ -n "$before" ]]; then
    "$before" run "$spec" --epochs 1 --out "$work/before$i" --quiet
    report before "$work/before$i"
  fi
  "$cerebro" run "$spec" --epochs 1 --out "$work/unit$i" --quiet
  report unit "$work/unit$i"
  "$cerebro" run "$work/epoch.yaml" --epochs 1 --out "$work/epoch$i" --quiet
  report epoch "$work/epoch$i"
  cmp "$work/unit$i/metrics.csv" "$work/epoch$i/metrics.csv"
  [[ -z "$before" ]] || cmp "$work/before$i/metrics.csv" "$work/unit$i/metrics.csv"
done

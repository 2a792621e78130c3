#!/usr/bin/env bash
# The side-by-side benchmark (issue 5): one command that prepares the workloads and
# prints one table per workload, written to bench/results/<date>-<workload>.md.
#
#   bench/run.sh [WORKLOADS] [REPEATS] [SYSTEMS]
#     WORKLOADS  space-separated, default "mlp_aug_4 cnn_plain" (also: mlp_aug_16)
#     REPEATS    runs per system, interleaved (default 3); medians are reported
#     SYSTEMS    default "mop task sequential dp pytorch pytorch_ddp ray_tune"; optional:
#                ray_tune_load (Ray Tune with each trial loading the data itself, the pattern
#                of Ray Tune's PyTorch tutorials, instead of tune.with_parameters)
#
# Systems: mop/task/sequential/dp are Cerebro's strategies (cerebro run --strategy);
# pytorch = bench/peers/pytorch_seq.py (configs one after another, one process);
# pytorch_ddp = bench/peers/pytorch_ddp.py (configs one after another, each on W
# DistributedDataParallel ranks that average gradients every batch, one partition each);
# ray_tune / ray_tune_load = bench/peers/ray_tune.py --data-passing object_store / per_trial.
#
# Needs scripts/setup.sh (Cerebro); installs the peers itself (bench/setup_peers.sh:
# Debian's python3-torch, a .venv-bench with Ray Tune), idempotently.
# Every run is wrapped in bench/peers/peak_rss.py, which samples the memory of the
# whole process tree (driver + workers, or Ray's raylet/GCS/workers).
set -euo pipefail
cd "$(dirname "$0")/.."
WORKLOADS=${1:-"mlp_aug_4 cnn_plain"}
REPEATS=${2:-3}
SYSTEMS=${3:-"mop task sequential dp pytorch pytorch_ddp ray_tune"}
PY=/usr/bin/python3
VENV_PY=.venv-bench/bin/python
for sys in $SYSTEMS; do
  case $sys in
    mop|task|sequential|dp|pytorch|pytorch_ddp|ray_tune|ray_tune_load) ;;
    *) echo "bench: unknown system '$sys'" >&2; exit 2 ;;
  esac
done
case " $SYSTEMS " in
  *" pytorch "*|*" pytorch_ddp "*|*" ray_tune "*|*" ray_tune_load "*)
    bash bench/setup_peers.sh > /dev/null ;;
esac
WORK=bench/work/runs-$(date +%Y%m%d-%H%M%S)
mkdir -p "$WORK"
# Private copies of the binaries: a rebuild during the benchmark cannot change them.
cp build/cerebro build/cerebro-worker "$WORK/"

case " $WORKLOADS " in *" mlp_aug_"*) $PY bench/make_augmented.py ;; esac

for wl in $WORKLOADS; do
  spec=bench/specs/$wl.yaml
  epochs=$($PY -c "import yaml,sys;print(yaml.safe_load(open('$spec'))['run']['epochs'])")
  workers=$($PY -c "import yaml,sys;print(yaml.safe_load(open('$spec'))['run']['workers'])")
  # The store the peers read: the same examples, shuffled once with the same seed.
  store=$WORK/$wl-store
  "$WORK/cerebro" prepare "$spec" --out "$store" --partitions "$workers" > /dev/null
  # The configurations, exactly as Cerebro generates them (a run's models.json).
  configs=$WORK/$wl-configs.json
  "$WORK/cerebro" configs "$spec" > "$configs"
  for r in $(seq 1 "$REPEATS"); do
    for sys in $SYSTEMS; do
      out=$WORK/$wl-$sys-$r
      echo "bench: $wl $sys run $r" >&2
      case $sys in
        mop|task|dp)
          $PY bench/peers/peak_rss.py --out "$out.mem.json" -- \
            "$WORK/cerebro" run "$spec" --strategy "$sys" --workers "$workers" --quiet --out "$out" \
            > "$out.log" 2>&1 ;;
        sequential)
          $PY bench/peers/peak_rss.py --out "$out.mem.json" -- \
            "$WORK/cerebro" run "$spec" --strategy sequential --quiet --out "$out" > "$out.log" 2>&1 ;;
        pytorch)
          $PY bench/peers/peak_rss.py --out "$out.mem.json" -- \
            "$VENV_PY" bench/peers/pytorch_seq.py --store "$store" --configs "$configs" \
            --epochs "$epochs" --out "$out.json" --quiet > "$out.log" 2>&1 ;;
        pytorch_ddp)
          $PY bench/peers/peak_rss.py --kill-leftovers --out "$out.mem.json" -- \
            "$VENV_PY" bench/peers/pytorch_ddp.py --store "$store" --configs "$configs" \
            --epochs "$epochs" --workers "$workers" --out "$out.json" --quiet > "$out.log" 2>&1 ;;
        ray_tune|ray_tune_load)
          passing=object_store
          [ "$sys" = ray_tune_load ] && passing=per_trial
          $PY bench/peers/peak_rss.py --kill-leftovers --out "$out.mem.json" -- \
            "$VENV_PY" bench/peers/ray_tune.py --store "$store" --configs "$configs" \
            --epochs "$epochs" --workers "$workers" --data-passing "$passing" \
            --out "$out.json" --quiet > "$out.log" 2>&1 ;;
      esac
    done
  done
  $PY bench/report.py --work "$WORK" --workload "$wl" --repeats "$REPEATS" --systems "$SYSTEMS" \
      --store "$store" --command "bench/run.sh \"$WORKLOADS\" $REPEATS \"$SYSTEMS\""
done

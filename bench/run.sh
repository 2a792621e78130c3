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
# Debian's python3-torch, a .venv-bench with Ray Tune), idempotently. BENCH_PEER_PY=PATH
# runs the peers with that Python instead and skips the set-up (smoke runs of the PyTorch
# peers with /usr/bin/python3 where .venv-bench is missing; Ray Tune needs the venv).
# Every run is wrapped in bench/peers/peak_rss.py, which samples the memory of the
# process tree of the command (driver + workers, or Ray's raylet/GCS/workers) and its own CPU.
#
# Like with like (issue 15): every timed `cerebro run` and `cerebro prepare` gets a fresh,
# empty CEREBRO_CACHE (a store cache would otherwise let a run skip preparing), so Cerebro
# prepares from the .gz files inside its timed process; the peers' store is prepared again
# in every repetition, timed the same way (peak_rss.py), and bench/report.py adds that to
# their wall. The peers get the spec's run.seed (--seed) and epochs; report.py checks both.
# BENCH_BUILD=DIR benchmarks the cerebro and cerebro-worker of DIR (default build/);
# BENCH_CACHE=off runs Cerebro with its store cache off instead of a fresh, empty one.
# BENCH_WORK=DIR keeps the runs there (default bench/work/runs-<time>); BENCH_RESULTS=DIR
# writes the tables there (default bench/results). bench/tests/test_run_sh.py uses all three.
set -euo pipefail
cd "$(dirname "$0")/.."
WORKLOADS=${1:-"mlp_aug_4 cnn_plain"}
REPEATS=${2:-3}
SYSTEMS=${3:-"mop task sequential dp pytorch pytorch_ddp ray_tune"}
PY=/usr/bin/python3
VENV_PY=${BENCH_PEER_PY:-.venv-bench/bin/python}
for sys in $SYSTEMS; do
  case $sys in
    mop|task|sequential|dp|pytorch|pytorch_ddp|ray_tune|ray_tune_load) ;;
    *) echo "bench: unknown system '$sys'" >&2; exit 2 ;;
  esac
done
case " $SYSTEMS " in
  *" pytorch "*|*" pytorch_ddp "*|*" ray_tune "*|*" ray_tune_load "*)
    [ -n "${BENCH_PEER_PY:-}" ] || bash bench/setup_peers.sh > /dev/null ;;
esac
WORK=${BENCH_WORK:-bench/work/runs-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$WORK"
# bench/lib.sh: timed (every command under the memory sampler, with a fresh, empty
# CEREBRO_CACHE; a failed run is reported and the benchmark goes on: report.py shows the
# system as failed), spec_field, private_binaries.
BENCH_NAME=bench
. bench/lib.sh
# Private copies of the binaries: a rebuild during the benchmark cannot change them.
# BENCH_BUILD=DIR takes them from DIR instead of build/.
private_binaries "${BENCH_BUILD:-build}"

case " $WORKLOADS " in *" mlp_aug_"*) $PY bench/make_augmented.py ;; esac

status=0
for wl in $WORKLOADS; do
  spec=bench/specs/$wl.yaml
  epochs=$(spec_field "$spec" run epochs)
  workers=$(spec_field "$spec" run workers)
  seed=$(spec_field "$spec" run seed)
  # The configurations, exactly as Cerebro generates them (a run's models.json).
  configs=$WORK/$wl-configs.json
  "$WORK/cerebro" configs "$spec" > "$configs"
  for r in $(seq 1 "$REPEATS"); do
    # The store the peers read: the same examples, shuffled once with the same seed,
    # prepared in every repetition under the same timer as the runs.
    store=$WORK/$wl-store-$r
    echo "bench: $wl prepare run $r" >&2
    timed "$WORK/$wl-prep-$r" "$WORK/cerebro" prepare "$spec" --out "$store" --partitions "$workers"
    for sys in $SYSTEMS; do
      out=$WORK/$wl-$sys-$r
      echo "bench: $wl $sys run $r" >&2
      case $sys in
        mop|task|dp)
          timed "$out" "$WORK/cerebro" run "$spec" --strategy "$sys" --workers "$workers" --quiet \
            --out "$out" || status=1 ;;
        sequential)
          timed "$out" "$WORK/cerebro" run "$spec" --strategy sequential --quiet --out "$out" \
            || status=1 ;;
        pytorch)
          timed "$out" "$VENV_PY" bench/peers/pytorch_seq.py --store "$store" --configs "$configs" \
            --epochs "$epochs" --seed "$seed" --out "$out.json" --quiet || status=1 ;;
        pytorch_ddp)
          timed "$out" "$VENV_PY" bench/peers/pytorch_ddp.py --store "$store" --configs "$configs" \
            --epochs "$epochs" --seed "$seed" --workers "$workers" --out "$out.json" --quiet \
            || status=1 ;;
        ray_tune|ray_tune_load)
          passing=object_store
          [ "$sys" = ray_tune_load ] && passing=per_trial
          timed "$out" "$VENV_PY" bench/peers/ray_tune.py --store "$store" --configs "$configs" \
            --epochs "$epochs" --seed "$seed" --workers "$workers" --data-passing "$passing" \
            --out "$out.json" --quiet || status=1 ;;
      esac
    done
    # One store on disk at a time: the last one stays for report.py's byte counts.
    [ "$r" = "$REPEATS" ] || rm -rf "$store"
  done
  $PY bench/report.py --work "$WORK" --workload "$wl" --repeats "$REPEATS" --systems "$SYSTEMS" \
      --store "$WORK/$wl-store-$REPEATS" --spec "$spec" --results-dir "${BENCH_RESULTS:-bench/results}" \
      --command "bench/run.sh \"$WORKLOADS\" $REPEATS \"$SYSTEMS\"" || status=1
done
exit "$status"

#!/usr/bin/env bash
# The PBT benchmark (issue 11): Cerebro's PBT against the best fixed-hyperparameter model of
# the same population and against Ray Tune's PopulationBasedTraining, in one invocation,
# interleaved over the repeats; the table goes to bench/results/<date>-pbt.md
# (<date>-<workload>.md for other workloads).
#
#   bench/pbt/run.sh [REPEATS] [WORKLOAD]
#     REPEATS   runs per system, interleaved (default 3); medians are reported
#     WORKLOAD  default pbt_aug (bench/specs/pbt_aug.yaml and pbt_aug_fixed.yaml: 8 MLPs on
#               the augmented 300K Fashion-MNIST); pbt_smoke: the same on 3,000 images
#   Full scale: flock /tmp/bench.lock bench/pbt/run.sh
#
# Per repetition, in this order:
#   prep          `cerebro prepare` of the store the peer loads (timed; added to its wall)
#   cerebro_pbt   `cerebro run WORKLOAD.yaml` (search.method pbt; it prepares inside)
#   cerebro_fixed `cerebro run WORKLOAD_fixed.yaml`: the same 8 initial configurations
#                 (random search draws them as PBT does; checked below) trained with their
#                 initial hyperparameters for all epochs: the "best fixed" baseline. Only
#                 its accuracy is compared, and with run.order fixed a Cerebro run's metrics
#                 do not depend on timing, so by default it runs in repetition 1 only
#                 (BENCH_FIXED_REPEATS=N: in the first N), which keeps 3 repeats within
#                 25 minutes on 2 cores
#   ray_tune_pbt  bench/peers/ray_tune_pbt.py on the same configs (`cerebro configs`, which
#                 report.py checks against the PBT run's initial models), the spec's
#                 interval, quantile, explore rules and bounds, run.workers trials at a time
# Every run goes through bench/peers/peak_rss.py (memory of the whole process tree) with a
# fresh, empty CEREBRO_CACHE, as bench/run.sh does. BENCH_BUILD=DIR takes cerebro and
# cerebro-worker from DIR (default build/); BENCH_WORK=DIR keeps the runs there (default
# bench/work/pbt-<time>); BENCH_RESULTS=DIR writes the table there (default bench/results);
# BENCH_PEER_PY=PATH runs the peer with that Python (default .venv-bench/bin/python, made
# by bench/setup_peers.sh when missing). bench/tests/test_pbt_run_sh.py uses all of them.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPEATS=${1:-3}
FIXED_REPEATS=${BENCH_FIXED_REPEATS:-1}
WORKLOAD=${2:-pbt_aug}
SPEC=bench/specs/$WORKLOAD.yaml
FIXED=bench/specs/${WORKLOAD}_fixed.yaml
[ -f "$SPEC" ] && [ -f "$FIXED" ] || { echo "bench/pbt: no $SPEC or $FIXED" >&2; exit 2; }
PY=/usr/bin/python3
VENV_PY=${BENCH_PEER_PY:-.venv-bench/bin/python}
[ -n "${BENCH_PEER_PY:-}" ] || bash bench/setup_peers.sh > /dev/null
WORK=${BENCH_WORK:-bench/work/pbt-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$WORK"
BENCH_NAME=bench/pbt
. bench/lib.sh  # timed, spec_field, private_binaries (a rebuild cannot change them)
private_binaries "${BENCH_BUILD:-build}"

case $WORKLOAD in
  pbt_smoke) $PY bench/early_stopping/make_subset.py --train 3000 --val 1000 \
               --out bench/work/fmnist-pbt-small ;;
  *) $PY bench/make_augmented.py ;;
esac

epochs=$(spec_field "$SPEC" run epochs)
workers=$(spec_field "$SPEC" run workers)
seed=$(spec_field "$SPEC" run seed)
configs=$WORK/$WORKLOAD-configs.json
"$WORK/cerebro" configs "$SPEC" > "$configs"
"$WORK/cerebro" configs "$FIXED" > "$WORK/$WORKLOAD-fixed-configs.json"
cmp -s "$configs" "$WORK/$WORKLOAD-fixed-configs.json" || {
  echo "bench/pbt: $SPEC and $FIXED generate different configurations" >&2; exit 1; }

status=0
for r in $(seq 1 "$REPEATS"); do
  store=$WORK/$WORKLOAD-store-$r
  echo "bench/pbt: $WORKLOAD prepare run $r" >&2
  timed "$WORK/$WORKLOAD-prep-$r" "$WORK/cerebro" prepare "$SPEC" --out "$store" \
    --partitions "$workers" || status=1
  echo "bench/pbt: $WORKLOAD cerebro_pbt run $r" >&2
  timed "$WORK/$WORKLOAD-cerebro_pbt-$r" "$WORK/cerebro" run "$SPEC" --workers "$workers" \
    --quiet --out "$WORK/$WORKLOAD-cerebro_pbt-$r" || status=1
  if [ "$r" -le "$FIXED_REPEATS" ]; then
    echo "bench/pbt: $WORKLOAD cerebro_fixed run $r" >&2
    timed "$WORK/$WORKLOAD-cerebro_fixed-$r" "$WORK/cerebro" run "$FIXED" --workers "$workers" \
      --quiet --out "$WORK/$WORKLOAD-cerebro_fixed-$r" || status=1
  fi
  echo "bench/pbt: $WORKLOAD ray_tune_pbt run $r" >&2
  timed "$WORK/$WORKLOAD-ray_tune_pbt-$r" "$VENV_PY" bench/peers/ray_tune_pbt.py --spec "$SPEC" \
    --store "$store" --configs "$configs" --epochs "$epochs" --seed "$seed" \
    --workers "$workers" --out "$WORK/$WORKLOAD-ray_tune_pbt-$r.json" --quiet || status=1
  # One store on disk at a time: the last one stays for the report's byte counts.
  [ "$r" = "$REPEATS" ] || rm -rf "$store"
done
$PY bench/pbt/report.py --work "$WORK" --workload "$WORKLOAD" --repeats "$REPEATS" \
  --fixed-repeats "$(( FIXED_REPEATS < REPEATS ? FIXED_REPEATS : REPEATS ))" \
  --spec "$SPEC" --configs "$configs" \
  --results-dir "${BENCH_RESULTS:-bench/results}" --command "bench/pbt/run.sh $REPEATS $WORKLOAD" \
  || status=1
exit "$status"

#!/usr/bin/env bash
# The early-stopping benchmark (issue 11): Cerebro's ASHA against Ray Tune's
# ASHAScheduler over the same configurations, with the full grid as the reference, in one
# command that writes bench/results/<date>-early-stopping.md (bench/early_stopping/report.py).
#
#   bench/early_stopping/run.sh [WORKLOAD] [REPEATS]
#     WORKLOAD  es (default: bench/specs/es_grid.yaml + es_asha.yaml, 27 MLPs on the
#               augmented 300K Fashion-MNIST) or es_smoke (the same grid on 20,000 examples:
#               a calibration and check of the harness, not a benchmark)
#     REPEATS   ASHA runs per system, interleaved (default 3); medians are reported
#
# What runs: (1) once, the full grid (Cerebro, `cerebro run WL_grid.yaml`, every model
# max_t = run.epochs epochs): its best final-epoch validation accuracy is the reference;
# then REPEATS times, in this order: (2) the peers' store (`cerebro prepare`, timed),
# (3) Cerebro ASHA (WL_asha.yaml: search.sampler grid, so the grid's configurations in grid
# order), (4) Ray Tune with ASHAScheduler (bench/peers/ray_tune.py --scheduler asha) over
# the grid's models.json, with the ASHA spec's grace_period, reduction_factor and max_t,
# run.workers concurrent trials of 1 CPU and one torch thread each, data through the
# object store (tune.with_parameters).
#
# bench/run.sh's conventions: private copies of the binaries (BENCH_BUILD=DIR, default
# build/), every timed run and prepare wrapped in bench/peers/peak_rss.py (memory of all
# processes), a fresh empty CEREBRO_CACHE per timed run (BENCH_CACHE=off: none), the peers'
# store prepared in every repetition and timed the same way, the spec's seed and epochs
# passed to the peer, Ray Tune's exit wait reported apart. WL.start files hold the wall
# clock (date +%s.%N) just before each timed command: the time to reach an accuracy is
# measured from there. BENCH_WORK=DIR (default bench/work/es-<time>), BENCH_RESULTS=DIR
# (default bench/results), BENCH_PEER_PY=PATH (the peers' Python; skips the set-up).
# bench/tests/test_early_stopping.py runs this script with stand-ins for both systems.
set -euo pipefail
cd "$(dirname "$0")/../.."
WL=${1:-es}
REPEATS=${2:-3}
PY=/usr/bin/python3
VENV_PY=${BENCH_PEER_PY:-.venv-bench/bin/python}
grid_spec=bench/specs/${WL}_grid.yaml
asha_spec=bench/specs/${WL}_asha.yaml
for f in "$grid_spec" "$asha_spec"; do
  [ -f "$f" ] || { echo "early_stopping: no $f (workloads: es, es_smoke)" >&2; exit 2; }
done
[ -n "${BENCH_PEER_PY:-}" ] || bash bench/setup_peers.sh > /dev/null
WORK=${BENCH_WORK:-bench/work/es-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$WORK"
BENCH_NAME=early_stopping
. bench/lib.sh  # timed, spec_field, private_binaries
private_binaries "${BENCH_BUILD:-build}"

case $WL in
  es_smoke) $PY bench/early_stopping/make_subset.py --train 20000 --val 5000 \
              --out bench/work/fmnist-20k ;;
  *) $PY bench/make_augmented.py ;;
esac

epochs=$(spec_field "$asha_spec" run epochs)
workers=$(spec_field "$asha_spec" run workers)
seed=$(spec_field "$asha_spec" run seed)
grace=$(spec_field "$asha_spec" search grace_period 1)
eta=$(spec_field "$asha_spec" search reduction_factor 4)
max_t=$(spec_field "$asha_spec" search max_t "$epochs")

# The configurations, exactly as Cerebro generates the grid (a run's models.json); the
# report checks that the ASHA run trained the same ones.
configs=$WORK/$WL-configs.json
"$WORK/cerebro" configs "$grid_spec" > "$configs"

status=0
echo "early_stopping: $WL grid (reference)" >&2
timed "$WORK/$WL-grid-1" "$WORK/cerebro" run "$grid_spec" --workers "$workers" --quiet \
  --out "$WORK/$WL-grid-1" || status=1
for r in $(seq 1 "$REPEATS"); do
  store=$WORK/$WL-store-$r
  echo "early_stopping: $WL prepare run $r" >&2
  timed "$WORK/$WL-prep-$r" "$WORK/cerebro" prepare "$asha_spec" --out "$store" \
    --partitions "$workers" || status=1
  echo "early_stopping: $WL cerebro_asha run $r" >&2
  timed "$WORK/$WL-cerebro_asha-$r" "$WORK/cerebro" run "$asha_spec" --workers "$workers" \
    --quiet --out "$WORK/$WL-cerebro_asha-$r" || status=1
  echo "early_stopping: $WL ray_tune_asha run $r" >&2
  timed "$WORK/$WL-ray_tune_asha-$r" "$VENV_PY" bench/peers/ray_tune.py --store "$store" \
    --configs "$configs" --epochs "$epochs" --seed "$seed" --workers "$workers" \
    --data-passing object_store --scheduler asha --grace-period "$grace" \
    --reduction-factor "$eta" --max-t "$max_t" --out "$WORK/$WL-ray_tune_asha-$r.json" \
    --quiet || status=1
  # One store on disk at a time: the last one stays for the report's byte counts.
  [ "$r" = "$REPEATS" ] || rm -rf "$store"
done
$PY bench/early_stopping/report.py --work "$WORK" --workload "$WL" --repeats "$REPEATS" \
  --grid-spec "$grid_spec" --asha-spec "$asha_spec" --results-dir "${BENCH_RESULTS:-bench/results}" \
  --command "bench/early_stopping/run.sh $WL $REPEATS" || status=1
exit "$status"

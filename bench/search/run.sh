#!/usr/bin/env bash
# Search quality of TPE against random search and Optuna's TPESampler on synthetic
# objectives (issue 11, "Search quality"). Never timed; ~2 s for ours, ~1 min for Optuna
# at 20 seeds. Usage: bench/search/run.sh [BUILD_DIR] [SEEDS] > result.md
# Optuna runs when $PY (default .venv-bench/bin/python, where bench/setup_peers.sh installs a
# pinned optuna) can import it;
# it first checks that ours and Optuna's evaluate mlp_surrogate.json alike (to 1e-9).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
SEEDS=${2:-20}
PY=${PY:-.venv-bench/bin/python}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
ninja -C "$BUILD" cerebro_tpe_quality_bench >&2
"$BUILD/cerebro_tpe_quality_bench" --seeds "$SEEDS" > "$TMP/ours.csv"
files=("$TMP/ours.csv")
if "$PY" -c 'import optuna' 2>/dev/null; then
  if [ -f bench/search/mlp_surrogate.json ]; then
    "$PY" bench/search/fit_mlp_surrogate.py --check "$BUILD/cerebro_tpe_quality_bench"
  fi
  "$PY" bench/search/optuna_quality.py --seeds "$SEEDS" > "$TMP/optuna.csv"
  files+=("$TMP/optuna.csv")
  echo "optuna $("$PY" -c 'import optuna; print(optuna.__version__)'), $SEEDS seeds" >&2
else
  echo "run.sh: no optuna in $PY: Optuna's rows left out" >&2
fi
python3 bench/search/report.py "${files[@]}"

#!/usr/bin/env bash
# Set-up for the external peers of the side-by-side benchmark (bench/peers/):
#   - Debian's python3-torch (PyTorch 1.13.1 on the same LibTorch Cerebro links) and numpy;
#   - OpenBLAS as the libblas.so.3 alternative (as scripts/setup.sh does), so PyTorch and
#     Cerebro run the same BLAS;
#   - a virtualenv .venv-bench made from /usr/bin/python3 with --system-site-packages (it
#     sees python3-torch and numpy) holding a pinned ray[tune] and a pinned optuna (the
#     search-quality bench's peer, bench/search/).
# Idempotent: a second run installs nothing and only prints the versions.
# Does not touch .venv (the Ray C++ API venv of scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

RAY_VERSION=2.60.0
OPTUNA_VERSION=5.0.0
VENV=.venv-bench

. scripts/lib.sh
apt_install_missing setup_peers python3-torch python3-numpy python3-venv libopenblas0-openmp
use_openblas setup_peers  # the same BLAS as Cerebro

[ -x "$VENV/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$VENV"
# Debian's torch 1.13 is built against NumPy 1.x: a NumPy 2 wheel in the venv (which
# ray[tune]'s pandas/pyarrow would pull in) shadows Debian's numpy and breaks
# torch.from_numpy ("Numpy is not available"). Pin numpy to Debian's own version (pip
# then keeps the system copy) and keep pandas/pyarrow on releases that support NumPy 1.x
# (pyarrow 26 and pandas 3 require NumPy 2).
SYS_NUMPY=$(/usr/bin/python3 -c 'import numpy; print(numpy.__version__)')
CONSTRAINTS=$(mktemp)
trap 'rm -f "$CONSTRAINTS"' EXIT
printf 'numpy==%s\npyarrow<26\npandas<3\n' "$SYS_NUMPY" >"$CONSTRAINTS"
venv_ok() {
  "$VENV/bin/python" - "$RAY_VERSION" "$OPTUNA_VERSION" <<'PYEOF' 2>/dev/null
import sys, numpy, torch, ray, ray.tune, optuna
assert ray.__version__ == sys.argv[1]
assert optuna.__version__ == sys.argv[2]
assert numpy.__file__.startswith("/usr/lib/python3/"), numpy.__file__
torch.from_numpy(numpy.zeros(1))
PYEOF
}
if ! venv_ok; then
  echo "setup_peers: installing ray[tune]==$RAY_VERSION and optuna==$OPTUNA_VERSION into $VENV" \
       "(numpy stays Debian's $SYS_NUMPY)"
  # Remove a NumPy/pandas that shadows Debian's (left by an unconstrained install).
  if [ -n "$(ls -d "$VENV"/lib/python3*/site-packages/numpy 2>/dev/null)" ]; then
    "$VENV/bin/pip" uninstall -y -q numpy pandas
  fi
  "$VENV/bin/pip" install -q --disable-pip-version-check -c "$CONSTRAINTS" "ray[tune]==$RAY_VERSION" \
    "optuna==$OPTUNA_VERSION"
  venv_ok || { echo "setup_peers: $VENV is still broken (see above)" >&2; exit 1; }
fi

"$VENV/bin/python" - <<'EOF'
import sys, numpy, torch, ray, optuna
print(f"setup_peers: python {sys.version.split()[0]} ({sys.executable})")
print(f"setup_peers: torch {torch.__version__} (from {torch.__file__})")
print(f"setup_peers: numpy {numpy.__version__}")
print(f"setup_peers: ray {ray.__version__}")
print(f"setup_peers: optuna {optuna.__version__}")
EOF
if grep -qw avx512f /proc/cpuinfo && [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  echo "setup_peers: note: this CPU has AVX-512; the peer runners set OPENBLAS_CORETYPE=SkylakeX" \
       "for their training processes (as Cerebro's workers do)"
fi

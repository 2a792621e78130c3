#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a built Cerebro: installs the system
# packages, makes OpenBLAS the libblas.so.3 that LibTorch loads (Debian's default
# reference BLAS trains ~15x slower), then configures and builds into build/.
# Idempotent: re-running only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev                 # LibTorch 1.13 (CPU), C++ API
  libopenblas0-openmp          # fast BLAS for LibTorch (see the alternative below)
  dataset-fashion-mnist        # the real data the examples and tests use
  libyaml-cpp-dev nlohmann-json3-dev zlib1g-dev libgtest-dev
  # Python: the same LibTorch for Python (export is checked with torch.jit.load, user
  # models are scripted with it), and what the `cerebro` Python package builds and is
  # tested with. Always Debian's /usr/bin/python3, never a pyenv or conda python.
  python3-torch python3-numpy python3-pandas python3-pytest pybind11-dev
)

. scripts/lib.sh
apt_install_missing setup "${PACKAGES[@]}"
use_openblas setup

# Ray's C++ API (for `--backend ray`) comes only as a pip wheel: install it, pinned, into
# a project-local virtualenv made from Debian's python3 (never the system site-packages).
# CMake then finds .venv/.../ray/cpp and builds the Ray backend. CEREBRO_SKIP_RAY=1 skips
# this; the local backend builds and works without Ray.
RAY_VERSION=2.60.0
if [ "${CEREBRO_SKIP_RAY:-0}" != "1" ]; then
  /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install_missing setup python3-venv
  [ -x .venv/bin/python ] || /usr/bin/python3 -m venv .venv
  if ! .venv/bin/python -c "import ray, sys; sys.exit(ray.__version__ != '$RAY_VERSION')" 2>/dev/null \
     || [ ! -e "$(.venv/bin/python -c 'import ray, os; print(os.path.dirname(ray.__file__))')/cpp/lib/libray_api.so" ]; then
    echo "setup: installing ray[cpp]==$RAY_VERSION into .venv"
    .venv/bin/pip install -q "ray[cpp]==$RAY_VERSION"
  fi
  echo "setup: Ray $(.venv/bin/python -c 'import ray; print(ray.__version__)') in .venv"
fi

# The TensorBoard test (tests/tensorboard_test.py) reads the event files back with the
# `tensorboard` package itself: pinned, in a test-only virtualenv (.venv-test) made from
# Debian's python3. CMake registers the test only when .venv-test exists, so
# CEREBRO_SKIP_TEST_VENV=1 skips this and that test.
TENSORBOARD_VERSION=2.21.0
if [ "${CEREBRO_SKIP_TEST_VENV:-0}" != "1" ]; then
  /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install_missing setup python3-venv
  [ -x .venv-test/bin/python ] || /usr/bin/python3 -m venv .venv-test
  if ! .venv-test/bin/python -c \
      "import tensorboard, sys; sys.exit(tensorboard.__version__ != '$TENSORBOARD_VERSION')" 2>/dev/null; then
    echo "setup: installing tensorboard==$TENSORBOARD_VERSION into .venv-test"
    .venv-test/bin/pip install -q "tensorboard==$TENSORBOARD_VERSION"
  fi
  echo "setup: tensorboard $TENSORBOARD_VERSION in .venv-test"
fi

# The report's browser test (tests/report_test.cc) renders `cerebro report --format html`
# in headless Chromium; it skips without it, so CEREBRO_SKIP_CHROMIUM=1 skips installing it.
if [ "${CEREBRO_SKIP_CHROMIUM:-0}" != "1" ]; then
  apt_install_missing setup chromium
fi

BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR"
echo "setup: built $BUILD_DIR/cerebro and $BUILD_DIR/cerebro-worker"

# The Python package (python/cerebro over the module built above): a virtualenv .venv-py
# made from Debian's python3 that sees its torch, numpy and pandas (--system-site-packages;
# nothing is pip-installed), with a .pth putting python/ on its path and naming this
# build, so `.venv-py/bin/python examples/python/fashion_mnist.py` needs no PYTHONPATH.
# CEREBRO_SKIP_PYTHON=1 skips it.
if [ "${CEREBRO_SKIP_PYTHON:-0}" != "1" ] && ls "$BUILD_DIR"/python/cerebro/_core*.so >/dev/null 2>&1; then
  [ -x .venv-py/bin/python ] || /usr/bin/python3 -m venv --without-pip --system-site-packages .venv-py
  py_site=$(.venv-py/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  printf '%s\nimport os; os.environ.setdefault("CEREBRO_BUILD_DIR", "%s")\n' \
    "$PWD/python" "$(cd "$BUILD_DIR" && pwd)" > "$py_site/cerebro.pth"
  .venv-py/bin/python -c 'import cerebro; cerebro._native.core()'
  echo "setup: the cerebro Python package in .venv-py (.venv-py/bin/python examples/python/fashion_mnist.py)"
fi

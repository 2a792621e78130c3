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
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# LibTorch links libblas.so.3; point that alternative at OpenBLAS.
arch_triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
openblas="/usr/lib/${arch_triplet}/openblas-openmp/libblas.so.3"
if [ -e "$openblas" ]; then
  $SUDO update-alternatives --set "libblas.so.3-${arch_triplet}" "$openblas" >/dev/null
  lapack="/usr/lib/${arch_triplet}/openblas-openmp/liblapack.so.3"
  [ -e "$lapack" ] && $SUDO update-alternatives --set "liblapack.so.3-${arch_triplet}" "$lapack" >/dev/null
fi
echo "setup: libblas.so.3 -> $(readlink -f /usr/lib/${arch_triplet}/libblas.so.3)"

# Ray's C++ API (for `--backend ray`) comes only as a pip wheel: install it, pinned, into
# a project-local virtualenv made from Debian's python3 (never the system site-packages).
# CMake then finds .venv/.../ray/cpp and builds the Ray backend. CEREBRO_SKIP_RAY=1 skips
# this; the local backend builds and works without Ray.
RAY_VERSION=2.60.0
if [ "${CEREBRO_SKIP_RAY:-0}" != "1" ]; then
  if ! /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv
  fi
  [ -x .venv/bin/python ] || /usr/bin/python3 -m venv .venv
  if ! .venv/bin/python -c "import ray, sys; sys.exit(ray.__version__ != '$RAY_VERSION')" 2>/dev/null \
     || [ ! -e "$(.venv/bin/python -c 'import ray, os; print(os.path.dirname(ray.__file__))')/cpp/lib/libray_api.so" ]; then
    echo "setup: installing ray[cpp]==$RAY_VERSION into .venv"
    .venv/bin/pip install -q "ray[cpp]==$RAY_VERSION"
  fi
  echo "setup: Ray $(.venv/bin/python -c 'import ray; print(ray.__version__)') in .venv"
fi

BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR"
echo "setup: built $BUILD_DIR/cerebro and $BUILD_DIR/cerebro-worker"

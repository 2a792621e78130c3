# Shared by scripts/setup.sh and bench/setup_peers.sh (sourced, not run).

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
arch_triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)

# apt_install_missing TAG PACKAGE...: installs the Debian packages not yet installed.
apt_install_missing() {
  local tag=$1; shift
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "$tag: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# use_openblas TAG: points the libblas.so.3 (and liblapack.so.3) alternative, which LibTorch
# links, at OpenBLAS (Debian's default reference BLAS trains ~15x slower), and says
# where libblas.so.3 now points.
use_openblas() {
  local openblas lapack
  openblas="/usr/lib/${arch_triplet}/openblas-openmp/libblas.so.3"
  if [ -e "$openblas" ]; then
    $SUDO update-alternatives --set "libblas.so.3-${arch_triplet}" "$openblas" >/dev/null
    lapack="/usr/lib/${arch_triplet}/openblas-openmp/liblapack.so.3"
    [ -e "$lapack" ] && $SUDO update-alternatives --set "liblapack.so.3-${arch_triplet}" "$lapack" >/dev/null
  fi
  echo "$1: libblas.so.3 -> $(readlink -f "/usr/lib/${arch_triplet}/libblas.so.3")"
}

"""Finds the native module cerebro._core: built by CMake into BUILD/python/cerebro/, where
BUILD is $CEREBRO_BUILD_DIR or the repository's build/ (what scripts/setup.sh builds)."""

import os

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_core = None


def build_dir():
    """The build directory whose module and cerebro-worker the package uses."""
    return os.path.abspath(os.environ.get("CEREBRO_BUILD_DIR") or os.path.join(_REPO, "build"))


def extend_package_path(package_path):
    """Adds BUILD/python/cerebro to the package's __path__ so `cerebro._core` imports."""
    d = os.path.join(build_dir(), "python", "cerebro")
    if os.path.isdir(d) and d not in package_path:
        package_path.append(d)


def core():
    """The native module, imported on first use (ImportError saying how to build it)."""
    global _core
    if _core is None:
        try:
            from . import _core as c
        except ImportError as e:
            raise ImportError(
                f"cerebro's native module is not built in {build_dir()} ({e}); run "
                "scripts/setup.sh, or set CEREBRO_BUILD_DIR to a build made with "
                "pybind11-dev installed") from e
        _core = c
    return _core

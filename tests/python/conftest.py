"""Fixtures for the cerebro package's tests: small deterministic datasets and the paths
of this build's command line. Run with Debian's python3: `python3 -m pytest tests/python`
(ctest sets PYTHONPATH=python and CEREBRO_BUILD_DIR; by hand, both default to the
repository's python/ and build/)."""

import os
import sys

import numpy as np
import pytest

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(_REPO, "python"))

import cerebro  # noqa: E402
from cerebro import _native  # noqa: E402


def make_blobs(n=240, features=8, classes=3, seed=1):
    """``n`` examples of ``classes`` well-separated Gaussian classes (float32, int64)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4, size=(classes, features))
    y = rng.integers(0, classes, size=n)
    X = (centers[y] + rng.normal(0, 1, size=(n, features))).astype(np.float32)
    return X, y.astype(np.int64)


@pytest.fixture
def blobs():
    return make_blobs()


@pytest.fixture
def small_space():
    """Two tiny MLPs (a grid over lr)."""
    return {"model": "mlp", "hidden": [16], "lr": cerebro.choice(1e-2, 3e-3),
            "batch_size": 32}


@pytest.fixture
def cli():
    path = _native.core().cli_path
    if not os.path.exists(path):
        pytest.skip(f"{path}: the cerebro command is not built")
    return path


def fashion_subset(n_train=600, n_val=200):
    if not os.path.exists(cerebro.data.FASHION_MNIST_DIR):
        pytest.skip("dataset-fashion-mnist is not installed")
    X, y = cerebro.load_fashion_mnist("train")
    Xv, yv = cerebro.load_fashion_mnist("test")
    return (X[:n_train], y[:n_train]), (Xv[:n_val], yv[:n_val])

"""Cerebro from Python: model selection with Model Hopper Parallelism on a C++ engine.

    import cerebro
    exp = cerebro.Experiment(
        data="fashion_mnist",
        params={"model": "mlp", "hidden": cerebro.choice([256], [512, 256]),
                "lr": cerebro.choice(1e-3, 3e-4), "batch_size": 128},
        search=cerebro.Grid(), epochs=2, workers=2, seed=0)
    result = exp.run()
    result.to_pandas()          # one row per model
    result.best.params, result.best.metrics

Data as NumPy arrays, a pandas DataFrame, a file or the bundled Fashion-MNIST; a search
space of :func:`choice`, :func:`uniform`, :func:`loguniform`, :func:`quniform` and
:func:`when`; procedures :class:`Grid`, :class:`Random`, :class:`TPE`, :class:`ASHA`,
:class:`Hyperband`, :class:`PBT`; your own PyTorch model as ``model=fn``; ask/tell with
:class:`TPESampler` and :class:`RandomSampler`; :func:`open` and :func:`resume` for any
run directory (the same as the ``cerebro`` command line's).
"""

from . import _native

_native.extend_package_path(__path__)

from .data import load_fashion_mnist  # noqa: E402
from .experiment import Experiment, resume, run, run_spec  # noqa: E402
from .result import BestModel, Result, open_run as open  # noqa: E402,A001
from .search import (ASHA, PBT, TPE, Grid, Hyperband, Random, RandomSampler,  # noqa: E402
                     TPESampler)
from .space import choice, loguniform, qloguniform, quniform, uniform, when  # noqa: E402

__all__ = ["Experiment", "run", "run_spec", "resume", "open", "Result", "BestModel",
           "choice", "uniform", "loguniform", "quniform", "qloguniform", "when",
           "Grid", "Random", "TPE", "ASHA", "Hyperband", "PBT",
           "TPESampler", "RandomSampler", "load_fashion_mnist"]

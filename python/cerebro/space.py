"""Search-space helpers: the distributions of the spec's ``params`` section, as values.

Each helper returns the plain dict the spec itself uses, so a space may mix helpers,
literal spec dicts and fixed values::

    params = {
        "model": "mlp",
        "hidden": cerebro.choice([128], [256, 128]),
        "lr": cerebro.loguniform(1e-4, 1e-1),        # values, as in Ray Tune / Optuna
        "dropout": cerebro.uniform(0.0, 0.3),
        "batch_size": cerebro.quniform(64, 256, 64),
        "optimizer": cerebro.choice("sgd", "adam"),
        "momentum": cerebro.when({"optimizer": "sgd"}, 0.9),   # only for SGD
    }

A list is a fixed value (``"hidden": [256]``); a dict is a spec form
(``{"choice": [...]}``, ``{"loguniform": [-4, -1]}`` with the spec's base-10 exponents,
``{"when": {...}, "value": ...}``). The engine validates the space and names the field in
its error (``ValueError: params.lr: ...``).
"""

import math

__all__ = ["choice", "uniform", "loguniform", "quniform", "qloguniform", "when"]


def choice(*values):
    """One of ``values`` (grid search expands every choice).

    ``choice(1e-3, 1e-4)`` and ``choice([1e-3, 1e-4])`` are the same: a single list
    argument is the list of values. To choose between lists, give them as arguments:
    ``choice([128], [256, 128])``.
    """
    if len(values) == 1 and isinstance(values[0], (list, tuple)):
        values = values[0]
    return {"choice": list(values)}


def uniform(low, high):
    """A float drawn uniformly from [low, high)."""
    return {"uniform": [low, high]}


def _exponent(x, name):
    if not (isinstance(x, (int, float)) and x > 0):
        raise ValueError(f"{name}: loguniform bounds are positive values, got {x!r}")
    return math.log10(x)


def loguniform(low, high):
    """A float drawn uniformly in log space from [low, high] (the values, e.g. 1e-4, 1e-1).

    The spec writes base-10 exponents (``{"loguniform": [-4, -1]}``); this helper takes
    the values themselves, as Ray Tune and Optuna do, and converts them.
    """
    return {"loguniform": [_exponent(low, "low"), _exponent(high, "high")]}


def quniform(low, high, q):
    """``round(uniform(low, high) / q) * q``; integers when low, high and q are."""
    return {"quniform": [low, high, q]}


def qloguniform(low, high, q):
    """``round(loguniform(low, high) / q) * q`` (bounds as values, like loguniform)."""
    return {"qloguniform": [_exponent(low, "low"), _exponent(high, "high"), q]}


def when(condition, value):
    """``value`` (fixed, or a distribution) only in configurations where ``condition``
    holds: a dict ``{param: allowed}`` whose params come earlier in the space and are
    choices or fixed values; ``allowed`` is one value or a list of them.

    ``when({"optimizer": "sgd"}, 0.9)`` gives momentum 0.9 to SGD models only;
    ``when({"model": "cnn"}, choice([8, 16], [16, 32]))`` searches channels for CNNs.
    """
    if not isinstance(condition, dict) or not condition:
        raise ValueError("when: the condition is a dict {param: allowed value(s)}")
    out = {"when": dict(condition)}
    if isinstance(value, dict) and "when" not in value:
        out.update(value)
    else:
        out["value"] = value
    return out

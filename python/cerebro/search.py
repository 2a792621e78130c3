"""Search procedures as objects (the spec's ``search`` section), and ask/tell samplers.

A procedure is handed to :class:`cerebro.Experiment` (``search=cerebro.TPE(16)``); its
knobs are the spec's, with the same names and defaults, and the engine validates them
(``ValueError: search.n_ei_candidates: expected a positive integer, got 0``).

:class:`TPESampler` and :class:`RandomSampler` use the engine's samplers on their own, on
any objective, as Optuna's users know it::

    s = cerebro.TPESampler({"x": cerebro.uniform(-5, 5)}, seed=0)
    for _ in range(30):
        cfg = s.ask()
        s.tell(cfg, (cfg["x"] - 2) ** 2)
"""

import json

from . import _native

__all__ = ["Procedure", "Grid", "Random", "TPE", "ASHA", "Hyperband", "PBT",
           "TPESampler", "RandomSampler"]


class Procedure:
    """A search method and its knobs: ``to_spec()`` is the spec's search section."""

    method = None

    def __init__(self, num_models=None, **knobs):
        self.num_models = num_models
        self.knobs = {k: v for k, v in knobs.items() if v is not None}

    def to_spec(self):
        """The ``search`` section of a spec for this procedure (a dict)."""
        out = {"method": self.method}
        if self.num_models is not None:
            out["num_models"] = self.num_models
        out.update(self.knobs)
        return out

    def __repr__(self):
        args = [] if self.num_models is None else [repr(self.num_models)]
        args += [f"{k}={v!r}" for k, v in self.knobs.items()]
        return f"{type(self).__name__}({', '.join(args)})"


class Grid(Procedure):
    """Grid search: every combination of the space's choices (only ``choice`` is allowed)."""

    method = "grid"

    def __init__(self):
        super().__init__()


class Random(Procedure):
    """Random search: ``num_models`` configurations drawn from the space (seeded by the
    experiment's seed; each hyperparameter from its own stream)."""

    method = "random"

    def __init__(self, num_models):
        super().__init__(num_models)


class TPE(Procedure):
    """Tree-structured Parzen Estimator (Optuna's TPESampler, native): ``num_models``
    proposals, each fitted on the results of the models before it.

    Knobs (defaults as Optuna's): ``n_startup_trials`` (10) random proposals first,
    ``n_ei_candidates`` (24), ``prior_weight`` (1.0), ``multivariate`` (False),
    ``constant_liar`` (True), ``consider_magic_clip`` (True), ``consider_endpoints``
    (False), ``in_flight`` (0 = max(4, workers)): proposals made ahead of results.
    """

    method = "tpe"

    def __init__(self, num_models, n_startup_trials=None, n_ei_candidates=None,
                 prior_weight=None, multivariate=None, constant_liar=None,
                 consider_magic_clip=None, consider_endpoints=None, in_flight=None):
        super().__init__(num_models, n_startup_trials=n_startup_trials,
                         n_ei_candidates=n_ei_candidates, prior_weight=prior_weight,
                         multivariate=multivariate, constant_liar=constant_liar,
                         consider_magic_clip=consider_magic_clip,
                         consider_endpoints=consider_endpoints, in_flight=in_flight)


class ASHA(Procedure):
    """Asynchronous successive halving (Ray Tune's ASHAScheduler) over ``num_models``
    configurations: rungs at ``grace_period * reduction_factor**k`` epochs up to
    ``max_t`` (default: the experiment's epochs); a model below the top
    1/reduction_factor of its rung stops. Defaults: grace_period 1, reduction_factor 4,
    brackets 1. ``sampler``: where the configurations come from — ``"random"`` (the
    default), ``"grid"`` (the grid's, in order; ``num_models`` may be left out) or
    ``"tpe"`` (BOHB-like: proposed as the run goes; ``tpe_knobs`` are TPE's, e.g.
    n_startup_trials)."""

    method = "asha"

    def __init__(self, num_models=None, grace_period=None, reduction_factor=None, max_t=None,
                 brackets=None, sampler=None, **tpe_knobs):
        super().__init__(num_models, grace_period=grace_period,
                         reduction_factor=reduction_factor, max_t=max_t, brackets=brackets,
                         sampler=sampler, **tpe_knobs)


class Hyperband(Procedure):
    """Hyperband (Li et al.): brackets of successive halving up to ``max_t`` epochs
    (default: the experiment's epochs) with halving rate ``eta`` (default 3).
    ``sampler`` and ``tpe_knobs`` as for :class:`ASHA` (``"tpe"`` is BOHB-like)."""

    method = "hyperband"

    def __init__(self, max_t=None, eta=None, sampler=None, **tpe_knobs):
        super().__init__(None, max_t=max_t, eta=eta, sampler=sampler, **tpe_knobs)


class PBT(Procedure):
    """Population-based training (Ray Tune's PBT) over a population of ``num_models``:
    every ``perturbation_interval`` epochs the bottom ``quantile_fraction`` copies the
    top's state and explores its params (resampled with ``resample_probability``, else
    scaled by one of ``perturbation_factors``), after ``burn_in_period`` epochs."""

    method = "pbt"

    def __init__(self, num_models, perturbation_interval=None, quantile_fraction=None,
                 resample_probability=None, perturbation_factors=None, burn_in_period=None):
        super().__init__(num_models, perturbation_interval=perturbation_interval,
                         quantile_fraction=quantile_fraction,
                         resample_probability=resample_probability,
                         perturbation_factors=perturbation_factors,
                         burn_in_period=burn_in_period)


def as_procedure(search):
    """A Procedure from a Procedure, a method name ("grid") or a spec search dict."""
    if search is None:
        return Grid()
    if isinstance(search, Procedure):
        return search
    if isinstance(search, str):
        p = Procedure()
        p.method = search
        return p
    if isinstance(search, dict):
        d = dict(search)
        method = d.pop("method", "grid")
        p = Procedure(d.pop("num_models", None), **d)
        p.method = method
        return p
    raise ValueError(f"search: expected a procedure (cerebro.Grid(), cerebro.TPE(16), ...), "
                     f"got {type(search).__name__}")


class _AskTell:
    def __init__(self, space, seed, direction, search):
        from .experiment import space_to_spec  # the one conversion of a space
        if direction not in ("minimize", "maximize"):
            raise ValueError(f"direction: expected 'minimize' or 'maximize', got {direction!r}")
        self._sign = -1.0 if direction == "maximize" else 1.0
        # The sampler reads only params, search and run.seed; the data section is never
        # read (no file is opened).
        # A spec needs a model; a space without one gets a fixed one, never shown.
        params = space_to_spec(space)
        self._hidden_model = "model" not in params
        if self._hidden_model:
            params = {"model": "mlp", **params}
        doc = {"data": {"format": "csv", "train": "unused.csv", "validation": {"fraction": 0.5}},
               "params": params, "search": search, "run": {"seed": int(seed)}}
        self._s = _native.core().AskTellSampler(json.dumps(doc))
        self.direction = direction

    def ask(self):
        """The next configuration to evaluate: a dict of every param that applies."""
        cfg = json.loads(self._s.ask())
        if self._hidden_model:
            cfg.pop("model", None)
        return cfg

    def tell(self, config, value):
        """Reports ``value`` (the objective, minimized or maximized as the sampler's
        ``direction`` says) for ``config``, a configuration ``ask()`` returned and that has
        not been told yet. ValueError for an unknown config or a NaN value."""
        if self._hidden_model:
            config = {"model": "mlp", **config}
        self._s.tell(json.dumps(config), self._sign * float(value))

    @property
    def asked(self):
        """How many configurations were asked so far."""
        return self._s.asked


class TPESampler(_AskTell):
    """The engine's TPE on its own: ``ask()`` a configuration, ``tell(config, value)``.

    ``space``: a search space as for Experiment (params dict). ``seed``: proposals are a
    function of the seed and the values told, in order. ``direction``: "minimize"
    (default) or "maximize". Knobs as :class:`TPE` (n_startup_trials, n_ei_candidates,
    prior_weight, multivariate, constant_liar, consider_magic_clip, consider_endpoints).
    Configurations asked and not yet told count as bad ones (the constant liar).
    """

    def __init__(self, space, seed=0, direction="minimize", **knobs):
        search = {"method": "tpe", "num_models": 1}
        search.update({k: v for k, v in knobs.items() if v is not None})
        super().__init__(space, seed, direction, search)


class RandomSampler(_AskTell):
    """Random search on its own, with the same ask/tell interface as TPESampler."""

    def __init__(self, space, seed=0, direction="minimize"):
        super().__init__(space, seed, direction, {"method": "random", "num_models": 1})

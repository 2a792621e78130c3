"""Experiment: data, a search space, a search procedure and run settings — a spec, built
from Python values — and run(), which trains it with the C++ engine and returns a Result.

The run directory is the one ``cerebro run`` writes (``cerebro report``, ``status`` and
``resume`` work on it). Beside it, ``RUN_DIR.inputs/`` holds what the package wrote for
the engine: ``spec.json`` (the spec as Python built it) and, for a model function, one
TorchScript file per architecture (``models/``). In-memory data is written to ``data/``
there and removed when the run ends: the run trains on its own prepared copy.
"""

import itertools
import json
import os
import shutil

from . import _native
from .data import DataPlan
from .result import Result
from .search import as_procedure

__all__ = ["Experiment", "run", "run_spec", "resume", "space_to_spec"]

# The keys every model config may carry besides the family's own (model/registry.h).
TRAINING_KEYS = ("model", "optimizer", "lr", "momentum", "weight_decay", "batch_size", "loss")


def space_to_spec(space):
    """The spec's ``params`` section for a space dict (helpers' dicts, spec dicts, values)."""
    if not isinstance(space, dict) or not space:
        raise ValueError("params: expected a non-empty dict {name: value or distribution}")
    out = {}
    for name, value in space.items():
        if not isinstance(name, str):
            raise ValueError(f"params: names are strings, got {name!r}")
        if isinstance(value, tuple):
            value = list(value)
        out[name] = value
    return out


def _default_name():
    # As the CLI names a run by its spec file when the spec has no name: the script's.
    import sys
    main = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    stem = os.path.splitext(main)[0]
    return stem if stem and stem not in ("-c", "-m", "__main__", "ipykernel_launcher") and \
        stem.replace("_", "").replace("-", "").isalnum() else "python"


def _dumps(doc):
    try:
        return json.dumps(doc, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"spec: a value cannot be written as JSON ({e})") from None


class _ModelFunction:
    """A user's ``fn(config) -> torch.nn.Module``, scripted once per architecture.

    The architecture params (every param but the training keys) must be fixed values or
    choices of scalars, so the set of architectures is known before the run: each one is
    scripted up front (errors before anything is written), saved as
    ``models/net-<v1>-<v2>...pt``, and the spec's ``model_file`` template names it.
    """

    def __init__(self, fn, params):
        import torch  # only a model function needs torch
        self.fn = fn
        keys, values = [], []
        for name, v in params.items():
            if name in TRAINING_KEYS or name == "model_file":
                if name in ("model", "model_file"):
                    raise ValueError(f"params.{name}: set by the model function; leave it out")
                continue
            if isinstance(v, dict):
                if "when" in v:
                    raise ValueError(f"params.{name}: architecture params of a model function "
                                     "cannot be conditional")
                if set(v) != {"choice"}:
                    raise ValueError(f"params.{name}: architecture params of a model function are "
                                     "fixed values or choices (each architecture is scripted "
                                     "before the run)")
                choices = v["choice"]
            else:
                choices = [v]
            for c in choices:
                if not isinstance(c, (bool, int, float, str)) or (isinstance(c, str) and
                                                                  ("/" in c or "{" in c)):
                    raise ValueError(f"params.{name}: {c!r}: architecture values of a model "
                                     "function are numbers, booleans or strings without '/'")
            keys.append(name)
            values.append(choices)
        self.keys = keys
        self.scripted = {}
        for combo in itertools.product(*values):
            cfg = dict(zip(keys, combo))
            try:
                module = fn(dict(cfg))
            except Exception as e:
                raise ValueError(f"model: the model function raised for {cfg}: "
                                 f"{type(e).__name__}: {e}") from e
            if not isinstance(module, torch.nn.Module):
                raise ValueError(f"model: the model function returned {type(module).__name__} "
                                 f"for {cfg}, expected a torch.nn.Module")
            try:
                scripted = torch.jit.script(module)
            except Exception as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise ValueError(f"model: the module for {cfg} cannot be scripted "
                                 f"(torch.jit.script): {first}") from e
            self.scripted[self._file_name(combo)] = scripted

    def check_forward(self, feature_shape, outputs):
        """A dry forward of a zero batch [1, *feature_shape] must give [1, outputs] floats
        (what the torchscript family checks before training), for every architecture."""
        import torch
        for name, scripted in self.scripted.items():
            scripted.eval()
            try:
                with torch.no_grad():
                    out = scripted(torch.zeros((1,) + tuple(feature_shape)))
            except Exception as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise ValueError(f"model: {name}: forward of a batch [1, "
                                 f"{', '.join(map(str, feature_shape))}] failed: {first}") from e
            if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, outputs):
                got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise ValueError(f"model: {name}: forward of a batch [1, "
                                 f"{', '.join(map(str, feature_shape))}] returned {got}, "
                                 f"expected (1, {outputs})")

    def _file_name(self, combo):
        parts = [_template_value(v) for v in combo]
        return "net" + "".join("-" + p for p in parts) + ".pt"

    def template(self, models_dir):
        return os.path.join(models_dir, "net" + "".join("-{" + k + "}" for k in self.keys) + ".pt")

    def write(self, models_dir):
        os.makedirs(models_dir, exist_ok=True)
        for name, scripted in self.scripted.items():
            scripted.save(os.path.join(models_dir, name))


def _template_value(v):
    # As the torchscript family fills a model_file template (model/torchscript_family.h):
    # strings as they are, integral numbers as integers, booleans as true/false.
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, float):
        return json.dumps(v)
    return str(v)


class Experiment:
    """A model-selection experiment: train every configuration a search proposes on the
    data, with Model Hopper Parallelism, and rank them.

    Args:
        data: the training examples: ``(X, y)`` NumPy arrays; a pandas DataFrame (with
            ``label`` naming its label column); a file path (``.csv``, ``.libsvm``), or a
            pair of IDX paths ``(images, labels)``; or ``"fashion_mnist"`` (Debian's
            Fashion-MNIST, validated on its test set, pixels scaled by 1/255).
        params: the search space, a dict of fixed values and distributions
            (:func:`cerebro.choice`, :func:`cerebro.uniform`, :func:`cerebro.loguniform`,
            :func:`cerebro.quniform`, :func:`cerebro.when`, or the spec's own dicts).
            Built-in families by name (``"model": "mlp"`` or ``"cnn"``) with their keys.
        model: instead of ``params["model"]``, a function ``config -> torch.nn.Module``:
            called once per architecture (the params that are not training keys), each
            module scripted and trained through the ``torchscript`` family.
        search: a procedure (:class:`cerebro.Grid` (default), :class:`cerebro.Random`,
            :class:`cerebro.TPE`, :class:`cerebro.ASHA`, :class:`cerebro.Hyperband`,
            :class:`cerebro.PBT`), a method name, or a spec search dict.
        validation: a fraction of ``data`` in (0, 1) (default 0.2), or held-out data in
            the same form as ``data``.
        label: the label column of a DataFrame or CSV file.
        task: ``"classification"`` (default; labels are class indices 0..k-1) or
            ``"regression"``.
        metric: ranking metric, ``"accuracy"`` (default) or ``"loss"``; ``direction``
            ``"max"``/``"min"`` (default by metric); a list or dict is the spec's own
            metric section (several objectives).
        epochs, workers, partitions, seed, order (``"random"`` | ``"fixed"``: results
            independent of timing), strategy (``"mop"`` | ``"sequential"`` | ``"task"``),
            backend (``"local"`` | ``"ray"``), ray_address, threads_per_worker,
            keep_best: the spec's run section (defaults as the CLI's).
        feature_scale: multiplies every feature (e.g. 1/255 for uint8 pixels).
        name: the run's name (its directory is ``runs/<name>-<time>-<pid>``); default
            the script's file name, or "python".

    Bad input raises before anything is written: ValueError for the space, settings or
    data (NaN, non-numeric dtypes, mismatched lengths, a missing label column, a model
    function that raises or cannot be scripted), FileNotFoundError for missing files.
    """

    def __init__(self, data, params, model=None, search=None, validation=None, label=None,
                 task="classification", metric=None, direction=None, epochs=None,
                 workers=None, partitions=None, seed=None, order=None, strategy=None,
                 backend=None, ray_address=None, threads_per_worker=None, keep_best=None,
                 feature_scale=None, name=None):
        if task not in ("classification", "regression"):
            raise ValueError(f"task: expected 'classification' or 'regression', got {task!r}")
        self.params = space_to_spec(params)
        self.search = as_procedure(search)
        self.task = task
        self.name = name if name is not None else _default_name()
        self.metric = metric
        self.direction = direction
        run = dict(epochs=epochs, workers=workers, partitions=partitions, seed=seed,
                   order=order, strategy=strategy, backend=backend, ray_address=ray_address,
                   threads_per_worker=threads_per_worker, keep_best=keep_best)
        self.run_settings = {k: v for k, v in run.items() if v is not None}
        self._data = DataPlan(data, label=label, validation=validation, task=task,
                              feature_scale=feature_scale)
        self._model = _ModelFunction(model, self.params) if model is not None else None
        if self._model is not None and self._data.input_shape() is not None:
            self._model.check_forward(*self._data.input_shape())
        if self._model is None and "model" not in self.params:
            raise ValueError("params.model: missing (a family such as 'mlp' or 'cnn', or pass "
                             "model=<function config -> torch.nn.Module>)")
        # The engine's own validation, now: nothing is written for a spec it refuses.
        self.check()

    def spec(self, inputs_dir="INPUTS"):
        """The spec this experiment runs, as a dict (``inputs_dir``: where the package's
        files for the engine go; see the module's doc)."""
        params = dict(self.params)
        if self._model is not None:
            params = {"model": "torchscript",
                      "model_file": self._model.template(os.path.join(inputs_dir, "models")),
                      **params}
        doc = {}
        if self.name is not None:
            doc["name"] = self.name
        doc["task"] = self.task
        doc["data"] = self._data.section(inputs_dir)
        doc["params"] = params
        doc["search"] = self.search.to_spec()
        if isinstance(self.metric, (list, dict)):  # the spec's own forms (objectives)
            doc["metric"] = self.metric
        elif self.metric is not None or self.direction is not None:
            doc["metric"] = {k: v for k, v in (("name", self.metric or "accuracy"),
                                               ("direction", self.direction)) if v is not None}
        if self.run_settings:
            doc["run"] = dict(self.run_settings)
        return doc

    def check(self):
        """Validates the spec with the engine's parser (ValueError with its one line)."""
        _native.core().check_spec(_dumps(self.spec("/nonexistent-inputs")), "experiment")

    def configurations(self):
        """The configurations a grid or random search trains (list of {"id", "params"});
        for adaptive procedures, those of their first decision."""
        return json.loads(_native.core().configurations(_dumps(self.spec("INPUTS")), "experiment"))

    def run(self, out=None, quiet=False):
        """Trains the experiment and returns its :class:`cerebro.Result`.

        ``out``: the run directory (must not exist); default ``runs/<name>-<time>-<pid>``
        as ``cerebro run``. Blocks until the run ends, with a progress line on stderr
        unless ``quiet``. Ctrl-C stops the workers and raises KeyboardInterrupt, leaving
        a run that :func:`cerebro.resume` continues.
        """
        core = _native.core()
        if out is None:
            out = core.default_run_dir(_dumps(self.spec("/nonexistent-inputs")))
        out = os.path.abspath(os.fspath(out))
        if os.path.lexists(out):
            raise FileExistsError(f"{out}: already exists (a run directory must be new)")
        inputs = out + ".inputs"
        if os.path.lexists(inputs):
            raise FileExistsError(f"{inputs}: already exists")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        os.makedirs(inputs)
        data_dir = os.path.join(inputs, "data")
        os.makedirs(data_dir)
        try:
            doc = self.spec(inputs)
            doc["data"] = self._data.section(data_dir)
            self._data.write(data_dir)
            if self._model is not None:
                self._model.write(os.path.join(inputs, "models"))
            spec_path = os.path.join(inputs, "spec.json")
            with open(spec_path, "w") as f:
                f.write(json.dumps(doc, indent=2) + "\n")
            return _drive(lambda: core.run(spec_path, out, quiet), out)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
            if not os.path.exists(out):  # refused before it started: leave nothing behind
                shutil.rmtree(inputs, ignore_errors=True)


def _drive(call, run_dir):
    try:
        return Result(json.loads(call()))
    except KeyboardInterrupt as e:
        if os.path.exists(run_dir):
            raise KeyboardInterrupt(f"{e}; the run is resumable: cerebro.resume({run_dir!r}) "
                                    f"or `cerebro resume {run_dir}`") from None
        raise


def run(data, params, out=None, quiet=False, **kwargs):
    """``Experiment(data, params, **kwargs).run(out, quiet)`` in one call."""
    return Experiment(data, params, **kwargs).run(out=out, quiet=quiet)


def run_spec(spec_path, out=None, quiet=False):
    """Runs a spec file (YAML or JSON, as ``cerebro run SPEC``) and returns its Result.
    ``out``: the run directory (default ``runs/<name>-<time>-<pid>``)."""
    core = _native.core()
    spec_path = os.path.abspath(os.fspath(spec_path))
    out = os.path.abspath(os.fspath(out)) if out is not None else os.path.abspath(
        core.default_run_dir(spec_path, True))
    return _drive(lambda: core.run(spec_path, out, quiet), out)


def resume(run_dir, wait=False, quiet=False):
    """Continues an interrupted run (Ctrl-C, a crash, a killed process) from its journal:
    nothing already trained is trained again, and with ``order="fixed"`` the result equals
    an uninterrupted run's. A finished run is returned as it is. ``wait``: wait for
    another process that holds the run instead of raising."""
    run_dir = os.path.abspath(os.fspath(run_dir))
    return _drive(lambda: _native.core().resume(run_dir, wait, quiet), run_dir)

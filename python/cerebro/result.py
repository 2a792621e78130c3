"""Result: a run's ranked models, read from its run directory (summary.json, or the
journal of a run that has none yet), as Python values and pandas DataFrames."""

import json
import os
import subprocess

from . import _native

__all__ = ["Result", "BestModel", "open_run"]

_METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")


class BestModel:
    """The best model of a run (rank 1): ``id``, ``params``, ``metrics`` (its last
    epoch's train/val loss and accuracy), ``value`` (the ranking metric), and its trained
    network as a TorchScript module (``model``) with ``predict(X)``."""

    def __init__(self, result, model):
        self._result = result
        self.id = model["id"]
        self.params = model["params"]
        self.history = model.get("history", [])
        last = self.history[-1] if self.history else {}
        self.metrics = {k: last[k] for k in _METRICS if k in last}
        self.value = result.summary.get("best", {}).get("value")
        self.checkpoint = model.get("checkpoint", "")
        self._module = None

    @property
    def model(self):
        """The trained network as a ``torch.jit.ScriptModule`` in eval mode.

        Built-in families: exported by ``cerebro export`` (into RUN_DIR/export/ the first
        time), taking raw features as the data held them (the run's feature_scale is
        folded in). A model function's (torchscript family): your scripted module with
        the trained weights, taking inputs as training fed them (scaled, shaped
        [N, *feature_shape]); ``predict`` does that scaling for you."""
        if self._module is None:
            import torch
            if self.params.get("model") == "torchscript":
                self._module = self._load_torchscript(torch)
            else:
                self._module = self._export(torch)
            self._module.eval()
        return self._module

    def _export(self, torch):
        path = os.path.join(self._result.run_dir, "export", f"model_{self.id}.pt")
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            proc = subprocess.run([_native.core().cli_path, "export", self._result.run_dir,
                                   "--model", str(self.id), "--out", path],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"cerebro export: {proc.stderr.strip() or proc.stdout.strip()}")
        return torch.jit.load(path)

    def _load_torchscript(self, torch):
        # A state is a 16-byte header and a torch archive whose "model" holds the
        # parameters and buffers under their state_dict names (train/state_codec.h).
        import io
        from .experiment import _template_value
        if not self.checkpoint:
            raise RuntimeError(f"model {self.id}: its final state was not kept (run.keep_best)")
        with open(os.path.join(self._result.run_dir, self.checkpoint), "rb") as f:
            state = f.read()
        archive = torch.jit.load(io.BytesIO(state[16:]))
        weights = {n[len("model."):]: t for n, t in
                   list(archive.named_parameters()) + list(archive.named_buffers())
                   if n.startswith("model.")}
        path = self.params["model_file"]
        for k, v in self.params.items():
            path = path.replace("{" + k + "}", _template_value(v))
        module = torch.jit.load(path)
        module.load_state_dict(weights, strict=True)
        self._raw_input = False
        return module

    def _data_meta(self):
        with open(os.path.join(self._result.run_dir, "data", "meta.json")) as f:
            return json.load(f)

    def predict(self, X):
        """Predictions for ``X`` (NumPy array, features as in the training data): class
        indices for classification, values for regression."""
        import numpy as np
        import torch
        module = self.model
        X = np.asarray(X)
        if not getattr(self, "_raw_input", True):
            meta = self._data_meta()
            scaled = (X.astype(np.float64) * meta.get("feature_scale", 1.0)).astype(np.float32)
            X = scaled.reshape((X.shape[0],) + tuple(meta["feature_shape"]))
        if not X.flags.writeable:  # torch warns about (and may write to) read-only arrays
            X = X.copy()
        with torch.no_grad():
            out = module(torch.as_tensor(X))
        if self._result.task == "regression":
            return out.reshape(-1).numpy()
        return out.argmax(dim=1).numpy()

    def __repr__(self):
        return f"BestModel(id={self.id}, value={self.value}, params={self.params})"


class Result:
    """A run's result: ``run_dir``, ``summary`` (summary.json as a dict), ``finished``
    (False for a run that was interrupted: resume it), ``models`` (ranked, best first),
    ``best`` (a :class:`BestModel`, or None when no model finished an epoch) and
    ``to_pandas()``. ``cerebro.open(run_dir)`` reads any run back."""

    def __init__(self, summary):
        self.summary = summary
        self.run_dir = summary.get("run_dir", "")
        self.finished = bool(summary.get("finished", True))
        self.models = summary.get("models", [])
        self.metric = summary.get("metric", "accuracy")
        self.warnings = summary.get("warnings", [])
        self.task = "classification"
        meta = os.path.join(self.run_dir, "data", "meta.json")
        if os.path.exists(meta):
            with open(meta) as f:
                self.task = json.load(f).get("task", "classification")

    @property
    def best(self):
        """The best model (rank 1), or None."""
        best_id = self.summary.get("best", {}).get("model_id", -1)
        for m in self.models:
            if m["id"] == best_id:
                return BestModel(self, m)
        return None

    def to_pandas(self, per_epoch=False):
        """The models as a DataFrame. One row per model (default): ``model_id``, ``rank``,
        ``status``, one column per param, ``epochs`` trained and the last epoch's
        metrics. ``per_epoch=True``: one row per model and epoch, with ``epoch`` and
        ``seconds``. Rows ranked (best first), epochs in order."""
        import pandas as pd
        param_names = []
        for m in self.models:
            for k in m.get("params", {}):
                if k not in param_names:
                    param_names.append(k)
        rows = []
        for m in self.models:
            base = {"model_id": m["id"], "rank": m.get("rank"), "status": m.get("status")}
            for k in param_names:
                v = m.get("params", {}).get(k)
                base[k] = tuple(v) if isinstance(v, list) else v
            history = m.get("history", [])
            if per_epoch:
                for h in history:
                    row = dict(base)
                    row["epoch"] = h.get("epoch")
                    row.update({k: h.get(k) for k in _METRICS})
                    row["seconds"] = h.get("seconds")
                    rows.append(row)
            else:
                row = dict(base)
                row["epochs"] = len(history)
                last = history[-1] if history else {}
                row.update({k: last.get(k) for k in _METRICS})
                row["failure"] = m.get("failure", "") or None
                rows.append(row)
        columns = ["model_id", "rank", "status"] + param_names + (
            ["epoch"] + list(_METRICS) + ["seconds"] if per_epoch
            else ["epochs"] + list(_METRICS) + ["failure"])
        return pd.DataFrame(rows, columns=columns)

    def table(self):
        """The ranked table ``cerebro report`` prints."""
        s = {k: v for k, v in self.summary.items() if k not in ("run_dir", "warnings")}
        return _native.core().ranked_table(json.dumps(s))

    def __repr__(self):
        best = self.best
        state = "finished" if self.finished else "not finished (resume it)"
        return (f"<cerebro.Result {self.run_dir}: {len(self.models)} models, {state}"
                + (f", best model {best.id} {self.metric} {best.value}" if best else "") + ">")


def open_run(run_dir):
    """Reads any run directory back as a :class:`Result` (finished, interrupted or live;
    written by Python or by ``cerebro run``)."""
    run_dir = os.path.abspath(os.fspath(run_dir))
    return Result(json.loads(_native.core().read_run(run_dir)))

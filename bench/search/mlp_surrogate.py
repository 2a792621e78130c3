"""The mlp_surrogate objective: evaluates mlp_surrogate.json (fit_mlp_surrogate.py's fit).

Standard library only, so that optuna_quality.py (the bench virtualenv) and
fit_mlp_surrogate.py evaluate the same formula, in the same order of operations, as
tpe_quality.cc's MlpSurrogate (the two are checked to agree to 1e-9 on sample points):

  features e(x): per continuous param (t(v) - low) / (high - low), t = log10 or identity;
                 per choice param one 0/1 feature per choice (equality with the value)
  g(x)        = mean + sum_i weights[i] * exp(-0.5 * sum_d ((e_d(x) - centers[i][d]) / scales[d])^2)
  accuracy(x) = 1 / (1 + exp(-g(x)))   (g is the fitted logit of accuracy)
  loss(x)     = 1 - accuracy(x)   (minimized, as the bench's other objectives)
"""
import json
import math
import os

DEFAULT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mlp_surrogate.json")


def load(path=DEFAULT_PATH):
    with open(path) as f:
        return json.load(f)


def features(model, params):
    """The encoded point of `params` (a dict: name -> value, lists for hidden)."""
    e = []
    for p in model["params"]:
        v = params[p["name"]]
        if "choices" in p:
            e.extend(1.0 if v == c else 0.0 for c in p["choices"])
        else:
            t = math.log10(v) if p["transform"] == "log10" else float(v)
            e.append((t - p["low"]) / (p["high"] - p["low"]))
    return e


def accuracy(model, params):
    e = features(model, params)
    scales = model["scales"]
    s = 0.0
    for w, c in zip(model["weights"], model["centers"]):
        z = 0.0
        for d in range(len(e)):
            u = (e[d] - c[d]) / scales[d]
            z += u * u
        s += w * math.exp(-0.5 * z)
    return 1.0 / (1.0 + math.exp(-(model["mean"] + s)))


def loss(model, params):
    return 1.0 - accuracy(model, params)

#!/usr/bin/env python3
"""Optuna's TPESampler on the objectives of tpe_quality.cc, same seeds and budget.

Usage: optuna_quality.py [--seeds N] [--trials T] > optuna.csv
Writes rows method,objective,seed,trial,best: optuna_tpe is TPESampler(seed=seed) with
its defaults (Optuna 5: multivariate for one objective, n_startup_trials 10),
optuna_tpe_univariate the same with multivariate=False; sequential study.optimize, so
every trial sees every earlier result, like our tpe_seq / tpe_mv_seq. optuna_tpe_in_flight4
and optuna_tpe_univariate_in_flight4: the same samplers with constant_liar=True (Optuna's
setting for parallel workers) and 4 trials in flight through ask/tell, each trial's params
drawn when it is asked and its result told after the 3 asked after it (the oldest first),
so each proposal sees all but the last 3 results, like our tpe_mop / tpe_mv_mop (in_flight:
4, the default for 1-4 workers). Needs `optuna` (PyPI) in the bench
virtualenv. The spaces mirror the C++ ones; hidden (our qloguniform [1, 3, 8]: multiples
of 8 in [16, 1000]) is 8 * suggest_int(2, 125, log=True), as Optuna has no log int with a
step. mlp_surrogate (mlp_surrogate.json, fit_mlp_surrogate.py's model of measured MLP runs)
is evaluated by mlp_surrogate.py, as tpe_quality.cc evaluates it; hidden's choices are
suggested as strings ("256-128") and mapped back to the lists, Optuna's categoricals being
scalars. Left out when mlp_surrogate.json is absent.
"""
import argparse
import math
import os
import sys

import optuna

import mlp_surrogate


def branin(t):
    x1, x2 = t.suggest_float("x1", -5, 10), t.suggest_float("x2", 0, 15)
    b, c, s = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - s) * math.cos(x1) + 10


ALPHA = [1.0, 1.2, 3.0, 3.2]
A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
     [17, 8, 0.05, 10, 0.1, 14]]
P = [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
     [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]


def hartmann6(t):
    x = [t.suggest_float(f"x{j}", 0, 1) for j in range(6)]
    return -sum(ALPHA[i] * math.exp(-sum(A[i][j] * (x[j] - P[i][j] * 1e-4) ** 2 for j in range(6)))
                for i in range(4))


def mixed_mlp(t):
    lr = math.log10(t.suggest_float("lr", 1e-5, 1e-1, log=True)) + 3
    bs = (t.suggest_int("batch_size", 32, 512, step=32) - 128) / 128
    act = 0 if t.suggest_categorical("activation", ["relu", "tanh", "gelu"]) == "tanh" else 1
    dropout = t.suggest_float("dropout", 0.0, 0.5)
    hidden = math.log10(8 * t.suggest_int("hidden8", 2, 125, log=True)) - 2
    return lr * lr + bs * bs + act + hidden * hidden + dropout


HIDDEN = {"64": [64], "128": [128], "256": [256], "256-128": [256, 128]}


def make_mlp_surrogate(model):
    def f(t):
        return mlp_surrogate.loss(model, {
            "hidden": HIDDEN[t.suggest_categorical("hidden", list(HIDDEN))],
            "activation": t.suggest_categorical("activation", ["relu", "tanh"]),
            "dropout": t.suggest_float("dropout", 0.0, 0.5),
            "optimizer": t.suggest_categorical("optimizer", ["adam", "sgd"]),
            "lr": t.suggest_float("lr", 1e-5, 1e-1, log=True),
            "weight_decay": t.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
            "batch_size": t.suggest_int("batch_size", 32, 256, step=32),
        })
    return f


def optimize_in_flight(study, f, n_trials, in_flight):
    """n_trials trials, in_flight at a time: each is asked and evaluated at once (so its
    params are drawn then, seeing only the results told so far), and told after the ones
    asked before it, oldest first."""
    pending = []
    asked = 0
    while asked < n_trials or pending:
        while asked < n_trials and len(pending) < in_flight:
            trial = study.ask()
            pending.append((trial, f(trial)))
            asked += 1
        trial, value = pending.pop(0)
        study.tell(trial, value)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--trials", type=int, default=64)
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out = sys.stdout
    out.write("method,objective,seed,trial,best\n")
    objectives = [("branin", branin), ("hartmann6", hartmann6), ("mixed_mlp", mixed_mlp)]
    if os.path.exists(mlp_surrogate.DEFAULT_PATH):
        objectives.append(("mlp_surrogate", make_mlp_surrogate(mlp_surrogate.load())))
    for name, f in objectives:
        for method, multivariate, in_flight in [
                ("optuna_tpe", None, 1), ("optuna_tpe_univariate", False, 1),
                ("optuna_tpe_in_flight4", None, 4), ("optuna_tpe_univariate_in_flight4", False, 4)]:
            for seed in range(1, args.seeds + 1):
                sampler = optuna.samplers.TPESampler(
                    seed=seed, multivariate=multivariate, constant_liar=in_flight > 1)
                study = optuna.create_study(sampler=sampler)
                if in_flight == 1:
                    study.optimize(f, n_trials=args.trials)
                else:
                    optimize_in_flight(study, f, args.trials, in_flight)
                best = math.inf
                for i, trial in enumerate(study.trials):
                    best = min(best, trial.value)
                    out.write(f"{method},{name},{seed},{i + 1},{best:.9g}\n")


if __name__ == "__main__":
    main()

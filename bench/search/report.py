#!/usr/bin/env python3
"""Tables of search quality from trace CSVs (method,objective,seed,trial,best).

Usage: report.py traces.csv [optuna.csv ...] > result.md

Per objective: median regret (best so far minus the known optimum) over seeds after
8..64 trials, per method; and, per TPE-like method, the median number of trials it needs
to reach random search's 64-trial best on the same seed (the issue's target: <= 60% of 64,
i.e. <= 38). A seed that never reaches it counts as "more than the budget" (shown >T).
mlp_surrogate's optimum (1 - the surrogate's best accuracy) is read from mlp_surrogate.json.

Then, for each pair in PAIRS whose two methods are both present (ours against Optuna's
arm with the same parallelism and estimator, and default against default), the difference
of the median regrets (ours minus Optuna's; below 0: ours better) at 32 and 64 trials, with
a 95% bootstrap interval: the seeds of each method resampled with replacement, 2000 times,
from a fixed seed, so the table is reproducible. Seeds are not paired: the same seed gives
the two samplers unrelated draws. An interval that contains 0 does not separate the two.
Standard library only.
"""
import csv
import json
import os
import random
import statistics
import sys
from collections import defaultdict

OPTIMA = {"branin": 0.397887, "hartmann6": -3.32237, "mixed_mlp": 0.0}
SURROGATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mlp_surrogate.json")
if os.path.exists(SURROGATE):
    with open(SURROGATE) as f:
        OPTIMA["mlp_surrogate"] = round(json.load(f)["optimum"]["loss"], 9)
CHECKPOINTS = [8, 16, 32, 48, 64]
COMPARED_AT = [32, 64]
# (ours, Optuna's, what makes them comparable)
PAIRS = [
    ("tpe_seq", "optuna_tpe_univariate", "univariate, sequential"),
    ("tpe_mv_seq", "optuna_tpe", "multivariate, sequential"),
    ("tpe_mop", "optuna_tpe_univariate_in_flight4", "univariate, 4 in flight"),
    ("tpe_mv_mop", "optuna_tpe_in_flight4", "multivariate, 4 in flight"),
    ("tpe_mop", "optuna_tpe", "default against default"),
]
RESAMPLES = 2000


def regrets(best, method, objective, trial):
    seeds = sorted(s for m, o, s in best if m == method and o == objective)
    vals = [best[(method, objective, s)].get(trial) for s in seeds]
    return [v - OPTIMA[objective] for v in vals if v is not None]


def median_difference(ours, theirs, rng):
    """The difference of medians and its 95% bootstrap interval (percentile method)."""
    point = statistics.median(ours) - statistics.median(theirs)
    draws = sorted(statistics.median(rng.choices(ours, k=len(ours))) -
                   statistics.median(rng.choices(theirs, k=len(theirs)))
                   for _ in range(RESAMPLES))
    return point, draws[int(0.025 * RESAMPLES)], draws[int(0.975 * RESAMPLES) - 1]


def print_comparisons(best, objectives):
    methods = {m for m, _, _ in best}
    pairs = [p for p in PAIRS if p[0] in methods and p[1] in methods]
    if not pairs:
        return
    rng = random.Random(2026)
    print("### ours minus Optuna: difference of median regrets, 95% bootstrap interval\n")
    print("| objective | ours | Optuna | alike in | " +
          " | ".join(f"@{t}" for t in COMPARED_AT) + " |")
    print("|---|---|---|---|" + "---|" * len(COMPARED_AT))
    for objective in objectives:
        for ours, theirs, alike in pairs:
            cells = []
            for t in COMPARED_AT:
                a, b = regrets(best, ours, objective, t), regrets(best, theirs, objective, t)
                if not a or not b:
                    cells.append("-")
                    continue
                point, low, high = median_difference(a, b, rng)
                cells.append(f"{point:+.3g} [{low:+.3g}, {high:+.3g}]")
            print(f"| {objective} | {ours} | {theirs} | {alike} | " + " | ".join(cells) + " |")
    print()


def main(paths):
    best = defaultdict(dict)  # (method, objective, seed) -> {trial: best}
    for path in paths:
        with open(path) as f:
            for row in csv.DictReader(f):
                key = (row["method"], row["objective"], int(row["seed"]))
                best[key][int(row["trial"])] = float(row["best"])
    methods = sorted({m for m, _, _ in best}, key=lambda m: (m != "random", m))
    objectives = [o for o in OPTIMA if any(k[1] == o for k in best)]
    for objective in objectives:
        print(f"### {objective} (optimum {OPTIMA[objective]})\n")
        print("| method | " + " | ".join(f"regret @{t}" for t in CHECKPOINTS) +
              " | trials to random's best @64 | seeds |")
        print("|---|" + "---|" * (len(CHECKPOINTS) + 2))
        for method in methods:
            seeds = sorted(s for m, o, s in best if m == method and o == objective)
            if not seeds:
                continue
            cells = []
            for t in CHECKPOINTS:
                vals = regrets(best, method, objective, t)
                cells.append(f"{statistics.median(vals):.4g}" if vals else "-")
            reach = []
            for s in seeds:
                target = best.get(("random", objective, s), {}).get(64)
                trace = best[(method, objective, s)]
                if target is None:
                    continue
                hit = [t for t in sorted(trace) if trace[t] <= target]
                reach.append(hit[0] if hit else max(trace) + 1)
            budget = max(max(best[(method, objective, s)]) for s in seeds)
            med = statistics.median(reach) if reach else None
            reach_cell = "-" if med is None else (f">{budget}" if med > budget else f"{med:g}")
            print(f"| {method} | " + " | ".join(cells) + f" | {reach_cell} | {len(seeds)} |")
        print()
    print_comparisons(best, objectives)


if __name__ == "__main__":
    main(sys.argv[1:])

#!/usr/bin/env python3
"""Tables of search quality from trace CSVs (method,objective,seed,trial,best).

Usage: report.py traces.csv [optuna.csv ...] > result.md

Per objective: median regret (best so far minus the known optimum) over seeds after
8..64 trials, per method; and, per TPE-like method, the median number of trials it needs
to reach random search's 64-trial best on the same seed (the issue's target: <= 60% of 64,
i.e. <= 38). A seed that never reaches it counts as "more than the budget" (shown >T).
mlp_surrogate's optimum (1 - the surrogate's best accuracy) is read from mlp_surrogate.json.
Standard library only.
"""
import csv
import json
import os
import statistics
import sys
from collections import defaultdict

OPTIMA = {"branin": 0.397887, "hartmann6": -3.32237, "mixed_mlp": 0.0}
SURROGATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mlp_surrogate.json")
if os.path.exists(SURROGATE):
    with open(SURROGATE) as f:
        OPTIMA["mlp_surrogate"] = round(json.load(f)["optimum"]["loss"], 9)
CHECKPOINTS = [8, 16, 32, 48, 64]


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
                vals = [best[(method, objective, s)].get(t) for s in seeds]
                vals = [v - OPTIMA[objective] for v in vals if v is not None]
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


if __name__ == "__main__":
    main(sys.argv[1:])

"""Tabular data in a pandas DataFrame, scikit-learn style: a label column, a held-out
fraction, random search over an MLP's size and learning rate, the result as a DataFrame.
The data is synthetic (make_blobs-like, 4 classes) so the example needs no download:

    .venv-py/bin/python examples/python/tabular.py
"""

import numpy as np
import pandas as pd

import cerebro


def make_table(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2.5, size=(4, 6))
    kind = rng.integers(0, 4, size=n)
    X = centers[kind] + rng.normal(0, 1.5, size=(n, 6))
    df = pd.DataFrame(X, columns=["age", "income", "tenure", "visits", "spend", "score"])
    df["segment"] = kind  # the label: class indices 0..3
    return df


def main():
    df = make_table()
    result = cerebro.run(
        df, label="segment", validation=0.2,
        params={
            "model": "mlp",
            "hidden": cerebro.choice([32], [64, 32]),
            "activation": cerebro.choice("relu", "tanh"),
            "lr": cerebro.loguniform(1e-3, 3e-2),
            "batch_size": cerebro.quniform(32, 128, 32),
        },
        search=cerebro.Random(6), epochs=3, workers=2, seed=7, name="tabular_segments")
    print(result.to_pandas().drop(columns=["failure"]).to_string(index=False))
    print("best params:", result.best.params)


if __name__ == "__main__":
    main()

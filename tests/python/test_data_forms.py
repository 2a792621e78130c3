"""Each data form trains (tiny data, one epoch, tiny models) and reads back the same."""

import os

import numpy as np
import pandas as pd
import pytest

import cerebro
from conftest import fashion_subset, make_blobs

RUN = dict(epochs=1, workers=2, seed=3, order="fixed")


def _check(result, n_models):
    df = result.to_pandas()
    assert len(df) == n_models
    assert list(df["status"]) == ["completed"] * n_models
    assert df["val_accuracy"].notna().all()
    assert result.finished
    assert result.best is not None and 0 <= result.best.metrics["val_accuracy"] <= 1
    return df


def test_numpy_arrays_with_a_fraction(tmp_path, blobs, small_space):
    X, y = blobs
    r = cerebro.run((X, y), small_space, validation=0.25, out=tmp_path / "run", quiet=True, **RUN)
    df = _check(r, 2)
    assert set(df["lr"]) == {1e-2, 3e-3}
    assert os.path.exists(tmp_path / "run" / "journal.jsonl")
    assert not os.path.exists(tmp_path / "run.inputs" / "data")  # its copy is prepared


def test_numpy_validation_arrays(tmp_path, small_space):
    X, y = make_blobs(200, seed=1)
    Xv, yv = make_blobs(80, seed=1)
    r = cerebro.run((X, y), small_space, validation=(Xv, yv), out=tmp_path / "run", quiet=True,
                    **RUN)
    _check(r, 2)
    assert r.summary["models"][0]["history"][0]["val_accuracy"] >= 0


def test_dataframe_with_a_label_column(tmp_path, blobs, small_space):
    X, y = blobs
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    df.insert(2, "species", y)  # the label need not be last
    r = cerebro.run(df, small_space, label="species", out=tmp_path / "run", quiet=True, **RUN)
    _check(r, 2)


def test_csv_file_path(tmp_path, blobs, small_space):
    X, y = blobs
    path = tmp_path / "blobs.csv"
    pd.DataFrame(np.column_stack([X, y]), columns=[f"f{j}" for j in range(8)] + ["y"]).to_csv(
        path, index=False)
    r = cerebro.run(str(path), small_space, label="y", out=tmp_path / "run", quiet=True, **RUN)
    _check(r, 2)
    assert cerebro.open(tmp_path / "run").to_pandas().equals(r.to_pandas())


def test_fashion_mnist_arrays_are_written_as_idx(tmp_path):
    train, val = fashion_subset()
    exp = cerebro.Experiment(train, {"model": "mlp", "hidden": [32], "lr": 1e-3,
                                     "batch_size": 64},
                             validation=val, feature_scale=1 / 255, **RUN)
    assert exp.spec()["data"]["format"] == "idx"
    r = exp.run(out=tmp_path / "run", quiet=True)
    _check(r, 1)
    assert r.best.metrics["val_accuracy"] > 0.3  # learns something in one epoch


def test_bundled_fashion_mnist_spec():
    exp = cerebro.Experiment("fashion_mnist", {"model": "mlp", "hidden": [32]}, epochs=1)
    data = exp.spec()["data"]
    assert data["format"] == "idx"
    assert data["train"]["images"].endswith("train-images-idx3-ubyte.gz")
    assert data["validation"]["images"].endswith("t10k-images-idx3-ubyte.gz")
    assert data["feature_scale"] == pytest.approx(1 / 255)


def test_per_epoch_frame_and_open(tmp_path, blobs, small_space):
    X, y = blobs
    r = cerebro.run((X, y), small_space, out=tmp_path / "run", quiet=True,
                    **{**RUN, "epochs": 2})
    per_epoch = r.to_pandas(per_epoch=True)
    assert len(per_epoch) == 4 and sorted(set(per_epoch["epoch"])) == [1, 2]
    back = cerebro.open(tmp_path / "run")
    assert back.best.params == r.best.params
    assert "rank" in back.table().lower() or str(r.best.id) in back.table()


def test_regression_targets(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.normal(size=200)
    r = cerebro.run((X, y), {"model": "mlp", "hidden": [8], "lr": 1e-2, "batch_size": 16},
                    task="regression", metric="loss", out=tmp_path / "run", quiet=True, **RUN)
    assert r.to_pandas()["status"].tolist() == ["completed"]
    assert r.task == "regression"
    assert r.best.predict(X[:5]).shape == (5,)


@pytest.mark.parametrize("search,models", [(cerebro.TPE(4, n_startup_trials=2), 4),
                                           (cerebro.Random(3), 3),
                                           (cerebro.ASHA(4, grace_period=1, reduction_factor=2), 4),
                                           (cerebro.ASHA(grace_period=1, reduction_factor=2,
                                                         sampler="tpe", num_models=3,
                                                         n_startup_trials=1), 3)])
def test_procedures_as_objects(tmp_path, blobs, search, models):
    X, y = blobs
    space = {"model": "mlp", "hidden": cerebro.choice([8], [16]),
             "lr": cerebro.loguniform(1e-3, 1e-1), "batch_size": 32}
    exp = cerebro.Experiment((X, y), space, search=search, **{**RUN, "epochs": 2})
    assert exp.spec()["search"]["method"] == search.method
    r = exp.run(out=tmp_path / "run", quiet=True)
    assert len(r.models) == models and r.finished


def test_asha_over_the_grid_trains_the_grids_configurations(tmp_path, blobs):
    X, y = blobs
    space = {"model": "mlp", "hidden": cerebro.choice([8], [16]),
             "lr": cerebro.choice(0.1, 0.01), "batch_size": 32}
    asha = cerebro.ASHA(grace_period=1, reduction_factor=2, sampler="grid")
    assert asha.to_spec() == {"method": "asha", "grace_period": 1, "reduction_factor": 2,
                              "sampler": "grid"}
    grid = cerebro.Experiment((X, y), space, search=cerebro.Grid(), **{**RUN, "epochs": 2})
    r = cerebro.Experiment((X, y), space, search=asha, **{**RUN, "epochs": 2}).run(
        out=tmp_path / "run", quiet=True)
    assert r.finished
    trained = sorted((m["id"], m["params"]) for m in r.models)
    assert trained == [(c["id"], c["params"]) for c in grid.configurations()]

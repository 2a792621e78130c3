"""Bad input raises the right exception with a one-line message, before anything is
written (no run directory, no RUN_DIR.inputs)."""

import os

import numpy as np
import pandas as pd
import pytest

import cerebro


def _nothing_written(tmp_path):
    assert os.listdir(tmp_path) == []


def _raises(tmp_path, exc, match, data, params, **kw):
    with pytest.raises(exc, match=match) as info:
        cerebro.run(data, params, out=tmp_path / "run", quiet=True, epochs=1, workers=1, **kw)
    assert "\n" not in str(info.value)
    _nothing_written(tmp_path)


def test_nan_in_features(tmp_path, blobs, small_space):
    X, y = blobs
    X = X.copy()
    X[5, 2] = np.nan
    _raises(tmp_path, ValueError, r"X: NaN at \[5, 2\]", (X, y), small_space)


def test_nan_in_a_dataframe_column(tmp_path, blobs, small_space):
    X, y = blobs
    df = pd.DataFrame(X, columns=[f"c{j}" for j in range(8)])
    df["label"] = y
    df.loc[7, "c3"] = np.nan
    _raises(tmp_path, ValueError, r"column 'c3': NaN in row 7", df, small_space, label="label")


def test_non_numeric_column(tmp_path, blobs, small_space):
    X, y = blobs
    df = pd.DataFrame(X[:, :2], columns=["a", "b"])
    df["city"] = "x"
    df["label"] = y
    _raises(tmp_path, ValueError, r"column 'city': dtype object is not numeric", df, small_space,
            label="label")


def test_string_array(tmp_path, small_space):
    X = np.array([["a", "b"]] * 10)
    _raises(tmp_path, ValueError, r"X: dtype <U1 is not numeric", (X, np.zeros(10, int)),
            small_space)


def test_mismatched_lengths(tmp_path, blobs, small_space):
    X, y = blobs
    _raises(tmp_path, ValueError, r"X and y: 240 examples but 239 labels", (X, y[:-1]),
            small_space)


def test_missing_label_column(tmp_path, blobs, small_space):
    X, y = blobs
    df = pd.DataFrame(X, columns=[f"c{j}" for j in range(8)])
    df["label"] = y
    _raises(tmp_path, ValueError, r"label: no column 'target'", df, small_space, label="target")


def test_fractional_class_labels(tmp_path, blobs, small_space):
    X, _ = blobs
    _raises(tmp_path, ValueError, r"y: classification labels are class indices",
            (X, np.full(len(X), 0.5)), small_space)


def test_bad_space_names_the_field(tmp_path, blobs):
    X, y = blobs
    _raises(tmp_path, ValueError, r"params\.lr", (X, y),
            {"model": "mlp", "lr": {"uniform": [1, 0]}})


def test_grid_over_a_distribution(tmp_path, blobs):
    X, y = blobs
    _raises(tmp_path, ValueError, r"grid", (X, y), {"model": "mlp", "lr": cerebro.uniform(0, 1)})


def test_bad_procedure_knob(tmp_path, blobs, small_space):
    X, y = blobs
    _raises(tmp_path, ValueError, r"search\.n_ei_candidates", (X, y), small_space,
            search=cerebro.TPE(4, n_ei_candidates=0))


def test_bad_run_setting(tmp_path, blobs, small_space):
    X, y = blobs
    with pytest.raises(ValueError, match=r"run\.order"):
        cerebro.run((X, y), small_space, out=tmp_path / "run", order="sideways")
    _nothing_written(tmp_path)


def test_missing_file(tmp_path, small_space):
    _raises(tmp_path, FileNotFoundError, r"no such file", str(tmp_path / "nope.csv"), small_space)


def test_existing_run_directory(tmp_path, blobs, small_space):
    X, y = blobs
    (tmp_path / "run").mkdir()
    with pytest.raises(FileExistsError):
        cerebro.run((X, y), small_space, out=tmp_path / "run", quiet=True)
    assert os.listdir(tmp_path) == ["run"]


def test_model_function_that_raises(tmp_path, blobs):
    torch = pytest.importorskip("torch")
    X, y = blobs

    def net(cfg):
        raise RuntimeError("no such layer")

    _raises(tmp_path, ValueError, r"model function raised .*no such layer", (X, y),
            {"width": cerebro.choice(4, 8), "lr": 1e-3}, model=net)


def test_model_function_returning_no_module(tmp_path, blobs):
    pytest.importorskip("torch")
    X, y = blobs
    _raises(tmp_path, ValueError, r"returned int", (X, y), {"width": 4}, model=lambda cfg: 3)


def test_model_that_cannot_be_scripted(tmp_path, blobs):
    torch = pytest.importorskip("torch")
    X, y = blobs

    class Unscriptable(torch.nn.Module):
        def forward(self, x):
            return x.numpy()  # not TorchScript

    _raises(tmp_path, ValueError, r"cannot be scripted", (X, y), {"width": 4},
            model=lambda cfg: Unscriptable())


def test_model_with_the_wrong_output_size(tmp_path, blobs):
    torch = pytest.importorskip("torch")
    X, y = blobs
    _raises(tmp_path, ValueError, r"returned \(1, 5\), expected \(1, 3\)", (X, y), {"width": 4},
            model=lambda cfg: torch.nn.Linear(8, 5))


def test_label_with_arrays(tmp_path, blobs, small_space):
    X, y = blobs
    _raises(tmp_path, ValueError, r"label: names the label column", (X, y), small_space,
            label="y")

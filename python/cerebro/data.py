"""Data given to an Experiment, checked in Python and written in a format the engine reads.

Forms: NumPy ``(X, y)``; a pandas DataFrame with a label column; a file path (CSV,
LibSVM, or a pair of IDX image/label files; any format the spec's data section reads);
``"fashion_mnist"`` (Debian's dataset-fashion-mnist). Validation: a fraction, or the same
forms. Every check runs before anything is written, and fails with a ValueError naming
the array or column: NaN or infinite values, non-numeric dtypes, mismatched lengths,
labels that are not class indices, a label column that does not exist.

uint8 image arrays (n, h, w) or (n, d) with class labels are written as IDX (bytes stay
bytes; ``feature_scale`` scales them, e.g. 1/255); other numeric arrays as CSV with
float32 values written exactly ('%.9g').
"""

import gzip
import os
import struct

import numpy as np

__all__ = ["FASHION_MNIST_DIR", "load_fashion_mnist", "DataPlan"]

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
_FMNIST = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def _fmnist_paths(split):
    images, labels = _FMNIST[split]
    return os.path.join(FASHION_MNIST_DIR, images), os.path.join(FASHION_MNIST_DIR, labels)


def _read_idx(path):
    with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion_mnist(split="train"):
    """Fashion-MNIST as NumPy arrays: ``(X, y)``, X uint8 of shape (n, 28, 28), y uint8.

    ``split``: "train" (60000 examples) or "test" (10000). Reads Debian's
    dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)."""
    if split not in _FMNIST:
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    images, labels = _fmnist_paths(split)
    for p in (images, labels):
        if not os.path.exists(p):
            raise FileNotFoundError(f"{p}: Fashion-MNIST is not installed "
                                    "(apt-get install dataset-fashion-mnist)")
    return _read_idx(images), _read_idx(labels)


def _write_idx(path, array):
    with open(path, "wb") as f:
        f.write(struct.pack(">HBB", 0, 0x08, array.ndim))
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def _write_csv(path, X, y, regression):
    header = ",".join([f"f{j}" for j in range(X.shape[1])] + ["label"])
    fmt = ["%.9g"] * X.shape[1] + ["%.9g" if regression else "%d"]
    table = np.empty((X.shape[0], X.shape[1] + 1), dtype=np.float64)
    table[:, :-1] = X.astype(np.float32)
    table[:, -1] = y
    np.savetxt(path, table, fmt=fmt, delimiter=",", header=header, comments="")


class _Arrays:
    """Checked in-memory examples: X (n, ...) numeric, y (n,)."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def idx_able(self, regression):
        return (not regression and self.X.dtype == np.uint8 and self.X.ndim in (2, 3)
                and self.y.max(initial=0) <= 255)


def _is_dataframe(x):
    try:
        import pandas as pd
    except ImportError:
        return False
    return isinstance(x, pd.DataFrame)


def _check_numeric(a, name):
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name}: dtype {a.dtype} is not numeric (give numbers: "
                         "encode categories as integers first)")


def _check_finite(a, name, columns=None):
    if a.dtype.kind != "f":
        return
    bad = ~np.isfinite(a)
    if bad.any():
        where = np.argwhere(bad)[0]
        what = "NaN" if np.isnan(a[tuple(where)]) else "an infinite value"
        if columns is not None:
            raise ValueError(f"column {columns[where[1]]!r}: {what} in row {where[0]} "
                             f"({int(bad[:, where[1]].sum())} non-finite values)")
        pos = ", ".join(str(int(i)) for i in where)
        raise ValueError(f"{name}: {what} at [{pos}] ({int(bad.sum())} non-finite values)")


def _check_labels(y, name, regression):
    if y.ndim != 1:
        raise ValueError(f"{name}: expected one label per example (shape (n,)), got shape {y.shape}")
    _check_numeric(y, name)
    _check_finite(y, name)
    if regression:
        return y.astype(np.float32)
    if y.dtype.kind == "f" and not np.all(y == np.round(y)):
        i = int(np.argmax(y != np.round(y)))
        raise ValueError(f"{name}: classification labels are class indices 0..k-1; "
                         f"got {y[i]!r} at example {i} (task='regression' for real targets)")
    if y.size and y.min() < 0:
        i = int(np.argmin(y))
        raise ValueError(f"{name}: classification labels are class indices 0..k-1; "
                         f"got {y[i]!r} at example {i}")
    return y.astype(np.int64)


def _from_arrays(X, y, xname, yname, regression):
    X, y = np.asarray(X), np.asarray(y)
    _check_numeric(X, xname)
    if X.ndim < 2:
        raise ValueError(f"{xname}: expected shape (n_examples, n_features), got {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{xname}: no examples")
    if y.ndim != 1:
        raise ValueError(f"{yname}: expected one label per example (shape (n,)), got shape {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"{xname} and {yname}: {X.shape[0]} examples but {y.shape[0]} labels")
    _check_finite(X, xname)
    y = _check_labels(y, yname, regression)
    return _Arrays(X, y)


def _from_dataframe(df, label, name, regression):
    if label is None:
        raise ValueError(f"label: name the label column of the {name} DataFrame")
    if label not in df.columns:
        cols = ", ".join(map(str, df.columns[:20]))
        raise ValueError(f"label: no column {label!r} in the {name} DataFrame (columns: {cols})")
    features = df.drop(columns=[label])
    if features.shape[1] == 0:
        raise ValueError(f"{name}: the DataFrame has no feature column besides {label!r}")
    for col in features.columns:
        if features[col].dtype.kind not in "biuf":
            raise ValueError(f"column {col!r}: dtype {features[col].dtype} is not numeric "
                             "(encode it first, e.g. with .cat.codes or pd.get_dummies)")
    X = features.to_numpy(dtype=np.float64)
    if len(df) == 0:
        raise ValueError(f"{name}: the DataFrame has no rows")
    _check_finite(X, name, columns=list(map(str, features.columns)))
    ycol = df[label]
    if ycol.dtype.kind not in "biuf":
        raise ValueError(f"column {label!r}: labels of dtype {ycol.dtype} are not numeric "
                         "(map classes to 0..k-1, e.g. with .astype('category').cat.codes)")
    y = _check_labels(ycol.to_numpy(), f"column {label!r}", regression)
    return _Arrays(X, y)


def _file_format(path):
    lower = path.lower()
    for suffix in (".gz",):
        if lower.endswith(suffix):
            lower = lower[: -len(suffix)]
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith((".svm", ".libsvm", ".svmlight")):
        return "libsvm"
    raise ValueError(f"{path}: cannot tell the format from the name (.csv, .libsvm, .svm; "
                     "IDX files as a pair (images, labels))")


def _as_source(x, label, name, regression):
    """One of: ("arrays", _Arrays) | ("file", format, path, labels_path)."""
    if isinstance(x, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(x))
        if not os.path.exists(path):
            raise FileNotFoundError(f"{name}: {x}: no such file")
        return ("file", _file_format(path), path, "")
    if _is_dataframe(x):
        return ("arrays", _from_dataframe(x, label, name, regression))
    if isinstance(x, tuple) and len(x) == 2:
        a, b = x
        if isinstance(a, (str, os.PathLike)) and isinstance(b, (str, os.PathLike)):
            paths = [os.path.abspath(os.fspath(p)) for p in (a, b)]
            for p in paths:
                if not os.path.exists(p):
                    raise FileNotFoundError(f"{name}: {p}: no such file")
            return ("file", "idx", paths[0], paths[1])
        if label is not None:
            raise ValueError("label: names the label column of a DataFrame or CSV file; "
                             "arrays give their labels as y")
        xn, yn = ("X", "y") if name == "data" else ("X_val", "y_val")
        return ("arrays", _from_arrays(a, b, xn, yn, regression))
    raise ValueError(f"{name}: expected (X, y) arrays, a pandas DataFrame, a file path or "
                     f"'fashion_mnist'; got {type(x).__name__}")


class DataPlan:
    """The data section of a spec for checked data, and the files it needs written.

    Construction checks everything and writes nothing; ``section(input_dir)`` is the
    spec's data section naming files in ``input_dir``; ``write(input_dir)`` writes them.
    """

    def __init__(self, data, label=None, validation=None, task="classification",
                 feature_scale=None):
        regression = task == "regression"
        self._scale = feature_scale
        self._label = label
        if isinstance(data, str) and data == "fashion_mnist":
            data = _fmnist_paths("train")
            if validation is None:
                validation = _fmnist_paths("test")
            if self._scale is None:
                self._scale = 1.0 / 255
        self.train = _as_source(data, label, "data", regression)
        if validation is None:
            validation = 0.2
        if isinstance(validation, (int, float)) and not isinstance(validation, bool):
            self.val = ("fraction", validation)
        else:
            self.val = _as_source(validation, label, "validation", regression)
        self.regression = regression
        kinds = {self.train[0]} | ({self.val[0]} - {"fraction"})
        if kinds == {"file", "arrays"}:
            raise ValueError("validation: give the same kind as data (both files or both "
                             "in memory), or a fraction")
        if self.train[0] == "file":
            self.format = self.train[1]
            if self.val[0] == "file" and self.val[1] != self.format:
                raise ValueError(f"validation: a {self.val[1]} file for {self.format} data")
        else:
            arrays = [self.train[1]] + ([self.val[1]] if self.val[0] == "arrays" else [])
            idx = all(a.idx_able(regression) for a in arrays)
            if idx and len({a.X.shape[1:] for a in arrays}) != 1:
                idx = False
            self.format = "idx" if idx else "csv"
            if not idx:
                for a, n in zip(arrays, ("X", "X_val")):
                    if a.X.ndim > 2:
                        raise ValueError(f"{n}: shape {a.X.shape}: features are (n, d), or "
                                         "uint8 images (n, h, w) with class labels")
            if len({a.X.shape[1:] if idx else a.X.shape[1] for a in arrays}) != 1:
                raise ValueError(f"X_val: {arrays[1].X.shape[1:]} features per example, "
                                 f"X has {arrays[0].X.shape[1:]}")

    def input_shape(self):
        """(feature_shape, outputs) as the engine will see them, or None for files."""
        if self.train[0] != "arrays":
            if self.train[0] == "file" and self.train[2] == _fmnist_paths("train")[0]:
                return (1, 28, 28), 10
            return None
        arrays = [self.train[1]] + ([self.val[1]] if self.val[0] == "arrays" else [])
        X = arrays[0].X
        shape = (1,) + X.shape[1:] if self.format == "idx" and X.ndim == 3 else (
            int(np.prod(X.shape[1:])),)
        if self.regression:
            return shape, 1
        return shape, int(max(a.y.max(initial=0) for a in arrays)) + 1

    def _files(self, part, input_dir):
        if self.format == "idx":
            return {"images": os.path.join(input_dir, f"{part}-images.idx"),
                    "labels": os.path.join(input_dir, f"{part}-labels.idx")}
        return {"path": os.path.join(input_dir, f"{part}.csv")}

    def _section_of(self, source, part, input_dir):
        if source[0] == "fraction":
            return {"fraction": source[1]}
        if source[0] == "file":
            _, fmt, path, labels = source
            if fmt == "idx":
                return {"images": path, "labels": labels}
            out = {"path": path}
            if fmt == "csv" and part == "train" and self._label is not None:
                out["label_column"] = self._label
            return out
        out = dict(self._files(part, input_dir))
        if self.format == "csv" and part == "train":
            out["label_column"] = "label"
        return out

    def section(self, input_dir):
        """The spec's data section (a dict)."""
        out = {"format": self.format,
               "train": self._section_of(self.train, "train", input_dir),
               "validation": self._section_of(self.val, "val", input_dir)}
        if self._scale is not None:
            out["feature_scale"] = float(self._scale)
        return out

    def write(self, input_dir):
        """Writes the in-memory examples into ``input_dir`` (which must exist)."""
        for source, part in ((self.train, "train"), (self.val, "val")):
            if source[0] != "arrays":
                continue
            a, files = source[1], self._files(part, input_dir)
            if self.format == "idx":
                _write_idx(files["images"], a.X)
                _write_idx(files["labels"], a.y.astype(np.uint8))
            else:
                _write_csv(files["path"], a.X.reshape(a.X.shape[0], -1), a.y, self.regression)

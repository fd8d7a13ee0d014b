"""Tabular data for binary classifiers: CSV loading, the shipped breast-cancer
set, stratified train/test splits and standardisation.

Everything here is plain numpy (float64 arrays); cast to your model's dtype
when you train. A CSV file has one header line of column names, then one row
of numbers per sample; the label column holds 0 or 1.

>>> x, y, names = load_breast_cancer()
>>> x.shape, y.shape, names[0]
((569, 30), (569,), 'mean radius')
>>> x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_fraction=0.2, seed=0)
>>> x_tr, x_te = standardize(x_tr, x_te)
>>> x_tr.shape, x_te.shape
((456, 30), (113, 30))
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from importlib import resources

import numpy as np

__all__ = [
    "DataError",
    "load_csv",
    "read_csv",
    "load_features",
    "load_breast_cancer",
    "train_test_split",
    "fit_standardize",
    "apply_standardize",
    "standardize",
]


class DataError(ValueError):
    """A data file that cannot be used; the message names the file, the
    row/column and the problem on one line."""


def _read_table(path: str | os.PathLike) -> tuple[list[str], np.ndarray, list[int]]:
    """Read a numeric CSV with a header: (names, float64 array (N, C), line numbers)."""
    p = os.fspath(path)
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            while header is not None and not any(c.strip() for c in header):
                header = next(reader, None)
            if header is None:
                raise DataError(f"{p}: the file is empty (expected a header line of column names)")
            header = [c.strip() for c in header]
            for j, name in enumerate(header):
                if not name:
                    raise DataError(f"{p}: line {reader.line_num}: column {j + 1} has an empty name")
                if name in header[:j]:
                    raise DataError(f"{p}: line {reader.line_num}: column name {name!r} appears twice")
            rows: list[list[float]] = []
            lines: list[int] = []
            for cells in reader:
                if not any(c.strip() for c in cells):
                    continue  # blank line
                line = reader.line_num
                if len(cells) != len(header):
                    raise DataError(
                        f"{p}: line {line}: has {len(cells)} cells, expected {len(header)} "
                        f"(one per header column)"
                    )
                row = []
                for name, cell in zip(header, cells):
                    try:
                        v = float(cell)
                    except ValueError:
                        v = math.nan
                    if not math.isfinite(v):
                        raise DataError(
                            f"{p}: line {line}, column {name!r}: {cell.strip()!r} is not a finite number"
                        )
                    row.append(v)
                rows.append(row)
                lines.append(line)
    except FileNotFoundError:
        raise DataError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{p}: is a folder, expected a CSV file") from None
    except PermissionError:
        raise DataError(f"{p}: permission denied") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{p}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise DataError(f"{p}: malformed CSV ({e})") from None
    if not rows:
        raise DataError(f"{p}: has a header but no data rows")
    return header, np.asarray(rows, dtype=np.float64), lines


def load_csv(
    path: str | os.PathLike, *, label: str | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load a labelled CSV: ``(x (N, F) float64, y (N,) float64 of 0/1, feature names)``.

    ``label`` names the label column (default: the last column); every other
    column is a feature. Raises :class:`DataError` for a missing, empty,
    ragged or non-numeric file, a missing label column or labels not 0/1.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(p, "w").write("a,b,y\\n1,2,0\\n3,4,1\\n")
    >>> x, y, names = load_csv(p)
    >>> x.tolist(), y.tolist(), names
    ([[1.0, 2.0], [3.0, 4.0]], [0.0, 1.0], ['a', 'b'])
    """
    if label is not None and not isinstance(label, str):
        raise TypeError(f"label: expected a column name (str) or None, got {type(label).__name__}")
    p = os.fspath(path)
    header, table, lines = _read_table(p)
    if label is None:
        label = header[-1]
    if label not in header:
        raise DataError(f"{p}: no label column {label!r} (columns: {_short_list(header)})")
    if len(header) < 2:
        raise DataError(f"{p}: only the label column {label!r}, expected feature columns too")
    j = header.index(label)
    y = table[:, j]
    bad = np.flatnonzero((y != 0.0) & (y != 1.0))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{p}: line {lines[i]}, column {label!r}: label {y[i]:g} is not 0 or 1"
        )
    names = header[:j] + header[j + 1 :]
    x = np.delete(table, j, axis=1)
    return x, y.copy(), names


def read_csv(path: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """Every column of a numeric CSV with a header: ``(table (N, C) float64, column names)``.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(p, "w").write("a,b\\n1,2\\n")
    >>> read_csv(p)
    (array([[1., 2.]]), ['a', 'b'])
    """
    header, table, _ = _read_table(path)
    return table, header


def load_features(path: str | os.PathLike, feature_names: Sequence[str]) -> np.ndarray:
    """Load the named columns of a CSV, in the given order, as (N, F) float64.

    Other columns (a label, an id) are ignored but must still be numeric.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(p, "w").write("b,a\\n2,1\\n")
    >>> load_features(p, ["a", "b"]).tolist()
    [[1.0, 2.0]]
    """
    p = os.fspath(path)
    header, table, _ = _read_table(p)
    missing = [n for n in feature_names if n not in header]
    if missing:
        raise DataError(
            f"{p}: missing feature column(s) {_short_list(missing)} (columns: {_short_list(header)})"
        )
    return table[:, [header.index(n) for n in feature_names]]


def load_breast_cancer() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The Breast Cancer Wisconsin (Diagnostic) set shipped with jaxnet.

    569 samples, 30 features; ``y = 1`` is benign, ``y = 0`` malignant
    (scikit-learn's coding). See ``jaxnet/datasets/README.txt`` for origin
    and licence (CC BY 4.0).

    >>> x, y, names = load_breast_cancer()
    >>> int(y.sum()), len(names)
    (357, 30)
    """
    ref = resources.files("jaxnet").joinpath("datasets").joinpath("breast_cancer.csv")
    with resources.as_file(ref) as p:
        return load_csv(p, label="target")


def train_test_split(
    x: np.ndarray,
    y: np.ndarray,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    stratify: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split into ``(x_train, x_test, y_train, y_test)``, deterministic in ``seed``.

    With ``stratify`` each class (value of ``y``, or row of a 2-D ``y``) puts
    ``round(test_fraction * count)`` samples in the test set (at least one, and
    at least one left for training, when the class has two or more), so both
    sets keep the class ratios.

    >>> x = np.arange(20.0).reshape(10, 2); y = np.array([0.0] * 5 + [1.0] * 5)
    >>> _, _, y_tr, y_te = train_test_split(x, y, test_fraction=0.4, seed=1)
    >>> sorted(y_te.tolist()), len(y_tr)
    ([0.0, 0.0, 1.0, 1.0], 6)
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim < 1 or y.ndim < 1 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x, y: expected the same number of samples on axis 0, got shapes {x.shape} and {y.shape}"
        )
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not (
        0.0 < test_fraction < 1.0
    ):
        raise ValueError(f"test_fraction: expected a number strictly between 0 and 1, got {test_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
    n = x.shape[0]
    rng = np.random.default_rng(int(seed))
    if stratify:
        keys = y.reshape(n, -1)
        _, group = np.unique(keys, axis=0, return_inverse=True)
        group = group.reshape(n)
        test_parts = []
        for g in range(int(group.max()) + 1 if n else 0):
            idx = rng.permutation(np.flatnonzero(group == g))
            k = int(round(test_fraction * idx.size))
            if idx.size >= 2:
                k = min(max(k, 1), idx.size - 1)
            test_parts.append(idx[:k])
        test_idx = np.concatenate(test_parts) if test_parts else np.zeros(0, dtype=np.int64)
    else:
        k = int(round(test_fraction * n))
        test_idx = rng.permutation(n)[:k]
    mask = np.zeros(n, dtype=bool)
    mask[test_idx] = True
    if mask.all() or not mask.any():
        raise ValueError(
            f"test_fraction: {test_fraction} of {n} samples leaves an empty train or test set"
        )
    train_idx = rng.permutation(np.flatnonzero(~mask))
    test_idx = rng.permutation(np.flatnonzero(mask))
    return x[train_idx], x[test_idx], y[train_idx], y[test_idx]


def fit_standardize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column ``(mean, std)`` of ``x`` (N, F); a constant column gets std 1.

    >>> fit_standardize(np.array([[1.0, 5.0], [3.0, 5.0]]))
    (array([2., 5.]), array([1., 1.]))
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"x: expected a non-empty 2-D array (samples, features), got shape {x.shape}")
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std = np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)
    return mean, std


def apply_standardize(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(x - mean) / std`` column-wise, with ``mean``/``std`` from :func:`fit_standardize`.

    >>> apply_standardize(np.array([[3.0]]), np.array([1.0]), np.array([2.0]))
    array([[1.]])
    """
    x = np.asarray(x, dtype=np.float64)
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    if x.ndim != 2 or mean.shape != (x.shape[1],) or std.shape != (x.shape[1],):
        raise ValueError(
            f"x, mean, std: expected shapes (N, F), (F,), (F,), got {x.shape}, {mean.shape}, {std.shape}"
        )
    return (x - mean) / std


def standardize(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardise both sets with the mean/std of ``x_train`` only.

    >>> a, b = standardize(np.array([[0.0], [2.0]]), np.array([[4.0]]))
    >>> a.ravel().tolist(), b.ravel().tolist()
    ([-1.0, 1.0], [3.0])
    """
    mean, std = fit_standardize(x_train)
    return apply_standardize(x_train, mean, std), apply_standardize(x_test, mean, std)


def _short_list(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")

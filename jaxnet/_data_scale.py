"""Standardisation, for :mod:`jaxnet.data`: per-column mean and std fitted on the training set, applied to any.

``x' = (x - mean) / std`` column by column, ``std`` the population standard
deviation (a constant column gets 1); :func:`fit_standardize` computes the
statistics without overflow for any finite column, :func:`apply_standardize`
applies them and refuses a result that overflows, naming the column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxnet._checks import refuse
from jaxnet._data_labels import _numeric


def _column(j: int, names: Sequence[str] | None) -> str:
    """``column 3 ('a')``: a column's 0-based index and, when known, its name."""
    return f"column {j} ({names[j]!r})" if names is not None else f"column {j}"


def _column_names(names: Any, width: int, what: str = "names") -> list[str] | None:
    """``names`` as a list of ``width`` column names, or None; a ValueError naming ``what`` otherwise."""
    if names is None:
        return None
    if isinstance(names, str) or not all(isinstance(n, str) for n in names) or len(names) != width:
        raise refuse(what, f"{width} column names (one per column of x)", repr(names))
    return list(names)


def fit_standardize(x: np.ndarray, *, names: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-column ``(mean (F,), std (F,))`` of ``x`` (N, F), in float64; a constant column gets std 1.

    ``std`` is the population standard deviation ``sqrt(mean((x - mean)**2))``
    (scikit-learn's ``StandardScaler``). It is computed on each column scaled
    by a power of two ``s <= max|x| < 2s`` and centred on its first value
    (``mean = s (x0/s + mean(x/s - x0/s))``), so no finite column overflows
    (a ±1e200 column has std 1e200) and large offsets keep their spread
    (nanosecond timestamps 1.7e18 + k·1e5 are not constant). A column is
    constant when ``std <= 16 eps max|x|``, ``eps`` the resolution of ``x``'s
    float dtype (float64 for integers): differences at the rounding level of
    its values. ``names`` (F column names) are used in error messages.
    Save both (e.g. in checkpoint metadata) and apply them to new data with
    :func:`apply_standardize`.

    >>> import jaxnet.data
    >>> jaxnet.data.fit_standardize(np.array([[1.0, 5.0], [3.0, 5.0]]))
    (array([2., 5.]), array([1., 1.]))
    >>> jaxnet.data.fit_standardize(np.array([[-1e200], [1e200]]))[1]
    array([1.e+200])
    """
    x = _numeric(x, "x")
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"x: expected a non-empty 2-D array (samples, features), got shape {x.shape}")
    cols = _column_names(names, x.shape[1])
    finite = np.isfinite(x)
    if not finite.all():
        i, j = (int(k[0]) for k in np.nonzero(~finite))
        raise refuse("x", "finite values", f"{x[i, j]} in {_column(j, cols)}, row {i}")
    eps = np.finfo(x.dtype if x.dtype.kind == "f" else np.float64).eps
    top = np.maximum(np.abs(x.max(axis=0).astype(np.float64)), np.abs(x.min(axis=0).astype(np.float64)))
    scale = np.ldexp(1.0, np.frexp(np.where(top > 0, top, 1.0))[1] - 1)  # a power of two: x / scale is exact
    d = x / scale  # float64, |d| < 2: the one temporary the size of x
    first = d[0].copy()
    d -= first
    shift = d.mean(axis=0)
    d -= shift
    std = np.sqrt(np.einsum("ij,ij->j", d, d) / x.shape[0]) * scale
    mean = (first + shift) * scale
    std = np.where(std > 16.0 * eps * top, std, 1.0)
    return mean, std


def _check_statistics(mean: np.ndarray, std: np.ndarray, cols: list[str] | None) -> None:
    """Refuse a mean or std that is not finite, or a std <= 0, naming the column."""
    bad = ~(np.isfinite(mean) & np.isfinite(std) & (std > 0))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        got = f"mean {float(mean[j])!r}, std {float(std[j])!r} in {_column(j, cols)}"
        raise refuse("mean, std", "finite values and std > 0", got)


def apply_standardize(
    x: np.ndarray, mean: np.ndarray, std: np.ndarray, *, names: Sequence[str] | None = None
) -> np.ndarray:
    """``(x - mean) / std`` column-wise: x (N, F), mean and std (F,) from :func:`fit_standardize`.

    A float32 ``x`` stays float32 (mean and std are rounded to it); anything
    else is computed in float64. A result that overflows (data far outside
    the training range) is refused naming the column (and ``names[j]``).

    >>> import jaxnet.data
    >>> mean, std = np.array([1.0]), np.array([2.0])
    >>> jaxnet.data.apply_standardize(np.array([[3.0]]), mean, std)
    array([[1.]])
    """
    x = _numeric(x, "x")
    mean = _numeric(mean, "mean").astype(np.float64)
    std = _numeric(std, "std").astype(np.float64)
    if x.ndim != 2 or mean.shape != (x.shape[1],) or std.shape != (x.shape[1],):
        raise ValueError(f"x, mean, std: expected shapes (N, F), (F,), (F,), got {x.shape}, {mean.shape}, {std.shape}")
    cols = _column_names(names, x.shape[1])
    _check_statistics(mean, std, cols)
    dt = x.dtype if x.dtype == np.float32 else np.dtype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        out = (x.astype(dt, copy=False) - mean.astype(dt)) / std.astype(dt)
    finite = np.isfinite(out)
    if not finite.all():
        i, j = (int(k[0]) for k in np.nonzero(~finite))
        why = "is not finite" if not np.isfinite(x[i, j]) else f"overflows {dt.name} when standardised"
        got = f"{float(x[i, j])!r} in {_column(j, cols)}, row {i}, which {why} (mean {mean[j]:.6g}, std {std[j]:.6g})"
        raise refuse("x", "finite standardised values", got)
    return out


def standardize(
    x_train: np.ndarray, *x_others: np.ndarray, names: Sequence[str] | None = None
) -> tuple[np.ndarray, ...]:
    """Standardise ``x_train`` (N, F) and any other sets with the mean/std of ``x_train`` only.

    Returns ``(x_train, *x_others)`` standardised, same shapes. Fitting on the
    training set alone keeps the test set unseen. ``names``: F column names
    for error messages.

    >>> import jaxnet.data
    >>> a, b = jaxnet.data.standardize(np.array([[0.0], [2.0]]), np.array([[4.0]]))
    >>> a.ravel().tolist(), b.ravel().tolist()
    ([-1.0, 1.0], [3.0])
    """
    mean, std = fit_standardize(x_train, names=names)
    return tuple(apply_standardize(x, mean, std, names=names) for x in (x_train, *x_others))

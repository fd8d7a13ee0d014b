"""Train/test splits, for :mod:`jaxnet.data`: shuffled, deterministic in a seed, stratified by class.

Whether a model's targets are split by class is :func:`jaxnet.tabular.stratified`'s
rule (the estimators, the CLI and ``fit(validation_split=)`` pass it as
``stratify``); :func:`train_test_split` then groups the rows by class only
when the labels are classes at all (:func:`jaxnet.data.infer_head` says
sigmoid or softmax), so regression targets always get a plain shuffled split.
"""

from __future__ import annotations

import numpy as np

from jaxnet._checks import count, number
from jaxnet._data_labels import _numeric, infer_head
from jaxnet.network import HEADS

SEED_MAX = 2**63 - 1  # the largest seed, as for a jax.random key seed and the CLI's --seed


def _test_rows(y: np.ndarray, fraction: float, rng: np.random.Generator, stratify: bool) -> np.ndarray:
    """The rows of ``y`` (N, ...) drawn for the test set: ``round(fraction * count)`` of each class (at least
    one, and at least one left for training, when the class has two or more), or of all rows."""
    n = y.shape[0]
    if not (stratify and n and HEADS[infer_head(y)].classifier):
        return rng.permutation(n)[: int(round(fraction * n))]
    _, group = np.unique(y.reshape(n, -1), axis=0, return_inverse=True)
    group = group.reshape(n)
    by_class = np.split(np.argsort(group, kind="stable"), np.cumsum(np.bincount(group))[:-1])
    parts = []
    for members in by_class:
        idx = rng.permutation(members)
        k = int(round(fraction * idx.size))
        if idx.size >= 2:
            k = min(max(k, 1), idx.size - 1)
        parts.append(idx[:k])
    return np.concatenate(parts)


def train_test_split(
    x: np.ndarray,
    y: np.ndarray,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    stratify: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split into ``(x_train, x_test, y_train, y_test)``, deterministic in ``seed``.

    x (N, ...) and y (N,) or (N, k) are split on axis 0 and keep their dtypes.
    With ``stratify`` and class labels (:func:`infer_head` says sigmoid or
    softmax: 0/1 or one-hot rows, integer classes) each class (value of
    ``y``, or row of a 2-D ``y``) puts ``round(test_fraction * count)``
    samples in the test set (at least one, and at least one left for
    training, when the class has two or more), so both sets keep the class
    ratios. Regression targets (identity head) get a plain shuffled split.

    >>> import jaxnet.data
    >>> x = np.arange(20.0).reshape(10, 2); y = np.array([0.0] * 5 + [1.0] * 5)
    >>> split = jaxnet.data.train_test_split(x, y, test_fraction=0.4, seed=1)
    >>> _, _, y_tr, y_te = split
    >>> sorted(y_te.tolist()), len(y_tr)
    ([0.0, 0.0, 1.0, 1.0], 6)
    """
    x = _numeric(x, "x")
    y = _numeric(y, "y")
    if x.ndim < 1 or y.ndim < 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x, y: expected the same number of samples on axis 0, got shapes {x.shape} and {y.shape}")
    test_fraction = number("test_fraction", test_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    rng = np.random.default_rng(count("seed", seed, low=0, high=SEED_MAX))
    n = x.shape[0]
    mask = np.zeros(n, dtype=bool)
    mask[_test_rows(y, test_fraction, rng, stratify)] = True
    if mask.all() or not mask.any():
        raise ValueError(f"test_fraction: {test_fraction} of {n} samples leaves an empty train or test set")
    train_idx = rng.permutation(np.flatnonzero(~mask))
    test_idx = rng.permutation(np.flatnonzero(mask))
    return x[train_idx], x[test_idx], y[train_idx], y[test_idx]

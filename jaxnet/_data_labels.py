"""The labels of a table, for :mod:`jaxnet.data`: the head they ask for and the feature columns that leak them.

:func:`infer_head` reads the output head from the label values alone (0/1:
sigmoid, classes 0..C-1: softmax, else identity); :func:`leaky_columns`
finds 0/1 feature columns that give a label away (a copy, a complement, or
the rest of a one-hot group the label belongs to).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from jaxnet._checks import finite, number
from jaxnet.network import HEADS


def _numeric(a: Any, what: str) -> np.ndarray:
    """``a`` as a numeric (bool, int or float) numpy array, or a TypeError/ValueError naming ``what``."""
    try:
        arr = np.asarray(a)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise ValueError(f"{what}: expected a rectangular numeric array, got {type(a).__name__} ({e})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what}: expected a numeric array, got dtype {arr.dtype} ({type(a).__name__})")
    return arr


def _labels(y: Any, what: str = "y") -> np.ndarray:
    """``y`` as a float64 (N,) or (N, k) array of finite labels, N >= 1, or a ValueError naming ``what``."""
    y = _numeric(y, what).astype(np.float64, copy=False)
    if y.ndim not in (1, 2) or y.shape[0] == 0 or y.size == 0:
        raise ValueError(f"{what}: expected a non-empty (N,) or (N, k) array of labels, got shape {y.shape}")
    finite(what, y)
    return y


def infer_head(y: np.ndarray) -> Literal["sigmoid", "softmax", "identity"]:
    """The output head a label array asks for.

    - every value 0 or 1, y (N,) or (N, k) -> ``"sigmoid"`` (binary, or multi-label);
    - y (N,) of integers whose values are exactly {0, 1, ..., C-1}, C > 2 -> ``"softmax"``;
    - anything else (fractions, negatives, classes with gaps) -> ``"identity"`` (regression).

    >>> import jaxnet.data
    >>> jaxnet.data.infer_head(np.array([0.0, 1.0, 1.0]))
    'sigmoid'
    >>> jaxnet.data.infer_head(np.array([[0, 1], [1, 1]]))
    'sigmoid'
    >>> jaxnet.data.infer_head(np.array([0, 2, 1, 2]))
    'softmax'
    >>> jaxnet.data.infer_head(np.array([0, 3, 1]))  # a class is missing
    'identity'
    >>> jaxnet.data.infer_head(np.array([0.5, 1.0]))
    'identity'
    """
    y = _labels(y)
    if ((y == 0.0) | (y == 1.0)).all():
        return "sigmoid"
    if y.ndim == 1 and (y == np.round(y)).all() and y.min() == 0.0:
        classes = np.unique(y)
        if classes.size > 2 and classes[-1] == classes.size - 1:
            return "softmax"
    return "identity"


def _balanced(pred: np.ndarray, t: np.ndarray) -> float:
    """min(recall on t, recall on ~t) of boolean prediction ``pred`` for boolean target ``t``."""
    return float(min((pred & t).sum() / t.sum(), (~pred & ~t).sum() / (~t).sum()))


def _complement_group(b: np.ndarray, t: np.ndarray, threshold: float) -> np.ndarray:
    """Columns of boolean ``b`` (N, m) that, with ``t``, form a one-hot group
    (``t`` is on exactly when none of them is), or an empty index array.

    Candidates are the columns almost never on with ``t``; the one that least
    often is the only candidate on in its rows is dropped until each is alone
    in >= ``threshold`` of its rows (counts updated on the dropped column's
    rows only, so the cost is O(N m + ones * m)).
    """
    with_t = np.count_nonzero(b[t], axis=0)
    group = np.flatnonzero((with_t <= (1.0 - threshold) * t.sum()) & b.any(axis=0))
    if group.size < 2:
        return group[:0]
    on = b[:, group]
    count = np.count_nonzero(on, axis=1)
    alone = np.count_nonzero(on[count == 1], axis=0)
    total = np.count_nonzero(on, axis=0)
    active = np.ones(group.size, dtype=bool)
    while active.sum() >= 2:
        share = np.where(active, alone / total, np.inf)
        worst = int(np.argmin(share))
        if share[worst] >= threshold:
            break
        active[worst] = False
        rows = np.flatnonzero(on[:, worst])
        count[rows] -= 1
        now_alone = rows[count[rows] == 1]
        np.add.at(alone, (on[now_alone] & active).argmax(axis=1), 1)
    group = group[active]
    if group.size >= 2 and _balanced(np.logical_not(b[:, group].any(axis=1)), t) >= threshold:
        return group
    return group[:0]


def _binary_targets(y: np.ndarray) -> list[np.ndarray]:
    """Boolean one-vs-rest targets of each label column with 2 values or softmax classes."""
    targets = []
    for col in y.reshape(y.shape[0], -1).T:
        values = np.unique(col)
        if values.size == 2:
            targets.append(col == values[1])
        elif HEADS[infer_head(col)].labels == "classes":
            targets.extend(col == v for v in values)
    return targets


def leaky_columns(x: np.ndarray, y: np.ndarray, names: Sequence[str], threshold: float = 0.99) -> list[str]:
    """Feature columns that give the label away: 0/1 columns that predict it almost perfectly.

    For each label column with two values (or each class of softmax labels,
    one-vs-rest, target ``t``), a 0/1 feature ``c`` is flagged when it is
    ``t`` or ``not t`` with recall >= ``threshold`` on both sides (so a
    constant column never "predicts" a rare label), and a group of 0/1
    features is flagged when, one-hot with the label, ``t == none of them``
    (``is_9`` taken as the label with ``is_0..is_8`` left as features). With
    several 0/1 label columns a feature that is on exactly when none of them
    is (a one-hot column left out of ``label``) is flagged too. x (N, F),
    y (N,) or (N, k), ``names`` F feature names; returns names in column order.

    >>> import jaxnet.data
    >>> x = np.array([[1, 0, 5.0], [0, 1, 3.0], [0, 0, 4.0], [0, 0, 1.0]])
    >>> y = np.array([0.0, 0.0, 1.0, 1.0])  # is_2; is_0 and is_1 left in x
    >>> jaxnet.data.leaky_columns(x, y, ["is_0", "is_1", "pixel"])
    ['is_0', 'is_1']
    >>> jaxnet.data.leaky_columns(x[:, 2:], y, ["pixel"])
    []
    """
    x = np.asarray(x, dtype=np.float64)
    y = _labels(y)
    if x.ndim != 2 or x.shape[0] != y.shape[0] or len(names) != x.shape[1]:
        raise ValueError(
            f"x, y, names: expected shapes (N, F), (N,) or (N, k) and F names, "
            f"got {x.shape}, {y.shape} and {len(names)} names"
        )
    threshold = number("threshold", threshold, low=0.5, high=1.0, low_open=True)
    one = x == 1.0
    is_binary = (one | (x == 0.0)).all(axis=0) & one.any(axis=0) & ~one.all(axis=0)  # 0/1, both present
    binary = np.flatnonzero(is_binary)
    b = np.compress(is_binary, one, axis=1)
    flagged = np.zeros(binary.size, dtype=bool)
    ones = np.count_nonzero(b, axis=0)
    for t in _binary_targets(y):
        n1 = int(t.sum())
        n0 = t.size - n1
        on_t = np.count_nonzero(b[t], axis=0)  # rows where c and t are on
        on_not_t = ones - on_t  # c on, t off
        same = (on_t / n1 >= threshold) & ((n0 - on_not_t) / n0 >= threshold)
        opposite = ((n1 - on_t) / n1 >= threshold) & (on_not_t / n0 >= threshold)
        flagged |= same | opposite
        flagged[_complement_group(b, t, threshold)] = True
    if y.ndim == 2 and y.shape[1] >= 2 and ((y == 0.0) | (y == 1.0)).all():
        yb = y == 1.0
        for j in range(binary.size):
            flagged[j] |= _complement_group(yb, b[:, j], threshold).size > 0
    return [names[int(j)] for j in binary[flagged]]

"""The tabular pipeline: labels, target and input scaling, the split and the baseline, scikit-learn-free.

What turns a table ``(X, y)`` into what :func:`jaxnet.fit` trains on, and the
network's outputs back into the table's labels. The estimators
(:class:`jaxnet.MLPClassifier`, :class:`jaxnet.MLPRegressor`) and the CLI both
use it; every function is pure and numpy-only, and the fitted parts live in one
frozen record, :class:`Tabular`.

* **classes**: labels of any type (str, int, bool, float) become indices into
  ``classes = unique(y)`` (sorted, as scikit-learn's ``classes_``); two classes
  train one sigmoid output (``P(y = classes[1])``), more a softmax;
* **target scaling** (regression): ``t = (y - mean) / std`` per output column,
  undone on predict as ``y = t std + mean``;
* **input scaling** (``standardize=True``): ``x' = (x - mean) / std`` per
  feature (population std; a constant column gets std 1), recorded;
* **split**: :func:`jaxnet.data.train_test_split`, stratified exactly when the
  targets are one column of classes (:func:`stratified`);
* **baseline**: always predicting the training part's majority class (or mean).

What the CLI does with a trained model (run metadata, prediction tables, the
baseline report, checkpoint checks) is in ``jaxnet._tabular_reports``; every
name of it is importable from here.

>>> import numpy as np
>>> classes, idx = encode_classes(np.array(["b", "a", "b"]))
>>> classes.tolist(), idx.tolist()
(['a', 'b'], [1, 0, 1])
>>> head, t = class_targets(idx, len(classes))
>>> head, t.ravel().tolist()
('sigmoid', [1.0, 0.0, 1.0])
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxnet import data
from jaxnet._checks import finite
from jaxnet._tabular_reports import (
    RUN_SETTINGS as RUN_SETTINGS,
)
from jaxnet._tabular_reports import (
    baseline,
    baseline_report,
    checkpoint_problems,
    class_labels,
    label_names,
    labelled_targets,
    model_data,
    prediction_table,
    run_metadata,
    scores_and_baseline,
)
from jaxnet.network import HEADS, depth, param_keys

__all__ = [
    "Tabular",
    "baseline",
    "baseline_report",
    "checkpoint_problems",
    "class_labels",
    "class_targets",
    "classes_from_outputs",
    "encode_classes",
    "fit_scaling",
    "fold_target_scaling",
    "head_targets",
    "is_classifier",
    "label_names",
    "labelled_targets",
    "model_data",
    "prediction_table",
    "run_metadata",
    "scores_and_baseline",
    "split",
    "split_parts",
    "stratified",
]


@dataclasses.dataclass(frozen=True, eq=False)
class Tabular:
    """The fitted parts of a tabular model besides its parameters.

    ``head``: the output head trained; ``classes``: the original labels
    (``None`` for regression and multi-label 0/1 targets); ``x_mean``/``x_std``:
    the input scaling (``None``: inputs used as given); ``y_mean``/``y_std``:
    the target scaling (regression; ``None`` otherwise); ``feature_names``:
    the column names seen in training, or ``None``; ``n_outputs``: the
    network's output width.
    """

    head: str
    n_outputs: int
    classes: np.ndarray | None = None
    x_mean: np.ndarray | None = None
    x_std: np.ndarray | None = None
    y_mean: np.ndarray | None = None
    y_std: np.ndarray | None = None
    feature_names: tuple[str, ...] | None = None

    def inputs(self, x: np.ndarray, dtype: Any = np.float32) -> np.ndarray:
        """``x`` (N, F) scaled as in training, in ``dtype``."""
        x = np.asarray(x, np.float64)
        if self.x_mean is not None and self.x_std is not None:
            x = (x - self.x_mean) / self.x_std
        return x.astype(dtype)

    def targets(self, t: np.ndarray) -> np.ndarray:
        """Network outputs of the identity head (N, k) in the target's own units."""
        t = np.asarray(t, np.float64)
        if self.y_mean is None or self.y_std is None:
            return t
        return t * self.y_std + self.y_mean


def is_classifier(head: str) -> bool:
    """The head predicts classes (sigmoid, softmax), not values (identity)."""
    return HEADS[head].classifier


def encode_classes(y: Any, name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """``(classes, indices)``: the sorted distinct labels of the 1-D ``y`` and each row's index into them.

    Labels of any one type: str, int, bool, float (NaN refused). Raises
    ValueError naming ``name`` for fewer than 2 classes.

    >>> encode_classes([True, False, True])[0].tolist()
    [False, True]
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name}: expected one column of class labels, got shape {y.shape}")
    finite(name, y, "finite class labels")
    try:
        classes, indices = np.unique(y, return_inverse=True)
    except TypeError as e:
        raise TypeError(f"{name}: class labels must be of one comparable type (e.g. all str), got {e}") from None
    if classes.size < 2:
        raise ValueError(f"{name}: a classifier needs at least 2 classes, got 1 class ({classes.tolist()})")
    return classes, indices.reshape(-1).astype(np.int32)


def class_targets(indices: np.ndarray, n_classes: int) -> tuple[str, np.ndarray]:
    """``(head, targets)`` for class indices: 2 classes -> ``"sigmoid"`` and 0/1 floats (N, 1); more ->
    ``"softmax"`` and the int32 indices (N,)."""
    if n_classes == 2:
        return "sigmoid", np.asarray(indices, np.float32).reshape(-1, 1)
    return "softmax", np.asarray(indices, np.int32)


def classes_from_outputs(out: np.ndarray, head: str, classes: np.ndarray | None) -> np.ndarray:
    """The labels a classifier's outputs (N, k) predict: ``classes[index]``, or 0/1 (N, k) multi-label.

    The decision rule: one sigmoid output is ``P(classes[1]) >= 0.5``, a softmax
    the most probable class; several sigmoid outputs (multi-label) each ``>= 0.5``.
    """
    out = np.asarray(out)
    if HEADS[head].labels == "classes":
        index = np.argmax(out, axis=1)
    elif out.shape[1] == 1 and classes is not None:
        index = (out[:, 0] >= 0.5).astype(np.int64)
    else:
        return (out >= 0.5).astype(np.int64)
    return index if classes is None else classes[index]


def fit_scaling(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column ``(mean, std)`` in float64 of a 1-D or 2-D array (:func:`jaxnet.data.fit_standardize`)."""
    a = np.asarray(a, np.float64)
    return data.fit_standardize(a.reshape(len(a), -1))


def fold_target_scaling(params: dict, mean: np.ndarray, std: np.ndarray) -> dict:
    """The params of a network trained on ``t = (y - mean) / std`` made to output ``y`` itself.

    ``W_L <- std W_L``, ``b_L <- std b_L + mean`` (only for the identity head, whose output is linear).
    """
    last = param_keys(depth(params))[-2:]
    w, b = params[last[0]], params[last[1]]
    s, m = jnp.asarray(std, w.dtype), jnp.asarray(mean, w.dtype)
    return {**params, last[0]: w * s[:, None], last[1]: b * s + m}


def head_targets(head: str, y: np.ndarray, columns: list[str]) -> tuple[np.ndarray, int, str]:
    """Label columns ``y`` in the form ``fit`` takes for ``head``, the number of outputs and a few words on them.

    Probabilities: ``(N, k)`` in [0, 1] (k label columns, multi-label); classes: integer classes ``0..C-1``
    (int32 ``(N,)``) or one-hot / probability rows; values: ``(N, k)`` as given. Refuses labels the head
    cannot learn with a ValueError naming the ``columns``.

    >>> head_targets("softmax", np.array([0.0, 2.0, 1.0]), ["species"])[1:]
    (3, '3 classes')
    """
    cols = ", ".join(repr(n) for n in columns)
    kind = HEADS[head].labels
    if kind == "probabilities":
        if np.any((y < 0) | (y > 1)):
            raise ValueError(
                f"{head!r} needs labels in [0, 1] in {cols}, got values in [{y.min():g}, {y.max():g}]; use --head "
                "softmax for classes or identity for values"
            )
        y2 = y.reshape(len(y), -1)
        pos = ", ".join(str(int(v)) for v in (y2 >= 0.5).sum(axis=0))
        return y2, y2.shape[1], f"0/1 ({pos} positive)"
    if kind == "classes":
        return _class_columns(head, y, cols)
    y2 = y.reshape(len(y), -1)
    return y2, y2.shape[1], f"values in [{y.min():.4g}, {y.max():.4g}]"


def _class_columns(head: str, y: np.ndarray, cols: str) -> tuple[np.ndarray, int, str]:
    if y.ndim == 2:
        if np.any(y < 0) or not np.allclose(y.sum(axis=1), 1.0, atol=1e-6):
            raise ValueError(
                f"{head!r} with several label columns ({cols}) needs one-hot or probability rows that sum to 1"
            )
        return y, y.shape[1], f"{y.shape[1]} classes (one column each)"
    if np.any(y < 0) or not np.all(y == np.round(y)):
        raise ValueError(
            f"{head!r} needs integer class labels 0, 1, ... in {cols}, got values in [{y.min():g}, {y.max():g}]"
        )
    classes = int(y.max()) + 1
    if classes < 2:
        raise ValueError(f"{head!r} needs at least 2 classes in {cols}, got only class 0")
    return y.astype(np.int32), classes, f"{classes} classes"


def stratified(head: str, y: np.ndarray) -> bool:
    """The one stratification rule: split by class for classes (indices or one-hot rows) and for one column
    of 0/1 labels; multi-label and regression targets get a plain shuffled split.

    The result is :func:`jaxnet.data.train_test_split`'s ``stratify``, which groups rows by class only when
    the labels are classes at all (:func:`jaxnet.data.infer_head` says sigmoid or softmax): soft
    probabilities, and class indices that skip a value or do not start at 0, get a plain split.

    >>> stratified("softmax", np.array([0, 2, 1])), stratified("sigmoid", np.zeros((4, 2)))
    (True, False)
    >>> stratified("softmax", np.array([1, 2, 3]))  # not classes 0..C-1: a plain split, and said so
    False
    """
    y = np.asarray(y)
    kind = HEADS[head].labels
    by_head = kind == "classes" or (kind == "probabilities" and (y.ndim == 1 or y.shape[1] == 1))
    return by_head and len(y) > 0 and HEADS[data.infer_head(y)].classifier  # what train_test_split will do


def split(
    x: np.ndarray, y: np.ndarray, head: str, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, x_held, y_train, y_held)``: ``fraction`` of the rows held out, stratified by :func:`stratified`."""
    return data.train_test_split(x, y, test_fraction=fraction, seed=seed, stratify=stratified(head, y))


def split_parts(
    x: np.ndarray, y: np.ndarray, head: str, test_fraction: float, val_fraction: float, seed: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"test": (x, y), "validation": ..., "train": ...}``: the test part first, then the validation part
    from what is left (none for ``val_fraction=0``), each stratified by :func:`stratified`.

    A ValueError names ``test_fraction`` or ``val_fraction``; a validation cut that finds too few rows is
    blamed on ``test_fraction`` when the test part took most of them.

    >>> parts = split_parts(np.arange(20.0).reshape(10, 2), np.arange(10.0), "identity", 0.2, 0.25, 0)
    >>> {k: len(v[0]) for k, v in parts.items()}
    {'test': 2, 'validation': 2, 'train': 6}
    """
    stratify = stratified(head, y)

    def cut(x: np.ndarray, y: np.ndarray, fraction: float, name: str) -> tuple[np.ndarray, ...]:
        try:
            return data.train_test_split(x, y, test_fraction=fraction, seed=seed, stratify=stratify)
        except ValueError as e:
            raise ValueError(f"{name}: {str(e).split(': ', 1)[-1]}") from None

    x_rest, x_te, y_rest, y_te = cut(x, y, test_fraction, "test_fraction")
    parts = {"test": (x_te, y_te)}
    if val_fraction > 0:
        try:
            x_tr, x_va, y_tr, y_va = cut(x_rest, y_rest, val_fraction, "val_fraction")
        except ValueError as e:
            if len(x_rest) >= len(x_te):
                raise
            raise ValueError(
                f"test_fraction: {test_fraction:g} leaves {len(x_rest)} of {len(x)} rows for training and "
                f"validation, too few for val_fraction {val_fraction:g} ({e})"
            ) from None
        parts["validation"] = (x_va, y_va)
    else:
        x_tr, y_tr = x_rest, y_rest
    parts["train"] = (x_tr, y_tr)
    return parts

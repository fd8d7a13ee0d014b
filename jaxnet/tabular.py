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
import math
import os
import warnings
from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxnet import data
from jaxnet.network import ACTIVATIONS, HEADS, ActivationName, HeadName, param_keys

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
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"{name}: expected finite class labels, got NaN or infinity")
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
    last = param_keys(len(params) // 2)[-2:]
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
    of 0/1 labels; multi-label and regression targets get a plain shuffled split."""
    y = np.asarray(y)
    kind = HEADS[head].labels
    return kind == "classes" or (kind == "probabilities" and (y.ndim == 1 or y.shape[1] == 1))


def split(
    x: np.ndarray, y: np.ndarray, head: str, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, x_held, y_train, y_held)``: ``fraction`` of the rows held out, stratified by :func:`stratified`."""
    return data.train_test_split(x, y, test_fraction=fraction, seed=seed, stratify=stratified(head, y))


def baseline(head: str, y_train: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The score of always predicting the training part's majority class (or mean) on targets ``y``.

    The same definitions as :func:`jaxnet.evaluate`: the fraction of matching elements (sigmoid), of
    matching rows (softmax), the RMSE over every element (identity).

    >>> baseline("sigmoid", np.array([0.0, 1.0, 1.0]), np.array([1.0, 0.0]))
    {'accuracy': 0.5, 'compared': 2}
    """
    kind = HEADS[head].labels
    if kind == "values":
        mean = y_train.reshape(len(y_train), -1).mean(axis=0)
        return {"rmse": float(np.sqrt(np.mean((y.reshape(len(y), -1) - mean) ** 2)))}
    if kind == "probabilities":
        majority = y_train.reshape(len(y_train), -1).mean(axis=0) >= 0.5
        hits = (y.reshape(len(y), -1) >= 0.5) == majority
    else:
        counts = y_train.sum(axis=0) if y_train.ndim == 2 else np.bincount(y_train.astype(int))
        hits = (np.argmax(y, axis=1) if y.ndim == 2 else y) == np.argmax(counts)
    return {"accuracy": float(np.mean(hits)), "compared": int(hits.size)}


# ---------------------------------------------------------------- checkpoints, scores and prediction tables
# (what ``jaxnet train``/``predict``/``check`` do with them, for Python users too)
def label_names(meta: dict) -> list[str]:
    """The label column names a checkpoint's metadata records (older checkpoints: one name, or none).

    >>> label_names({"label": ["y"]}), label_names({"label": "(none)"}), label_names({})
    (['y'], [], [])
    """
    label = meta.get("label")
    if isinstance(label, str):
        return [] if label.startswith("(") else [label]
    return [str(n) for n in label] if isinstance(label, list) else []


RUN_SETTINGS = ("optimizer", "lr", "batch_size", "seed", "test_fraction", "val_fraction", "early_stopping")


def run_metadata(
    settings: dict[str, Any],
    history: dict,
    status: str,
    head: str,
    sizes: tuple[int, ...],
    names: tuple[list[str], ...],
    mean: np.ndarray,
    std: np.ndarray,
) -> dict:
    """What a training run's checkpoint records besides the tensors (``checkpoints.save`` adds the layer
    sizes, dtype, head and activation).

    ``settings`` holds ``data`` (the CSV path) and the :data:`RUN_SETTINGS`; ``history`` is
    :func:`jaxnet.fit`'s; ``status`` how it stopped; ``names`` the ``(features, labels, ignored)`` columns;
    ``mean``/``std`` the input standardisation. ``step`` is the saved parameters' step: the best one
    after early stopping, else the last run; a ``classes`` head also records its class count.

    >>> m = run_metadata({"data": "d.csv", **dict.fromkeys(RUN_SETTINGS)}, {"steps_done": 7}, "finished",
    ...                  "softmax", (2, 3), (["a", "b"], ["y"], []), np.zeros(2), np.ones(2))
    >>> m["step"], m["steps_run"], m["standardize_std"], m["classes"]
    (7, 7, [1.0, 1.0], 3)
    """
    features, labels, ignore = names
    best = history.get("best_step")
    run = int(history.get("steps_done", 0))
    meta = {
        "step": int(best) if status == "early_stopping" and best is not None else run,  # the parameters' step
        "steps_run": run,
        "data": settings["data"],
        "label": labels,
        "ignored": ignore,
        "feature_names": features,
        "standardize_mean": mean.tolist(),
        "standardize_std": std.tolist(),
        **{k: settings[k] for k in RUN_SETTINGS},
        "stopped": status,
        "best_step": None if best is None else int(best),
    }
    if HEADS[head].labels == "classes":
        meta["classes"] = int(sizes[-1])
    return meta


def class_labels(meta: dict) -> list[str] | None:
    """The class labels an estimator checkpoint (``est.save``) records, as text; None for other files."""
    labels = meta.get("class_labels")
    return [str(c) for c in labels] if isinstance(labels, list) else None


def labelled_targets(y: np.ndarray, head: str) -> np.ndarray:
    """Label columns ``(N, k)`` read from a CSV in the form :func:`jaxnet.evaluate` takes for ``head``."""
    return y[:, 0] if HEADS[head].labels == "classes" and y.shape[1] == 1 else y


def model_data(path: str, meta: dict) -> tuple[np.ndarray, data.Table]:
    """The model's feature columns of the CSV at ``path`` standardised as in training (float64), and the
    :class:`jaxnet.data.Table` read in one pass (a pipe works), with its label columns when it has them all.

    ``meta``: a checkpoint's metadata (:func:`jaxnet.load`). A model that does not record its input scaling
    is refused (a :class:`jaxnet.data.DataError`): predicting would guess it. A model that does not record its
    feature names takes a CSV of exactly its inputs, in order; any other CSV is refused rather than guessed
    (the first n_in columns of ``y,a,b,c`` would be ``[y, a, b]``).
    """
    if not any(k in meta for k in ("standardize_mean", "input_scaling")):
        raise data.DataError(
            "the model does not record its input scaling (no 'standardize_mean'/'standardize_std' or "
            "'input_scaling' metadata), so the inputs' scaling would be a guess; save it with est.save or jaxnet "
            "train, or with jaxnet.save(..., metadata={'input_scaling': None}) for a model that takes inputs as given"
        )
    n_in = meta["layer_sizes"][0]
    names = meta.get("feature_names")
    if names is None:
        table = data.read_table(path, label=[])
        if table.x.shape[1] != n_in:
            shown = ", ".join(map(repr, table.header[:8])) + (" …" if len(table.header) > 8 else "")
            raise data.DataError(
                f"{path}: the model does not record its feature names, so its {n_in} inputs would be a guess "
                f"among the CSV's {table.x.shape[1]} columns ({shown}); give a CSV of exactly the {n_in} feature "
                "columns in training order, or save the model with its feature_names"
            )
    else:
        table = _read_features(path, names, label_names(meta))
    mean, std = meta.get("standardize_mean"), meta.get("standardize_std")
    x = table.x
    if mean is not None and std is not None:
        x = data.apply_standardize(x, np.asarray(mean), np.asarray(std), names=names)
    return x, table


def _read_features(path: str, names: list[str], labels: list[str]) -> data.Table:
    """The feature columns ``names`` and, when the CSV has them, the label columns, in one read. Label cells
    that are not numbers (on a regular file, which can be read again) leave the labels out, with a warning."""
    try:
        return data.read_table(path, features=names, label=labels, optional_label=True)
    except data.DataError as e:
        if not os.path.isfile(path) or not any(f"({n!r}):" in str(e) for n in labels):
            raise
        warnings.warn(f"cannot read the label column(s): {e}", stacklevel=3)
        return data.read_table(path, features=names, label=[])


def _output_names(head: str, labels: list[str], n_out: int) -> list[str]:
    """Names for the model's outputs: the label columns when there is one per output."""
    kind = HEADS[head].labels
    if len(labels) == n_out and (kind != "classes" or n_out > 1):
        return labels
    if kind == "classes":
        return [str(c) for c in range(n_out)]
    return [labels[0] if len(labels) == 1 else "value"] if n_out == 1 else [f"value_{j}" for j in range(n_out)]


def prediction_table(
    out: np.ndarray, head: str, labels: list[str], classes: list[str] | None = None
) -> list[list[str]]:
    """Rows of a prediction CSV (header first) for outputs ``out`` (N, k): the row number (1 = the first data
    row), the decided class(es), then the probabilities, or the predicted values (regression). A row whose
    outputs are not finite gets no class (an empty cell).

    >>> prediction_table(np.array([[0.25], [0.75]]), "sigmoid", ["y"])
    [['row', 'class', 'probability_0', 'probability_1'], ['1', '0', '0.75', '0.25'], ['2', '1', '0.25', '0.75']]
    """
    n, k = out.shape
    kind = HEADS[head].labels
    fmt = np.vectorize(lambda v: f"{v:.8g}", otypes=[object])
    number = np.arange(1, n + 1).astype(str)[:, None]
    unknown = ~np.isfinite(out).all(axis=1, keepdims=True)

    def decided(c: np.ndarray) -> np.ndarray:
        return np.where(unknown, "", c.astype(str))

    named = np.asarray(
        classes if classes is not None and len(classes) == max(k, 2) else [str(c) for c in range(max(k, 2))]
    )
    if kind == "probabilities" and k == 1:
        header = ["row", "class", *(f"probability_{m}" for m in named)]
        body = np.hstack([number, decided(named[(out >= 0.5).astype(int)]), fmt(1.0 - out), fmt(out)])
    elif kind == "probabilities":
        names = labels if len(labels) == k else [f"label_{j}" for j in range(k)]
        header = ["row", *names, *(f"probability_{m}" for m in names)]
        body = np.hstack([number, decided((out >= 0.5).astype(int)), fmt(out)])
    elif kind == "classes":
        names = named.tolist() if classes is not None else _output_names(head, labels, k)
        header = ["row", "class", *(f"probability_{m}" for m in names)]
        body = np.hstack([number, decided(np.asarray(names)[np.argmax(out, axis=1)][:, None]), fmt(out)])
    else:
        header = ["row", *_output_names(head, labels, k)]
        body = np.hstack([number, fmt(out)])
    return [header, *body.tolist()]


def scores_and_baseline(
    params: dict, xs: dict, ys: dict, head: HeadName, activation: ActivationName, y_train: np.ndarray
) -> tuple[dict, dict]:
    """:func:`jaxnet.evaluate` of the model and the :func:`baseline`'s score on each part of ``xs``/``ys``
    (dicts of part name to inputs and targets); ``y_train``: the training targets the baseline learns from."""
    from jaxnet.metrics import evaluate

    scores = {part: evaluate(params, xs[part], ys[part], activation=activation, head=head) for part in xs}
    return scores, {part: baseline(head, y_train, np.asarray(ys[part])) for part in xs}


def baseline_report(scores: dict, baselines: dict, head: str) -> tuple[list[str], str]:
    """One line per part comparing the model with the baseline, and why the training failed ('' when it did
    not): a classifier must beat the majority class by at least one element, a regressor the training mean's
    RMSE (by 1e-4 relative: a float32 RMSE of the same prediction may differ a little).

    >>> baseline_report({"test": {"loss": 0.6, "accuracy": 0.5}}, {"test": {"accuracy": 0.5, "compared": 4}},
    ...                 "sigmoid")[1]
    'the test accuracy 0.5000 is no better than always predicting the majority class (0.5000).'
    """
    lines, failed = [], []
    for part, s in scores.items():
        b = baselines[part]
        if not HEADS[head].classifier:
            line = f"loss {s['loss']:.4f}  rmse {s['rmse']:.4g}  r2 {s['r2']:.4f}  (predicting the mean: rmse {b['rmse']:.4g})"
            if not s["rmse"] < b["rmse"] * (1 - 1e-4):
                failed.append(
                    f"the {part} RMSE {s['rmse']:.4g} is no better than predicting the training mean ({b['rmse']:.4g})."
                )
        else:
            line = f"loss {s['loss']:.4f}  accuracy {s['accuracy']:.4f}  (majority class: {b['accuracy']:.4f})"
            if not s["accuracy"] > b["accuracy"] + 0.5 / b["compared"]:
                failed.append(
                    f"the {part} accuracy {s['accuracy']:.4f} is no better than always predicting the "
                    f"majority class ({b['accuracy']:.4f})."
                )
        lines.append(f"{part + ':':6s} {line}")
    return lines, " ".join(failed)


def checkpoint_problems(params: dict, meta: dict) -> list[str]:
    """What in a loaded checkpoint (:func:`jaxnet.load`) does not fit together: the head and activation, the
    feature names, the standardisation, the label columns, non-finite weights. Empty when all is well."""
    sizes, head = tuple(meta["layer_sizes"]), meta.get("head", "sigmoid")
    n_in, n_out = sizes[0], sizes[-1]
    problems = []
    if head not in HEADS or meta.get("activation", "relu") not in ACTIVATIONS:
        return [f"unknown head {head!r} or activation {meta.get('activation')!r}"]
    bad = [k for k, v in params.items() if not np.isfinite(np.asarray(v)).all()]
    if bad:
        problems.append(f"tensor(s) {bad} hold NaN or inf")
    names = meta.get("feature_names")
    if names is not None and (not isinstance(names, list) or len(names) != n_in or len(set(names)) != len(names)):
        problems.append(f"feature_names: expected {n_in} distinct names for {n_in} inputs, got {names!r:.200}")
    for key in ("standardize_mean", "standardize_std"):
        v = meta.get(key)
        if v is not None and (
            not isinstance(v, list)
            or len(v) != n_in
            or not all(isinstance(a, (int, float)) and math.isfinite(a) for a in v)
            or (key.endswith("std") and not all(a > 0 for a in v))
        ):
            problems.append(f"{key}: expected {n_in} finite numbers{' > 0' if key.endswith('std') else ''}")
    labels = label_names(meta)
    kind = HEADS[head].labels
    fits = len(labels) in (0, n_out) if kind != "classes" else len(labels) in (0, 1, n_out) and n_out >= 2
    if not fits:
        problems.append(f"label: {len(labels)} label column(s) {labels} for a {head} head with {n_out} outputs")
    return problems


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

"""Checkpoints, scores and prediction tables of a tabular model, for :mod:`jaxnet.tabular`.

What ``jaxnet train``/``predict``/``check`` do with a trained table model, for
Python users too: the run metadata a checkpoint records (:func:`run_metadata`)
and reads back (:func:`label_names`, :func:`class_labels`), the model's
inputs from a CSV (:func:`model_data`), the rows of a prediction CSV
(:func:`prediction_table`), the scores beside the :func:`baseline` of always
predicting the majority class or the mean (:func:`baseline_report`), and what
in a loaded checkpoint does not fit together (:func:`checkpoint_problems`).
Every name here is importable from :mod:`jaxnet.tabular`.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import numpy as np

from jaxnet import data
from jaxnet.network import ACTIVATIONS, HEADS, ActivationName, HeadName


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

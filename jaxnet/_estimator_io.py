"""An estimator's checkpoint: ``est.save(path)`` and :func:`jaxnet.load_model` (see :mod:`jaxnet.estimators`).

One safetensors file in the format of :mod:`jaxnet.checkpoints` (SHA-256, no
pickle):

* tensors ``W1, b1, ...``: the network as ``jaxnet.load`` and the CLI use it
  (the regressor's target scaling folded into its output layer, so it outputs
  the target's own units);
* extra tensors ``extra/opt_state/NNNN`` (the optimizer state's leaves, in
  ``jax.tree_util`` order) and, for the regressor, ``extra/train/WL``,
  ``extra/train/bL`` (the output layer in units of the scaled target, as trained);
* metadata: ``estimator`` (class name), ``estimator_params`` (its arguments),
  ``input_scaling`` and ``target_scaling`` (``{"mean", "std"}`` or ``null``, never
  absent), ``class_labels`` (+ their numpy dtype), ``feature_names`` and the
  training record (``loss_curve``, ``n_iter``, ...); plus ``standardize_mean``/
  ``standardize_std`` as ``jaxnet train`` writes them, which ``jaxnet predict`` reads.

>>> _optimizer_name("adam"), _optimizer_name(optax.adamw)
('adam', 'optax.adamw')
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
import optax

from jaxnet import checkpoints, tabular
from jaxnet._checks import one_of
from jaxnet._estimator_parts import _init_state
from jaxnet.network import depth, param_keys

REQUIRED = ("estimator", "estimator_params", "input_scaling", "target_scaling")
"""Metadata every estimator checkpoint records; a file without one of them is refused by ``load_model``."""

_OPT = "extra/opt_state/"


def _optimizer_name(optimizer: Any) -> str:
    """``"adam"``/``"sgd"``, or ``"optax.NAME"`` for an optax optimizer factory; else a ValueError."""
    if isinstance(optimizer, str):
        return optimizer
    name = getattr(optimizer, "__name__", None)
    if isinstance(name, str) and getattr(optax, name, None) is optimizer:
        return f"optax.{name}"
    raise ValueError(
        f"optimizer: {optimizer!r} cannot be recorded in a checkpoint; use 'adam', 'sgd' or an optax factory "
        "such as optax.adamw (or pickle the estimator)"
    )


def _optimizer_from(name: str, p: str) -> Any:
    if name.startswith("optax."):
        factory = getattr(optax, name[len("optax.") :], None)
        if not callable(factory):
            raise checkpoints.CheckpointError(f"{p}: unknown optimizer {name!r} (not in this optax)")
        return factory
    return name


def _arguments(est: Any) -> dict[str, Any]:
    params = est.get_params()
    out: dict[str, Any] = {}
    for k, v in params.items():
        if k == "optimizer":
            v = _optimizer_name(v)
        elif k == "compute_dtype":
            v = None if v is None else np.dtype(v).name
        elif k in ("device", "mesh"):  # where it ran, not what it is: a loaded model runs where it is loaded
            v = None
        elif k == "random_state":
            v = int(v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else None
        elif k == "hidden_layer_sizes":
            v = [int(s) for s in ((v,) if isinstance(v, (int, np.integer)) else v)]
        elif k == "class_weight" and isinstance(v, dict):
            v = {"labels": [_plain(c) for c in v], "weights": [float(w) for w in v.values()]}
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _scaling(mean: Any, std: Any) -> dict[str, list[float]] | None:
    if mean is None or std is None:
        return None
    return {"mean": np.asarray(mean, np.float64).tolist(), "std": np.asarray(std, np.float64).tolist()}


def save(est: Any, path: str | os.PathLike) -> None:
    """Write ``est`` (fitted) to ``path``: see the module docstring."""
    tab: tabular.Tabular = est._tabular
    params = est.params_
    extra = {f"{_OPT}{i:04d}": np.asarray(leaf) for i, leaf in enumerate(jax.tree_util.tree_leaves(est.opt_state_))}
    if tab.y_mean is not None and tab.y_std is not None:
        last = param_keys(depth(params))[-2:]
        extra.update({f"extra/train/{k}": np.asarray(params[k]) for k in last})
        params = tabular.fold_target_scaling(params, tab.y_mean, tab.y_std)
    names = getattr(est, "feature_names_in_", None)
    meta: dict[str, Any] = {
        "estimator": type(est).__name__,
        "estimator_params": _arguments(est),
        "input_scaling": _scaling(tab.x_mean, tab.x_std),
        "target_scaling": _scaling(tab.y_mean, tab.y_std),
        "class_labels": None if tab.classes is None else [_plain(c) for c in tab.classes.tolist()],
        "class_labels_dtype": None if tab.classes is None else tab.classes.dtype.str,
        "multilabel": tab.classes is None and hasattr(est, "classes_"),
        "one_d": bool(getattr(est, "_one_d", False)),
        "n_features_in": int(est.n_features_in_),
        "loss_curve": [float(v) for v in est.loss_curve_],
        "n_iter": int(est.n_iter_),
        "best_loss": None if est.best_loss_ is None or not np.isfinite(est.best_loss_) else float(est.best_loss_),
        "validation_scores": est.validation_scores_,
        "best_validation_score": None
        if est.best_validation_score_ is None or not np.isfinite(est.best_validation_score_)
        else float(est.best_validation_score_),
        "no_improvement": int(est._no_improvement),
        "seed": int(est._seed),
        "label": [],
    }
    if names is not None:
        meta["feature_names"] = [str(n) for n in names]
    if tab.x_mean is not None:
        meta["standardize_mean"], meta["standardize_std"] = meta["input_scaling"]["mean"], meta["input_scaling"]["std"]
    checkpoints.save(path, params, metadata=meta, activation=est.activation, head=tab.head, extra=extra)


def _required(p: str, meta: dict) -> None:
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise checkpoints.CheckpointError(
            f"{p}: not an estimator checkpoint: it does not record {missing} (a file from jaxnet.save or "
            "jaxnet train; read it with jaxnet.load and give its scaling yourself)"
        )


def load(path: str | os.PathLike, kinds: dict[str, type]) -> Any:
    """The estimator saved at ``path``; ``kinds``: class name -> class."""
    p = os.fsdecode(path)
    params, meta, extra = checkpoints.load_extra(p)
    checkpoints.require_recorded(p, meta, "load_model")
    _required(p, meta)
    try:
        cls = kinds[one_of("estimator", meta["estimator"], kinds)]
    except ValueError as e:
        raise checkpoints.CheckpointError(f"{p}: unknown {e}") from None
    args = dict(meta["estimator_params"])
    args["optimizer"] = _optimizer_from(str(args.get("optimizer", "adam")), p)
    if isinstance(args.get("class_weight"), dict):
        cw = args["class_weight"]
        args["class_weight"] = dict(zip(cw["labels"], cw["weights"], strict=True))
    args["hidden_layer_sizes"] = tuple(args["hidden_layer_sizes"])
    est = cls(**args)
    _restore(est, p, params, meta, extra)
    return est


def _restore(est: Any, p: str, params: dict, meta: dict, extra: dict) -> None:
    """Set the fitted attributes of ``est`` from a checkpoint's parts."""
    xs, ys = meta["input_scaling"], meta["target_scaling"]
    classes = None
    if meta.get("class_labels") is not None:
        classes = np.asarray(meta["class_labels"], dtype=np.dtype(meta["class_labels_dtype"]))
        est.classes_ = classes
    elif meta.get("multilabel"):
        est.classes_ = np.arange(int(meta["layer_sizes"][-1]))
    est._tabular = tabular.Tabular(
        meta["head"],
        int(meta["layer_sizes"][-1]),
        classes,
        None if xs is None else np.asarray(xs["mean"]),
        None if xs is None else np.asarray(xs["std"]),
        None if ys is None else np.asarray(ys["mean"]),
        None if ys is None else np.asarray(ys["std"]),
    )
    if ys is not None:
        last = param_keys(depth(params))[-2:]
        params = {**params, **{k: jax.device_put(np.asarray(extra[f"extra/train/{k}"])) for k in last}}
    est.params_ = params
    template = _init_state(est.optimizer, params)
    leaves, treedef = jax.tree_util.tree_flatten(template)
    stored = [extra.get(f"{_OPT}{i:04d}") for i in range(len(leaves))]

    def fits(s: Any, t: Any) -> bool:  # safetensors stores a scalar as shape (1,)
        return s is not None and (np.shape(s) == np.shape(t) or (np.ndim(t) == 0 and np.shape(s) == (1,)))

    if len(extra) != len(leaves) + 2 * (ys is not None) or not all(map(fits, stored, leaves)):
        raise checkpoints.CheckpointError(f"{p}: the optimizer state does not fit optimizer {est.optimizer!r}")
    est.opt_state_ = jax.tree_util.tree_unflatten(
        treedef,
        [jax.device_put(np.asarray(s, t.dtype).reshape(np.shape(t))) for s, t in zip(stored, leaves, strict=True)],
    )
    if "feature_names" in meta:
        est.feature_names_in_ = np.asarray(meta["feature_names"], dtype=object)
    est.n_features_in_ = int(meta["n_features_in"])
    est._one_d = bool(meta.get("one_d"))
    est.loss_curve_ = list(meta["loss_curve"])
    est.n_iter_ = int(meta["n_iter"])
    est.best_loss_ = np.inf if meta["best_loss"] is None and meta["validation_scores"] is None else meta["best_loss"]
    est.validation_scores_ = meta["validation_scores"]
    est.best_validation_score_ = meta["best_validation_score"]
    if est.validation_scores_ is not None and est.best_validation_score_ is None:
        est.best_validation_score_ = -np.inf
    est._no_improvement = int(meta["no_improvement"])
    est._best_params = None
    est._seed = int(meta["seed"])

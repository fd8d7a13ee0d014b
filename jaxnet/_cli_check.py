"""``jaxnet check``: a checkpoint verified, or the three gradient paths compared on random networks.

With a model: the checkpoint (checksum, shapes, metadata), the columns of
``--data``, and :func:`jaxnet.check_grads` on the model's own weights in
float64, on rows away from ReLU kinks. Without: :func:`jaxnet.check_grads` on
``--nets`` random networks of one random shape. Each disagreement is relative
to ``max(1, largest gradient)`` and compared with ``--tol``; exit 1 on any
problem.

>>> import numpy as np
>>> _random_labels(np.random.default_rng(0), "softmax", 3, 4).shape
(3,)
"""

from __future__ import annotations

import argparse
import warnings
from typing import Any

import jax
import numpy as np

import jaxnet
from jaxnet import checkpoints, data, network, tabular
from jaxnet._cli_common import EXIT_CHECK_FAILED, _kind, _one_line, _small_on_cpu, _UsageError
from jaxnet.network import ACTIVATIONS, ActivationName, HeadName

NUMERICAL_MAX_PARAMS = 4096  # central differences need one loss pair per parameter
CHECK_ROWS = 32  # rows of --data used by `check` (fewer rows, fewer ReLU inputs near their kink)


def _check(args: argparse.Namespace) -> int:
    if args.model is None and args.data is not None:
        raise _UsageError("argument --data: needs a MODEL to check the data against (jaxnet check MODEL --data CSV)")
    if args.model is not None and args.nets != 5:
        raise _UsageError("argument --nets: only without MODEL (random networks)")
    jax.config.update("jax_enable_x64", True)  # the comparison runs in float64
    with _small_on_cpu((1, 1), 1, None):  # a few small float64 nets, always below the crossover: silently
        return _check_model(args) if args.model is not None else _check_random(args)


def _check_grads(params: dict, x: Any, y: Any, w: Any, meta: dict, **kw: Any) -> dict:
    """:func:`jaxnet.check_grads` on every parameter up to :data:`NUMERICAL_MAX_PARAMS`, beyond 8 random directions."""
    directions = None if sum(int(np.size(v)) for v in params.values()) <= NUMERICAL_MAX_PARAMS else 8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jaxnet.NumericalPrecisionWarning)  # the bound is checked by --tol here
        return jaxnet.check_grads(
            params, x, y, w, activation=meta["activation"], head=meta["head"], directions=directions, **kw
        )


def _check_random(args: argparse.Namespace) -> int:
    """The three gradient paths on ``--nets`` random networks of ONE random shape (one compilation for all)."""
    rng = np.random.default_rng(args.seed)
    sizes = (int(rng.integers(2, 7)), int(rng.integers(2, 7)), int(rng.integers(2, 7)), int(rng.integers(1, 3)))
    n, worst = 8, 0.0
    for i in range(args.nets):
        params = _random_net(rng, sizes)
        x = rng.normal(size=(n, sizes[0]))
        y = rng.integers(0, 2, size=(n, sizes[-1])).astype(np.float64)
        w = rng.uniform(0.5, 2.0, size=n)
        # check_grads' own eps (cbrt(machine eps) * max(1, max|theta|)): numerical_grads traces it, so
        # nets of one shape share one compilation whatever their step
        r = _check_grads(params, x, y, w, {"activation": "relu", "head": "sigmoid"})
        d_manual, d_num = r["manual"], r["numerical"]
        worst = max(worst, d_manual, d_num)
        print(
            f"net {i + 1}: sizes {'-'.join(map(str, sizes))}, {n} weighted samples: "
            f"|autodiff - manual| {d_manual:.2e}, |autodiff - numerical| {d_num:.2e}"
        )
    ok = worst <= args.tol
    print(f"largest disagreement: {worst:.2e} (tolerance {args.tol:g}): {'OK' if ok else 'FAILED'}")
    return 0 if ok else EXIT_CHECK_FAILED


def _random_net(rng: np.random.Generator, sizes: tuple[int, ...]) -> dict:
    """:func:`jaxnet.init_mlp`'s He-initialised float64 weights (seeded from ``rng``) with random biases
    ``N(0, 0.5^2)``: with zero biases a layer whose inputs are all inactive sits exactly on the ReLU kink, where
    differences rightly disagree."""
    weights = jaxnet.init_mlp(jax.random.key(int(rng.integers(0, 2**31 - 1))), sizes, dtype=np.float64)
    params = {k: np.asarray(v) for k, v in weights.items()}
    for l, width in enumerate(sizes[1:], start=1):
        params[f"b{l}"] = rng.normal(0.0, 0.5, size=width)
    return params


def _random_labels(rng: np.random.Generator, head: HeadName, n: int, n_out: int) -> np.ndarray:
    if _kind(head) == "classes":
        return rng.integers(0, n_out, size=n)
    if _kind(head) == "probabilities":
        return rng.integers(0, 2, size=(n, n_out)).astype(np.float64)
    return rng.normal(size=(n, n_out))


def _check_data(path: str, meta: dict, problems: list[str]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The data's rows (standardised) and labels (when it has the label columns); prints what it found."""
    try:
        x, table = tabular.model_data(path, meta)
    except data.DataError as e:
        problems.append(f"data: {e}")
        print(f"data: FAILED: {_one_line(e)}")
        return None, None
    header, labels = table.header, tabular.label_names(meta)
    features = meta.get("feature_names") or []
    has_labels = bool(labels) and table.y is not None
    y = tabular.labelled_targets(table.y, meta.get("head", "sigmoid")) if table.y is not None else None
    extra = [c for c in header if c not in features and c not in labels] if features else []
    print(
        f"data: OK: {path}: {len(x)} rows with the model's {x.shape[1]} feature columns"
        + (f", label column(s) {', '.join(map(repr, labels))}" if has_labels else ", no label column")
        + (f"; not used: {', '.join(map(repr, extra[:8]))}{' …' if len(extra) > 8 else ''}" if extra else "")
    )
    if meta.get("standardize_mean") is not None:
        shift = np.abs(x.mean(axis=0))
        far = [str(features[j]) if features else str(j) for j in np.flatnonzero(shift > 3.0)]
        if far:
            print(
                f"data: warning: column(s) {', '.join(map(repr, far[:8]))} lie more than 3 training standard "
                "deviations from the training mean on average: is this the data the model was trained on?"
            )
    return x, y


def _away_from_kinks(params: dict, x: Any, activation: ActivationName) -> np.ndarray:
    """A mask of the rows whose hidden ReLU inputs are all at least 1e-3 from the kink (where differences are valid)."""
    if not ACTIVATIONS[activation].kinks or network.depth(params) == 1:
        return np.ones(len(x), dtype=bool)
    trace = jaxnet.forward_trace(params, x, activation=activation, head="identity")
    z = [np.abs(np.asarray(trace[f"z{l}"])).min(axis=1) for l in range(1, network.depth(params))]
    return np.min(np.stack(z), axis=0) > 1e-3


def _gradient_rows(
    args: argparse.Namespace, meta: dict, params: dict, problems: list[str]
) -> tuple[np.ndarray, np.ndarray, str]:
    """Up to CHECK_ROWS rows (of --data, standardised, else random) away from ReLU kinks, their labels
    (the data's when it has the label columns, else random ones) and a few words on what they are."""
    sizes, head = tuple(meta["layer_sizes"]), meta["head"]
    rng = np.random.default_rng(args.seed)
    x, y = _check_data(args.data, meta, problems) if args.data else (None, None)
    if x is None:
        x, what = rng.normal(size=(CHECK_ROWS, sizes[0])), f"{CHECK_ROWS} random rows"
    else:
        order = rng.permutation(len(x))[:CHECK_ROWS]
        x, y, what = x[order], (None if y is None else y[order]), f"{len(order)} rows of {args.data}"
    keep = _away_from_kinks(params, x, meta["activation"])
    if not keep.all():
        print(
            f"note: {int((~keep).sum())} of the rows have a ReLU input within 1e-3 of its kink (where central "
            "differences do not apply) and are left out"
        )
        x, y = x[keep], (None if y is None else y[keep])
        what = f"{len(x)} {what.split(' ', 1)[1]}"
    if len(x) == 0:
        x, y, what = rng.normal(size=(CHECK_ROWS, sizes[0])), None, f"{CHECK_ROWS} random rows"
    if y is None:
        y, what = _random_labels(rng, head, len(x), sizes[-1]), what + " with random labels"
    return x, y, what


def _check_model(args: argparse.Namespace) -> int:
    """``jaxnet check MODEL [--data CSV]``: checkpoint, metadata, data columns, the three gradients; exit 1 on a problem."""
    try:
        params, meta = checkpoints.load(args.model)
        checkpoints.require_recorded(args.model, meta, "jaxnet check")
    except checkpoints.CheckpointError as e:
        print(f"checkpoint: FAILED: {_one_line(e)}")
        return EXIT_CHECK_FAILED
    net = "-".join(map(str, meta["layer_sizes"]))
    print(
        f"checkpoint: OK: {args.model}: checksum, tensor names and shapes; layers {net}, {meta['dtype']}, "
        f"{meta['activation']} hidden, {meta['head']} head"
    )
    problems = tabular.checkpoint_problems(params, meta)
    print("metadata: " + ("FAILED: " + "; ".join(problems) if problems else "OK"))
    if problems:
        return EXIT_CHECK_FAILED
    p64 = {k: np.asarray(v, np.float64) for k, v in params.items()}
    x, y, what = _gradient_rows(args, meta, p64, problems)
    try:
        r = _check_grads(p64, x, y, None, meta, seed=args.seed)
        d_manual, d_num, how = r["manual"], r["numerical"], r["how"]
    except ValueError as e:
        print(f"gradients: FAILED: the data's labels do not fit the model: {_one_line(e)}")
        return EXIT_CHECK_FAILED
    ok = max(d_manual, d_num) <= args.tol
    print(
        f"gradients: {'OK' if ok else 'FAILED'}: on {what}, float64: |autodiff - manual| {d_manual:.2e}, "
        f"|autodiff - numerical| {d_num:.2e} ({how}; relative to max(1, largest gradient), tolerance {args.tol:g})"
    )
    if not ok:
        problems.append("gradients")
    print(f"check: {'OK' if not problems else 'FAILED: ' + ', '.join(p.split(':')[0] for p in problems)}")
    return 0 if not problems else EXIT_CHECK_FAILED

"""``jaxnet train``: read, split, standardise, train with :func:`jaxnet.fit`, score and save a checkpoint.

Every check that needs no data runs first (:func:`_check_train_options`); the
network's size is checked from the CSV's header, before any row is parsed. A
diverged or interrupted training is saved when it trained at all and predicts
finite values (:func:`_save_unfinished`); a finished one is scored against the
majority class (or the mean) and saved, marked ``failed`` when no better
(exit 4). From the end of the training to the end of the save, signals wait.

>>> _json_safe({"loss": 0.5, "rmse": float("nan")})
{'loss': 0.5, 'rmse': None}
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxnet
from jaxnet import _checks, checkpoints, data, tabular
from jaxnet._cli_common import (
    EXIT_DIVERGED,
    EXIT_FAILED_TRAINING,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    _check_distinct,
    _check_plot,
    _check_writable,
    _kind,
    _one_line,
    _Signals,
    _small_on_cpu,
    _UsageError,
)
from jaxnet._cli_parser import _names
from jaxnet.network import HEADS, ActivationName, HeadName


def _check_size(sizes: Sequence[int]) -> None:
    """Refuse (naming ``--hidden``) a network of more than ``INT32_MAX`` parameters."""
    count = sum(a * b + b for a, b in itertools.pairwise(sizes))
    if count > _checks.INT32_MAX:
        raise _UsageError(
            f"argument --hidden: a {'-'.join(map(str, sizes))} network has {count:,} parameters, more "
            f"than {_checks.INT32_MAX:,}"
        )


def _load_training_data(args: argparse.Namespace, labels: list[str], ignore: list[str]) -> data.Table:
    """``--data`` read once (a pipe works): y is ``(N,)`` for one label column, else ``(N, k)``. The network's
    size is checked from the header, before any row is parsed."""
    if args.data == "breast_cancer":
        if labels not in ([], ["target"]) or ignore:
            raise _UsageError(
                "argument --label/--ignore: the breast_cancer data has 30 features and the label "
                "'target'; use a CSV file for other columns"
            )
        x, y, names = data.load_breast_cancer()
        _check_size((x.shape[1], *args.hidden, 1))
        return data.Table(x, y, list(names), ["target"], [*names, "target"])
    label = labels[0] if len(labels) == 1 else (labels or None)  # default: the last column not ignored
    return data.read_table(
        args.data,
        label=label,
        ignore=ignore or None,
        on_columns=lambda f, l: _check_size((len(f), *args.hidden, max(1, len(l)))),  # at least one output a label
        progress=False if args.no_progress else "auto",
    )


def _targets(head: HeadName, y: np.ndarray, labels: list[str]) -> tuple[np.ndarray, int, str]:
    """:func:`jaxnet.tabular.head_targets`, its refusals as usage errors naming ``--head``."""
    try:
        return tabular.head_targets(head, y, labels)
    except ValueError as e:
        raise _UsageError(f"argument --head: {e}") from None


def _split(x: np.ndarray, y: np.ndarray, head: HeadName, args: argparse.Namespace) -> dict:
    """:func:`jaxnet.tabular.split_parts`, its refusals naming ``--test-fraction``/``--val-fraction``."""
    try:
        return tabular.split_parts(x, y, head, args.test_fraction, args.val_fraction, args.seed)
    except ValueError as e:
        name, why = str(e).split(": ", 1)
        raise _UsageError(
            f"argument --{name.replace('_', '-')}: {why.replace('val_fraction', '--val-fraction')}"
        ) from None


def _check_train_options(args: argparse.Namespace, labels: list[str], ignore: list[str]) -> None:
    """Every check that needs no data: run before anything is loaded or trained."""
    both = sorted(set(labels) & set(ignore))
    if both:
        raise _UsageError(f"argument --ignore: column(s) {both} are also given as --label")
    if args.val_fraction == 0:
        for flag, value in (("--early-stopping", args.early_stopping), ("--eval-every", args.eval_every)):
            if value is not None:
                raise _UsageError(f"argument {flag}: needs a validation part, got --val-fraction 0")
    if args.eval_every is not None and args.eval_every > args.steps:
        raise _UsageError(
            "argument " + _checks.message("--eval-every", f"at most --steps ({args.steps})", args.eval_every)
        )
    _check_writable("--out", args.out)
    _check_distinct(("--data", args.data), ("--out", args.out), ("--plot", args.plot))
    if args.plot:
        _check_plot("--plot", args.plot)


def _warn_leaks(x: np.ndarray, y: np.ndarray, features: list[str]) -> None:
    leaks = data.leaky_columns(x, y, features)
    if leaks:
        shown = ", ".join(repr(n) for n in leaks[:10]) + (f", … ({len(leaks)} in all)" if len(leaks) > 10 else "")
        print(
            f"jaxnet: warning: feature column(s) {shown} predict the label almost perfectly (possible label "
            "leakage); if they are labels too, name them in --label, or drop them with --ignore",
            file=sys.stderr,
        )


def _distributed(args: argparse.Namespace) -> jax.sharding.Mesh | None:
    """With ``--coordinator`` (or ``$JAX_COORDINATOR_ADDRESS``): join the ``jax.distributed`` group (before
    anything touches JAX's backends) and return a mesh over every process's devices; else None."""
    address = args.coordinator or os.environ.get("JAX_COORDINATOR_ADDRESS")
    if not address:
        if args.num_processes is not None or args.process_id is not None:
            raise _UsageError("argument --num-processes/--process-id: needs --coordinator HOST:PORT")
        return None
    try:
        jaxnet.distributed.initialize(address, args.num_processes, args.process_id)
    except ValueError as e:  # the count or the id, checked before JAX is called
        flag = "--process-id" if str(e).startswith("process_id") else "--num-processes"
        raise _UsageError(f"argument {flag}: {str(e).split(': ', 1)[-1]}") from None
    print(
        f"distributed: process {jax.process_index()} of {jax.process_count()}, {jax.device_count()} devices "
        f"in all ({jax.local_device_count()} here); process 0 saves"
    )
    return jaxnet.data_parallel_mesh()


def _fit_mesh(parts: dict, args: argparse.Namespace) -> None:
    """On a mesh: the training rows cut to a multiple of the device count (said), ``--batch-size`` checked."""
    devices = int(args.mesh.devices.size)
    if args.batch_size is not None and args.batch_size % devices:
        expected = f"a multiple of the {devices} devices"
        raise _UsageError("argument " + _checks.message("--batch-size", expected, args.batch_size))
    x, y = parts["train"]
    keep = len(x) // devices * devices
    if keep < len(x):
        print(f"distributed: the last {len(x) - keep} training rows left out (a multiple of {devices} devices)")
        parts["train"] = (x[:keep], y[:keep])


def _train(args: argparse.Namespace) -> int:
    labels, ignore = _names(args.label, "--label"), _names(args.ignore, "--ignore")
    _check_train_options(args, labels, ignore)
    args.mesh = _distributed(args)
    table = _load_training_data(args, labels, ignore)
    x, y_raw, features, labels = table.x, table.y, table.features, table.labels
    assert y_raw is not None  # a label column is required here
    head = args.head or data.infer_head(y_raw)
    y, n_out, about = _targets(head, y_raw, labels)
    _warn_leaks(x, y_raw, features)
    parts = _split(x, y, head, args)
    if args.mesh is not None:
        _fit_mesh(parts, args)
    n_train = len(parts["train"][0])
    if args.batch_size is not None and args.batch_size > n_train:
        expected = f"at most the {n_train} training rows"
        raise _UsageError("argument " + _checks.message("--batch-size", expected, args.batch_size))
    sizes = (x.shape[1], *args.hidden, n_out)
    _check_size(sizes)
    net = "-".join(map(str, sizes))
    print(
        f"data: {args.data}: {len(x)} rows, {x.shape[1]} features, label {', '.join(map(repr, labels))}: {about}"
        + (f"; ignored {', '.join(map(repr, ignore))}" if ignore else "")
    )
    print(
        "split: "
        + " / ".join(f"{len(parts[k][0])} {k}" for k in ("train", "validation", "test") if k in parts)
        + f" ({'stratified, ' if tabular.stratified(head, y) else ''}"
        f"seed {args.seed})"
    )
    print(
        f"net: {net}, {args.activation} hidden, {head} head, float32, {args.optimizer} lr={args.lr:g}, "
        f"{args.steps} steps, batch {args.batch_size or 'full'}"
        + (
            f", early stopping after {args.early_stopping} evaluations without improvement"
            if args.early_stopping
            else ""
        )
    )
    rows = args.batch_size or n_train
    with _small_on_cpu(sizes, rows, sys.stdout) if args.mesh is None else contextlib.nullcontext():
        return _train_parts(args, parts, sizes, head, (features, labels, ignore))


def _train_parts(
    args: argparse.Namespace, parts: dict, sizes: tuple[int, ...], head: HeadName, names: tuple[list[str], ...]
) -> int:
    """Standardise, train, then score and save (or save what there is); the exit code.

    ``names``: the feature, label and ignored column names.
    """
    features, labels = names[0], names[1]
    mean, std = data.fit_standardize(parts["train"][0], names=features)
    ydtype = jnp.int32 if _kind(head) == "classes" and parts["train"][1].ndim == 1 else jnp.float32
    xs = {
        k: jnp.asarray(data.apply_standardize(a, mean, std, names=features), jnp.float32) for k, (a, _) in parts.items()
    }
    ys = {k: jnp.asarray(b, ydtype) for k, (_, b) in parts.items()}
    scale = (
        None if HEADS[head].classifier else data.fit_standardize(parts["train"][1], names=labels)
    )  # targets in std units
    ys_fit = ys
    if scale is not None:
        ys_fit = {k: jnp.asarray((np.asarray(b) - scale[0]) / scale[1], jnp.float32) for k, (_, b) in parts.items()}
    key_init, key_fit = jax.random.split(jax.random.key(args.seed))
    params = jaxnet.init_mlp(key_init, sizes, dtype=jnp.float32)
    params, history, status = _fit(args, params, xs, ys_fit, head, key_fit)  # returns holding the signals
    if scale is not None:
        params = tabular.fold_target_scaling(params, *scale)
    settings = {k: getattr(args, k) for k in ("data", *tabular.RUN_SETTINGS)}
    meta = tabular.run_metadata(settings, history, status, head, sizes, names, mean, std)
    if status in ("diverged", "interrupted"):
        code = _save_unfinished(args, params, xs["train"], head, meta, status)
    else:
        code = _score_and_save(args, params, history, head, meta, (xs, ys, parts["train"][1]))
    held = args.signals.held()
    if not held:
        return code
    saved = f"{args.out} was written whole" if args.signals.saved else f"nothing was saved to {args.out}"
    print(f"jaxnet: {_Signals.name(held[0])} while saving, which was finished first: {saved}", file=sys.stderr)
    return code if code in (EXIT_INTERRUPTED, EXIT_TERMINATED) else args.signals.code()


def _save(args: argparse.Namespace, params: dict, meta: dict, head: HeadName) -> bool:
    """``checkpoints.save`` to ``--out``; False in a process that does not write (jax.distributed, not process 0)."""
    args.signals.saved = checkpoints.save(args.out, params, metadata=meta, activation=args.activation, head=head)
    return bool(args.signals.saved)


def _score_and_save(
    args: argparse.Namespace, params: dict, history: dict, head: HeadName, meta: dict, sets: tuple
) -> int:
    """Report and record the scores, save the checkpoint and the plot; exit 4 for a failed training."""
    xs, ys, y_train = sets
    parts = ("train", "test")
    scores, baseline = tabular.scores_and_baseline(
        params, {k: xs[k] for k in parts}, {k: ys[k] for k in parts}, head, args.activation, y_train
    )
    lines, failed = tabular.baseline_report(scores, baseline, head)
    print("\n".join(lines))
    for part in scores:
        meta.update(_json_safe({f"{part}_{k}": v for k, v in scores[part].items()}))
        meta.update(_json_safe({f"baseline_{part}_{k}": v for k, v in baseline[part].items() if k != "compared"}))
    meta["status"] = "failed" if failed else "ok"
    if _save(args, params, meta, head):
        print(f"saved {args.out}")
    if args.plot and jax.process_index() == 0:
        from jaxnet import plotting

        title = f"jaxnet train {args.data}: {'-'.join(map(str, jaxnet.layer_sizes(params)))}"
        plotting.plot_loss(history, args.plot, title=title, val_label="validation loss")
        print(f"saved the loss curves (train and validation) to {args.plot}")
    if failed:
        print(
            f"jaxnet: training failed: {failed} Hint: try a smaller --lr (now {args.lr:g}), more --steps, "
            f"--optimizer adam, or check the label column(s). The model was saved to {args.out} anyway, marked "
            "'failed' in its metadata.",
            file=sys.stderr,
        )
        return EXIT_FAILED_TRAINING
    return 0


def _fit(
    args: argparse.Namespace, params: dict, xs: dict, ys: dict, head: HeadName, key: jax.Array
) -> tuple[dict, dict, str]:
    """``jaxnet.fit`` on the train part: ``(params, history, status)``; status is fit's ``history["stopped"]``,
    or ``"diverged"``/``"interrupted"`` with the last good state that fit hands back."""
    optimizer = optax.sgd(args.lr) if args.optimizer == "sgd" else optax.adam(args.lr)
    kwargs: dict[str, Any] = {
        "steps": args.steps, "optimizer": optimizer, "batch_size": args.batch_size, "key": key,
        "progress": False if args.no_progress else "auto", "activation": args.activation, "head": head,
        "on_divergence": "raise", "mesh": args.mesh,
    }  # fmt: skip
    if "validation" in xs:
        kwargs["validation"] = (xs["validation"], ys["validation"])
        kwargs["eval_every"] = args.eval_every or max(1, args.steps // 20)
        kwargs["early_stopping"] = args.early_stopping
    print("training …", flush=True)
    try:
        with warnings.catch_warnings():  # divergence is reported by the caller, in a few lines
            warnings.simplefilter("ignore", jaxnet.DivergenceWarning)
            params, _, history = jaxnet.fit(params, xs["train"], ys["train"], **kwargs)
        args.signals.hold()  # from here to the end of the save, Ctrl-C and SIGTERM wait (and are reported)
    except jaxnet.DivergenceError as e:
        args.signals.hold()
        return e.params, e.history, "diverged"
    except jaxnet.TrainingInterrupted as e:
        args.signals.hold()
        return e.params, e.history, "interrupted"
    except jaxnet.PeerStopped as e:  # another process was interrupted or died: this one stops as if interrupted
        args.signals.hold()
        print(f"jaxnet: {_one_line(e)}", file=sys.stderr)
        return e.params, e.history, "interrupted"
    status = str(history.get("stopped", "completed"))
    if status == "early_stopping":
        print(
            f"early stopping at step {history['steps_done']}: no better validation loss for "
            f"{args.early_stopping} evaluations; kept the best parameters, from step {history.get('best_step')}"
        )
    return params, history, status


def _finite_model(params: dict, x: jax.Array, head: HeadName, activation: ActivationName) -> bool:
    """Every parameter and every prediction on ``x`` is finite."""
    if not all(bool(jnp.all(jnp.isfinite(v))) for v in params.values()):
        return False
    return bool(jnp.all(jnp.isfinite(jaxnet.forward(params, x, activation=activation, head=head))))


def _save_unfinished(
    args: argparse.Namespace, params: dict, x_train: jax.Array, head: HeadName, meta: dict, status: str
) -> int:
    """Save a diverged or interrupted training (when it trained at all and predicts finite values)."""
    done = int(meta["step"])
    code = EXIT_DIVERGED if status == "diverged" else args.signals.code()
    what = (
        f"training diverged after step {done} of {args.steps} (the loss or the parameters became NaN/inf, or "
        f"the loss grew over 1000 times its start); try a smaller --lr (now {args.lr:g})"
        if status == "diverged"
        else f"{args.signals.what()} at step {done} of {args.steps}"
    )
    if done == 0:
        print(f"jaxnet: {what}; nothing trained yet, nothing saved", file=sys.stderr)
        return code
    if not _finite_model(params, x_train, head, args.activation):
        print(f"jaxnet: {what}; the parameters predict NaN/inf, nothing saved", file=sys.stderr)
        return code
    if not _save(args, params, {**meta, "status": status}, head):
        return code
    kept = "the last finite parameters" if status == "diverged" else "the training so far"
    print(f"jaxnet: {what}; saved {kept} (step {done}) to {args.out}", file=sys.stderr)
    return code


def _json_safe(values: dict) -> dict:
    """Python floats, NaN/inf as None (JSON has no NaN)."""
    return {k: (float(v) if math.isfinite(float(v)) else None) for k, v in values.items()}

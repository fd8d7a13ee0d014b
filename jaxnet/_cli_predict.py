"""``jaxnet predict``: a checkpoint's predictions for the rows of a CSV, scored when the CSV has the labels.

The rows are read with the checkpoint's feature columns and standardisation
(:func:`jaxnet.tabular.model_data`), cast to the model's dtype (a value that
overflows it is refused, naming the row), and written as a CSV to stdout or,
atomically, to ``--out``.

>>> import numpy as np
>>> _in_dtype(np.array([[1.0, 2.0]]), np.float32, "x.csv").dtype
dtype('float32')
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jaxnet
from jaxnet import checkpoints, data, tabular
from jaxnet._cli_common import _check_distinct, _check_writable, _one_line, _small_on_cpu
from jaxnet.network import HEADS, ActivationName, HeadName


def _in_dtype(x: np.ndarray, dtype: Any, path: str) -> np.ndarray:
    """``x`` cast to the model's dtype, or a DataError naming the first row whose values overflow it."""
    with np.errstate(over="ignore", invalid="ignore"):
        cast = x.astype(dtype)
    bad = np.flatnonzero(~np.isfinite(cast).all(axis=1))
    if bad.size:
        raise data.DataError(
            f"{path}: data row {bad[0] + 1} (and {bad.size - 1} more): a feature value, standardised, overflows "
            f"the model's {np.dtype(dtype).name} (|value| > {float(np.finfo(dtype).max):.3g})"
        )
    return cast


def _predict(args: argparse.Namespace) -> int:
    if args.out:
        _check_writable("--out", args.out)
        _check_distinct(("checkpoint", args.checkpoint), ("--data", args.data), ("--out", args.out))
    params, meta = checkpoints.load(args.checkpoint)
    checkpoints.require_recorded(args.checkpoint, meta, "jaxnet predict")
    head, activation = meta["head"], meta["activation"]
    x, table = tabular.model_data(args.data, meta)
    labels = tabular.label_names(meta)
    sizes = meta["layer_sizes"]
    with _small_on_cpu(sizes, len(x), None):  # one forward pass: where it runs is no training choice, so silently
        xj = jnp.asarray(_in_dtype(x, params["W1"].dtype, args.data))
        out = np.asarray(jaxnet.forward(params, xj, activation=activation, head=head), np.float64)
        bad = int((~np.isfinite(out.reshape(len(x), -1))).any(axis=1).sum())
        if bad:
            print(f"jaxnet: warning: {bad} of {len(x)} rows have NaN/inf predictions (values far outside the "
                  "training data overflow the model's dtype)", file=sys.stderr)  # fmt: skip
        lines = tabular.prediction_table(out.reshape(len(x), -1), head, labels, tabular.class_labels(meta))
        text = "".join(",".join(row) + "\n" for row in lines)
        if args.out:
            _write_atomically("--out", args.out, text)
            print(f"wrote {len(lines) - 1} predictions to {args.out}", file=sys.stderr)
        else:
            sys.stdout.write(text)
        _score_labelled(table, params, xj, labels, head, activation)
    return 0


def _write_atomically(flag: str, path: str, text: str) -> None:
    """``text`` to ``path`` through a temporary file renamed over it (as checkpoints are written): a full disk
    or an interrupt leaves the old file (or none), never a truncated one."""
    try:
        checkpoints._atomic_write(path, text.encode("utf-8"))
    except OSError as e:
        raise OSError(f"argument {flag}: cannot write {path!r}: {e.strerror or e}; nothing written") from None


def _score_labelled(
    table: data.Table, params: dict, x: jax.Array, labels: list[str], head: HeadName, activation: ActivationName
) -> None:
    """When the CSV has the model's label column(s), print the metrics on them to stderr."""
    header = table.header
    present = [n for n in labels if n in header]
    if not present:
        return
    cols = ", ".join(map(repr, labels))
    if len(present) < len(labels):
        missing = ", ".join(repr(n) for n in labels if n not in header)
        print(
            f"jaxnet: warning: the CSV has some of the label columns ({cols}) but not {missing}; not scored",
            file=sys.stderr,
        )
        return
    if table.y is None:
        return  # unreadable label cells: said when reading
    try:
        y = tabular.labelled_targets(table.y, head)
        m = jaxnet.evaluate(params, x, y, activation=activation, head=head)
    except ValueError as e:
        print(f"jaxnet: warning: cannot score the label column(s) {cols}: {_one_line(e)}", file=sys.stderr)
        return
    shown = f"rmse {m['rmse']:.6g}, r2 {m['r2']:.4f}" if not HEADS[head].classifier else f"accuracy {m['accuracy']:.4f}"
    print(
        f"labelled data: the CSV has the label column(s) {cols}: {shown}, loss {m['loss']:.4f} on {len(x)} rows",
        file=sys.stderr,
    )

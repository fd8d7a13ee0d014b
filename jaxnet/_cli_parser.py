"""The ``jaxnet`` command line's parser: option types (checked while parsing), options and subcommands.

Each option type is a rule of :mod:`jaxnet._checks` applied to the text of the
option; argparse names the flag in the refusal (``argument --steps: expected a
positive integer at most 2147483647, got 0``), which the command reports as one
line with exit code 2.

>>> _build_parser().parse_args(["train", "--data", "breast_cancer", "--hidden", "8,4"]).hidden
(8, 4)
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import jaxnet
from jaxnet import _checks
from jaxnet._cli_common import _UsageError, _wrap
from jaxnet._data_tables import _names as _column_names
from jaxnet.network import ACTIVATIONS, HEADS

SEED_MAX = 2**63 - 1

_CACHE_HELP = """\
exit codes:
  0 success, 1 check failed, 2 bad arguments or files, 3 training diverged,
  4 training failed (no better than the majority class / the mean),
  70 internal error, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM); train
  saves the training so far, and a signal during the save waits for it.

compilation cache:
  jaxnet keeps JAX's persistent compilation cache on by default, so a second
  run with the same shapes skips XLA compilation. The folder is --cache-dir,
  else $JAXNET_CACHE_DIR, else $XDG_CACHE_HOME/jaxnet/xla (~/.cache/jaxnet/xla
  when XDG_CACHE_HOME is unset). --no-cache or JAXNET_CACHE=0 turns it off; a
  cache you configured for JAX yourself is left as it is. It is safe to delete.
"""

T = TypeVar("T")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print usage and exit
        raise _UsageError(f"{message} (see '{self.prog} --help')")


# ---------------------------------------------------------------- option types (checked while parsing)
def _rule(check: Callable[..., T], value: Any, **kwargs: Any) -> T:
    """``check("value", value, **kwargs)``, a rule of :mod:`jaxnet._checks`, its refusal as argparse's error
    (``"expected ..., got ..."``: argparse puts the flag in front)."""
    try:
        return check("value", value, **kwargs)
    except (ValueError, TypeError) as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("value: ")) from None


def _int_text(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _float_text(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _count(text: str) -> int:
    """A positive count, in ``[1, 2**31 - 1]``."""
    return _rule(_checks.count, _int_text(text))


def _seed(text: str) -> int:
    """A seed, in ``[0, 2**63 - 1]``."""
    return _rule(_checks.count, _int_text(text), low=0, high=SEED_MAX)


def _positive_float(text: str) -> float:
    """A finite number > 0 (``--lr``, ``--tol``)."""
    return _rule(_checks.number, _float_text(text), low=0.0, low_open=True)


def _fraction(text: str, *, zero: bool = False) -> float:
    """A fraction in ``(0, 1)``, or ``[0, 1)`` with ``zero``."""
    return _rule(_checks.number, _float_text(text), low=0.0, high=1.0, low_open=not zero, high_open=True)


def _fraction_or_zero(text: str) -> float:
    return _fraction(text, zero=True)


def _hidden(text: str) -> tuple[int, ...]:
    """``--hidden``: widths separated by commas.

    >>> _hidden("16,8"), _hidden("")
    ((16, 8), ())
    """
    parts = [t.strip() for t in text.split(",")] if text.strip() else []
    if not all(t.isdigit() and 1 <= int(t) <= 1_000_000 for t in parts):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated widths 1..1000000 like 16,16 ('' for none), got {text!r}"
        )
    return tuple(int(t) for t in parts)


def _names(values: Sequence[str] | None, flag: str) -> list[str]:
    """``--label a,b --label c`` as ``['a', 'b', 'c']`` by :func:`jaxnet.data`'s one reader of column names,
    which refuses empty and repeated names.

    >>> _names(["a,b", "c"], "--label"), _names(None, "--ignore")
    (['a', 'b', 'c'], [])
    """
    if not values:
        return []
    try:
        return _column_names(",".join(values), flag) or []
    except (ValueError, TypeError) as e:
        raise _UsageError(f"argument {e}") from None


# ---------------------------------------------------------------- the options
def _option(*flags: str, **kwargs: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    return flags, kwargs


_TRAIN_OPTIONS = [
    _option(
        "--data",
        required=True,
        metavar="breast_cancer|PATH.csv",
        help="'breast_cancer' (shipped) or a CSV with a header line",
    ),
    _option(
        "--label",
        action="append",
        metavar="COL[,COL…]",
        help="label column(s); several make a multi-label (sigmoid) or one-hot model (default: the last column)",
    ),
    _option("--ignore", action="append", metavar="COL[,COL…]", help="columns to drop (ids, notes, …)"),
    _option(
        "--head",
        choices=sorted(HEADS),
        help="output head (default: inferred from the labels: 0/1 -> sigmoid, classes 0..C-1 with C > 2 -> "
        "softmax, anything else -> identity, i.e. regression)",
    ),
    _option("--activation", choices=sorted(ACTIVATIONS), default="relu", help="hidden activation (default relu)"),
    _option(
        "--hidden",
        type=_hidden,
        default=(16, 16),
        metavar="N,N,…",
        help="hidden layer widths (default 16,16; '' for none)",
    ),
    _option("--optimizer", choices=("sgd", "adam"), default="sgd", help="optimizer (default sgd)"),
    _option("--lr", type=_positive_float, default=0.1, help="learning rate (default 0.1)"),
    _option("--steps", type=_count, default=500, help="training steps (default 500)"),
    _option("--batch-size", type=_count, metavar="B", help="minibatch size (default: the full training set)"),
    _option("--test-fraction", type=_fraction, default=0.2, help="fraction held out for testing (default 0.2)"),
    _option(
        "--val-fraction",
        type=_fraction_or_zero,
        default=0.1,
        help="fraction of the training part held out for validation (default 0.1; 0 for none)",
    ),
    _option(
        "--early-stopping",
        type=_count,
        metavar="N",
        help="stop after N evaluations without a better validation loss; keep the best parameters",
    ),
    _option(
        "--eval-every",
        type=_count,
        metavar="STEPS",
        help="evaluate on the validation part every STEPS steps (default: steps / 20)",
    ),
    _option("--seed", type=_seed, default=0, help="seed for the splits, the initialisation and the batches"),
    _option(
        "--out", default="model.safetensors", metavar="PATH", help="checkpoint to write (default model.safetensors)"
    ),
    _option("--plot", metavar="PNG", help="save the train and validation loss curves"),
    _option("--no-progress", action="store_true", help="no progress bar"),
    _option(
        "--coordinator",
        metavar="HOST:PORT",
        help="train over several processes (jax.distributed; every process runs the same command): process 0's "
        "address (default $JAX_COORDINATOR_ADDRESS)",
    ),
    _option(
        "--num-processes", type=_count, metavar="N", help="with --coordinator: how many (default $JAX_NUM_PROCESSES)"
    ),
    _option(
        "--process-id",
        type=_int_text,
        metavar="I",
        help="with --coordinator: this one, 0..N-1 (default $JAX_PROCESS_ID)",
    ),
]

_PREDICT_OPTIONS = [
    _option("checkpoint", help="a checkpoint written by 'jaxnet train'"),
    _option("--data", required=True, metavar="PATH.csv", help="CSV with (at least) the model's feature columns"),
    _option("--out", metavar="PATH.csv", help="write the predictions to this file instead of stdout"),
]

_CHECK_OPTIONS = [
    _option("model", nargs="?", metavar="MODEL.safetensors", help="a checkpoint to verify"),
    _option("--data", metavar="PATH.csv", help="with MODEL: rows to check the gradients on, and its columns"),
    _option("--nets", type=_count, default=5, help="without MODEL: how many random networks (default 5)"),
    _option("--seed", type=_seed, default=0, help="seed for the networks and data (default 0)"),
    _option(
        "--tol",
        type=_positive_float,
        default=1e-6,
        help="largest allowed disagreement, relative to max(1, largest gradient) (default 1e-6)",
    ),
]

_COMMANDS = {  # name: (summary, description, options); jaxnet.cli runs each as its function _<name>
    "walkthrough": (
        "the worked 2-3-1 example, every number checked against the notebook",
        "Print the worked example: forward pass, loss, gradients, one SGD step.",
        [_option("--plot", metavar="PNG", help="also draw the network, weights before → after and gradients")],
    ),
    "train": (
        "train a classifier or regressor on a CSV file (or breast_cancer)",
        (
            "Split train/validation/test, standardise the features with the training part, train with jaxnet.fit "
            "(early stopping on the validation part if asked), then report accuracy (classifiers) or RMSE and R² "
            "(regression) on train and test, and save a checkpoint with the standardisation, the feature and label "
            "names, the head and the activation."
        ),
        _TRAIN_OPTIONS,
    ),
    "predict": (
        "predictions from a checkpoint for the rows of a CSV",
        (
            "Write a CSV with the row number, the predicted class and one probability column per class (or the "
            "predicted values, for regression), using the checkpoint's feature columns and standardisation. When the "
            "CSV still has the model's label column(s), the metrics are reported on stderr."
        ),
        _PREDICT_OPTIONS,
    ),
    "check": (
        "verify a checkpoint, or the three gradient paths on random networks",
        (
            "With MODEL: verify the checkpoint (checksum, shapes, metadata), compare jaxnet.grads, "
            "jaxnet.manual_grads and jaxnet.numerical_grads on its own weights in float64 (on the rows of --data, "
            "else on random inputs), and check that --data has the model's feature columns. Without MODEL: the same "
            "three-way comparison on --nets random networks. Exit 1 on any problem."
        ),
        _CHECK_OPTIONS,
    ),
}


def _build_parser() -> argparse.ArgumentParser:
    """The ``jaxnet`` parser: one subcommand per entry of ``_COMMANDS``, its name in ``args.command``."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="jaxnet",
        description="jaxnet: a small, exact neural-network library in JAX.",
        epilog=_CACHE_HELP,
        formatter_class=fmt,
    )
    parser.add_argument("--version", action="version", version=f"jaxnet {jaxnet.__version__}")
    common = _Parser(add_help=False)
    common.add_argument("--cache-dir", metavar="DIR", help="persistent compilation cache folder (see below)")
    common.add_argument("--no-cache", action="store_true", help="do not use the persistent compilation cache")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    for name, (summary, description, options) in _COMMANDS.items():
        p = sub.add_parser(
            name,
            parents=[common],
            formatter_class=fmt,
            epilog=_CACHE_HELP,
            help=summary,
            description=_wrap(description),
        )
        for flags, kwargs in options:
            p.add_argument(*flags, **kwargs)
    return parser

"""The ``jaxnet`` command: walkthrough, train, predict, check.

Exit codes (the same for every command):

====  =====================================================================
0     success
1     ``check`` found a problem (gradients disagree, a corrupted checkpoint,
      data columns that do not fit the model)
2     bad arguments, bad data files or unreadable checkpoints: one line
      ``jaxnet: error: ...``, before any training starts (never a traceback)
3     ``train``: the training diverged (the step reached and what was saved
      are printed; a checkpoint whose predictions are NaN is never written)
4     ``train``: a failed training, no better than the majority class (or
      than predicting the mean, for regression) on the train or test set
70    an internal error (a bug in jaxnet): one line; ``JAXNET_DEBUG=1``
      shows the traceback
130   interrupted (Ctrl-C); ``train`` saves the training so far to ``--out``
143   terminated (SIGTERM, what schedulers and containers send): as 130
====  =====================================================================

From the end of the training to the end of the save, a Ctrl-C or SIGTERM
waits for the checkpoint to be written whole, then says so (exit 130/143).

On a machine whose default JAX backend is an accelerator, problems below
:data:`jaxnet.parallel.CROSSOVER_WORK` multiply-adds per step run on the CPU,
with one line saying so: a tiny network is many times slower on a GPU, where
every step costs several kernel launches.

>>> main(["--version"])  # doctest: +ELLIPSIS
jaxnet 0...
0
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
import signal
import sys
import textwrap
import threading
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.experimental.compilation_cache import compilation_cache

import jaxnet
from jaxnet import _validate, checkpoints, data, tabular
from jaxnet.cache import cache_wanted, enable_compilation_cache
from jaxnet.network import ACTIVATIONS, HEADS, ActivationName, HeadName
from jaxnet.parallel import small_problem_device

__all__ = [
    "EXIT_CHECK_FAILED",
    "EXIT_DIVERGED",
    "EXIT_FAILED_TRAINING",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "main",
]

EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_DIVERGED = 3
EXIT_FAILED_TRAINING = 4
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # SIGTERM (128 + 15), what schedulers and containers send

SEED_MAX = 2**63 - 1
NUMERICAL_MAX_PARAMS = 4096  # central differences need one loss pair per parameter
CHECK_ROWS = 32  # rows of --data used by `check` (fewer rows, fewer ReLU inputs near their kink)

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


class _UsageError(Exception):
    """A bad command line; reported as one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print usage and exit
        raise _UsageError(f"{message} (see '{self.prog} --help')")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``jaxnet …``; return the exit code.

    Called without ``argv`` (as the ``jaxnet`` program), an interrupted run ends the process itself once
    its output is flushed and its checkpoint saved (``os._exit``): jax 0.10.2 may crash at interpreter exit
    after interrupted compilations.

    >>> main(["check", "--nets", "1", "--no-cache"])  # doctest: +SKIP
    0
    """
    signals = _Signals()
    with signals.installed():
        code = _main(argv, signals)
        if argv is None and code in (EXIT_INTERRUPTED, EXIT_TERMINATED):
            signals.hold()  # a late Ctrl-C is only recorded: nothing is left to save
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return code


def _main(argv: Sequence[str] | None, signals: _Signals) -> int:
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as e:
        return _fail(str(e))
    except SystemExit as e:  # --help, --version
        return e.code if isinstance(e.code, int) else 0
    args.signals = signals
    try:
        with warnings.catch_warnings(), _jax_config_restored():  # main() called in a program changes nothing there
            warnings.showwarning = _show_warning
            _setup_cache(args)
            return int(args.run(args))
    except (_UsageError, data.DataError, checkpoints.CheckpointError, ValueError, TypeError, OSError, ImportError) as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        print(f"jaxnet: {signals.what()}", file=sys.stderr)
        return signals.code()
    except jax.errors.JaxRuntimeError as e:
        if "RESOURCE_EXHAUSTED" in str(e) or "Out of memory" in str(e):
            return _fail(f"out of memory; try a smaller --hidden or --batch-size ({str(e).splitlines()[0]})")
        return _internal_error(e)
    except Exception as e:  # noqa: BLE001  (a bug: one line, the traceback on request)
        return _internal_error(e)


class _Signals:
    """SIGINT and SIGTERM as ``KeyboardInterrupt`` (which ``fit`` turns into :class:`jaxnet.TrainingInterrupted`),
    or, while :attr:`holding` (from the end of training to the end of the save), only recorded: a second Ctrl-C
    never cuts a save short, and is reported after it."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.holding: int | None = None  # len(received) when the hold began
        self.saved = False  # the checkpoint was written (by this process)

    def __call__(self, signum: int, frame: Any) -> None:
        self.received.append(signum)
        if self.holding is None:
            raise KeyboardInterrupt
        if len(self.received) == self.holding + 1:
            print(f"jaxnet: {self.name(signum)} received: finishing the save first", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """The handlers for the block (in the main thread only; elsewhere Python's defaults stay)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        before = {s: signal.signal(s, self) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, handler in before.items():
                signal.signal(s, handler)

    def hold(self) -> None:
        self.holding = len(self.received)

    def held(self) -> list[int]:
        """The signals that arrived during the hold."""
        return [] if self.holding is None else self.received[self.holding :]

    @staticmethod
    def name(signum: int) -> str:
        return "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C (SIGINT)"

    def code(self) -> int:
        """130 for an interrupt, 143 when SIGTERM came first."""
        return EXIT_TERMINATED if self.received[:1] == [signal.SIGTERM] else EXIT_INTERRUPTED

    def what(self) -> str:
        return "terminated (SIGTERM)" if self.code() == EXIT_TERMINATED else "interrupted"


_CONFIG = (
    "jax_enable_x64",
    "jax_enable_compilation_cache",
    "jax_compilation_cache_dir",
    "jax_persistent_cache_min_compile_time_secs",
    "jax_persistent_cache_min_entry_size_bytes",
)


@contextlib.contextmanager
def _jax_config_restored() -> Iterator[None]:
    """The JAX settings a command changes (the compilation cache, x64 for ``check``), put back afterwards,
    with the in-memory handle of the persistent cache dropped, so that calling ``main`` from Python leaves
    the caller's JAX as it was."""
    saved = {name: getattr(jax.config, name) for name in _CONFIG}
    try:
        yield
    finally:
        for name, value in saved.items():
            jax.config.update(name, value)
        compilation_cache.reset_cache()


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """A warning as one line ``jaxnet: warning: ...`` (not Python's file:line and source)."""
    print(f"jaxnet: warning: {' '.join(str(message).split())}", file=sys.stderr)


def _internal_error(e: Exception) -> int:
    if os.environ.get("JAXNET_DEBUG"):
        raise e
    print(f"jaxnet: internal error (please report it; JAXNET_DEBUG=1 shows the traceback): {type(e).__name__}: "
          f"{' '.join(str(e).split())}", file=sys.stderr)  # fmt: skip
    return EXIT_INTERNAL


def _fail(message: str) -> int:
    line = " ".join(message.split())  # one line, whatever the exception said
    print(f"jaxnet: error: {line}", file=sys.stderr)
    return EXIT_USAGE


def _wrap(text: str) -> str:
    return textwrap.fill(text, 78)


# ---------------------------------------------------------------- option types (checked while parsing)
def _int_text(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _count(text: str) -> int:
    """A positive count, checked by the library's one checker of counts."""
    try:
        return _validate.positive_int("value", _int_text(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).replace("value: ", "")) from None


def _seed(text: str) -> int:
    value = _int_text(text)
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"expected an integer seed in [0, 2**63 - 1], got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _fraction(text: str, *, zero: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not ((0.0 <= value < 1.0) if zero else (0.0 < value < 1.0)):
        interval = "[0, 1)" if zero else "(0, 1)"
        raise argparse.ArgumentTypeError(f"expected a fraction in {interval}, got {text!r}")
    return value


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
    """``--label a,b --label c`` as ``['a', 'b', 'c']``, refusing empty and repeated names."""
    names = [n.strip() for v in values or () for n in v.split(",")]
    if any(not n for n in names):
        raise _UsageError(f"argument {flag}: expected column names separated by commas, got {','.join(values or [])!r}")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise _UsageError(f"argument {flag}: column(s) {twice} named twice")
    return names


# ---------------------------------------------------------------- the parser
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

_COMMANDS = {  # name: (summary, description, options); the functions are looked up by name in _build_parser
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
    """The ``jaxnet`` parser: one subcommand per entry of ``_COMMANDS``, run by ``_<name>``."""
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
        p.set_defaults(run=globals()[f"_{name}"])
        for flags, kwargs in options:
            p.add_argument(*flags, **kwargs)
    return parser


def _setup_cache(args: argparse.Namespace) -> None:
    """``--no-cache`` or ``JAXNET_CACHE=0``: off; ``--cache-dir``: that folder; else the default folder,
    unless the user configured JAX's own cache (left as it is, as the Python API leaves it)."""
    off = os.environ.get("JAXNET_CACHE", "").strip().lower() in ("0", "off", "false", "no")  # as cache_wanted
    if args.no_cache or (args.cache_dir is None and off):
        jax.config.update("jax_enable_compilation_cache", False)
    elif args.cache_dir is not None or cache_wanted():
        enable_compilation_cache(args.cache_dir)


# ---------------------------------------------------------------- checks of output paths, before any work
def _check_writable(flag: str, path: str) -> None:
    """Refuse an output path whose folder is missing or read-only, or that is a folder itself."""
    full = os.path.abspath(path)
    folder = os.path.dirname(full)
    if os.path.isdir(full):
        raise _UsageError(f"argument {flag}: {path!r} is a folder, expected a file name")
    if not os.path.isdir(folder):
        raise _UsageError(f"argument {flag}: the folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _UsageError(f"argument {flag}: the folder {folder!r} is not writable")
    if os.path.exists(full) and not os.access(full, os.W_OK):
        raise _UsageError(f"argument {flag}: {path!r} exists and is not writable")


def _check_distinct(*paths: tuple[str, str | None]) -> None:
    """Refuse an output that would overwrite an input or another output (``--out`` the same file as ``--data``)."""
    seen: dict[str, str] = {}
    for flag, path in paths:
        if path is None:
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise _UsageError(f"argument {flag}: {path!r} is the same file as {seen[key]}")
        seen[key] = flag


def _check_plot(flag: str, path: str) -> None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(f"{flag} needs matplotlib, which is not installed (pip install matplotlib)") from None
    _check_writable(flag, path)
    suffix = os.path.splitext(path)[1].lstrip(".").lower()
    formats = Figure().canvas.get_supported_filetypes()
    if suffix and suffix not in formats:
        raise _UsageError(f"argument {flag}: cannot write a {suffix!r} picture; use one of {sorted(formats)}")


# ---------------------------------------------------------------- small problems on the CPU
@contextlib.contextmanager
def _small_on_cpu(sizes: Sequence[int], rows: int, out: TextIO) -> Iterator[None]:
    """Run the block on the CPU, saying so in one line, when the default backend is an accelerator and the
    problem is below its crossover (:func:`jaxnet.parallel.small_problem_device`); else where JAX puts it."""
    device, note = small_problem_device(sizes, rows)
    if device is None:
        yield
        return
    print(note, file=out, flush=True)
    with jax.default_device(device):
        yield


# ---------------------------------------------------------------- walkthrough
def _walkthrough(args: argparse.Namespace) -> int:
    from jaxnet import plotting, walkthrough

    if args.plot:
        _check_plot("--plot", args.plot)
    with _small_on_cpu((2, 3, 1), 1, sys.stdout):
        numbers = walkthrough.walkthrough_numbers()  # computed once, for the report and the picture
        code = walkthrough.report(numbers)
    if args.plot:
        plotting.plot_network(numbers, args.plot)
        print(f"saved the network picture to {args.plot}")
    return code


# ---------------------------------------------------------------- train
def _check_size(sizes: Sequence[int]) -> None:
    """Refuse (naming ``--hidden``) a network of more than ``INT32_MAX`` parameters."""
    count = sum(a * b + b for a, b in itertools.pairwise(sizes))
    if count > _validate.INT32_MAX:
        raise _UsageError(
            f"argument --hidden: a {'-'.join(map(str, sizes))} network has {count:,} parameters, more "
            f"than {_validate.INT32_MAX:,}"
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


def _kind(head: str) -> str:
    """The head's label kind from the table: ``"probabilities"``, ``"classes"`` or ``"values"``."""
    return HEADS[head].labels


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
        raise _UsageError(f"argument --eval-every: expected at most --steps ({args.steps}), got {args.eval_every}")
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
        raise _UsageError(f"argument --batch-size: expected a multiple of the {devices} devices, got {args.batch_size}")
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
        raise _UsageError(f"argument --batch-size: {args.batch_size} is more than the {n_train} training rows")
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
        print(f"jaxnet: {' '.join(str(e).split())}", file=sys.stderr)
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


# ---------------------------------------------------------------- predict
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
    with _small_on_cpu(sizes, len(x), sys.stderr):
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
        print(f"jaxnet: warning: cannot score the label column(s) {cols}: {' '.join(str(e).split())}", file=sys.stderr)
        return
    shown = f"rmse {m['rmse']:.6g}, r2 {m['r2']:.4f}" if not HEADS[head].classifier else f"accuracy {m['accuracy']:.4f}"
    print(
        f"labelled data: the CSV has the label column(s) {cols}: {shown}, loss {m['loss']:.4f} on {len(x)} rows",
        file=sys.stderr,
    )


# ---------------------------------------------------------------- check
def _check(args: argparse.Namespace) -> int:
    if args.model is None and args.data is not None:
        raise _UsageError("argument --data: needs a MODEL to check the data against (jaxnet check MODEL --data CSV)")
    if args.model is not None and args.nets != 5:
        raise _UsageError("argument --nets: only without MODEL (random networks)")
    jax.config.update("jax_enable_x64", True)  # the comparison runs in float64
    with _small_on_cpu((1, 1), 1, sys.stdout):  # a few small float64 nets: always below the crossover
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
    n, eps = 8, 1e-5  # a fixed eps: numerical_grads compiles once (its step is static)
    worst = 0.0
    for i in range(args.nets):
        # He-initialised weights and random biases, drawn in numpy (no compilation): with zero biases a layer
        # whose inputs are all inactive sits exactly on the ReLU kink, where differences rightly disagree
        params = {}
        for l, (a, b) in enumerate(itertools.pairwise(sizes), start=1):
            params[f"W{l}"] = rng.normal(0.0, math.sqrt(2.0 / a), size=(b, a))
            params[f"b{l}"] = rng.normal(0.0, 0.5, size=b)
        x = rng.normal(size=(n, sizes[0]))
        y = rng.integers(0, 2, size=(n, sizes[-1])).astype(np.float64)
        w = rng.uniform(0.5, 2.0, size=n)
        r = _check_grads(params, x, y, w, {"activation": "relu", "head": "sigmoid"}, eps=eps)
        d_manual, d_num = r["manual"], r["numerical"]
        worst = max(worst, d_manual, d_num)
        print(
            f"net {i + 1}: sizes {'-'.join(map(str, sizes))}, {n} weighted samples: "
            f"|autodiff - manual| {d_manual:.2e}, |autodiff - numerical| {d_num:.2e}"
        )
    ok = worst <= args.tol
    print(f"largest disagreement: {worst:.2e} (tolerance {args.tol:g}): {'OK' if ok else 'FAILED'}")
    return 0 if ok else EXIT_CHECK_FAILED


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
        print(f"data: FAILED: {' '.join(str(e).split())}")
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
    if not ACTIVATIONS[activation].kinks or len(params) == 2:
        return np.ones(len(x), dtype=bool)
    trace = jaxnet.forward_trace(params, x, activation=activation, head="identity")
    z = [np.abs(np.asarray(trace[f"z{l}"])).min(axis=1) for l in range(1, len(params) // 2)]
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
        print(f"checkpoint: FAILED: {' '.join(str(e).split())}")
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
        print(f"gradients: FAILED: the data's labels do not fit the model: {' '.join(str(e).split())}")
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


if __name__ == "__main__":
    raise SystemExit(main())

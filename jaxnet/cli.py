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
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
from jax.experimental.compilation_cache import compilation_cache

from jaxnet import checkpoints, data
from jaxnet._cli_check import _check
from jaxnet._cli_common import (
    EXIT_CHECK_FAILED,
    EXIT_DIVERGED,
    EXIT_FAILED_TRAINING,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    _check_plot,
    _one_line,
    _Signals,
    _small_on_cpu,
    _UsageError,
)
from jaxnet._cli_parser import _build_parser
from jaxnet._cli_predict import _predict
from jaxnet._cli_train import _train
from jaxnet.cache import cache_wanted, enable_compilation_cache

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
            return int(_command(args.command)(args))
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
          f"{_one_line(e)}", file=sys.stderr)  # fmt: skip
    return EXIT_INTERNAL


def _fail(message: str) -> int:
    print(f"jaxnet: error: {_one_line(message)}", file=sys.stderr)  # one line, whatever the exception said
    return EXIT_USAGE


def _command(name: str) -> Callable[[argparse.Namespace], int]:
    """The function that runs the subcommand ``name``, read from this module's names when called."""
    return {"walkthrough": _walkthrough, "train": _train, "predict": _predict, "check": _check}[name]


def _setup_cache(args: argparse.Namespace) -> None:
    """``--no-cache`` or ``JAXNET_CACHE=0``: off; ``--cache-dir``: that folder; else the default folder,
    unless the user configured JAX's own cache (left as it is, as the Python API leaves it)."""
    off = os.environ.get("JAXNET_CACHE", "").strip().lower() in ("0", "off", "false", "no")  # as cache_wanted
    if args.no_cache or (args.cache_dir is None and off):
        jax.config.update("jax_enable_compilation_cache", False)
    elif args.cache_dir is not None or cache_wanted():
        enable_compilation_cache(args.cache_dir)


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


if __name__ == "__main__":
    raise SystemExit(main())

"""What every ``jaxnet`` command shares: exit codes, usage errors, signals, output paths, small problems on the CPU.

A command refuses a bad command line with :class:`_UsageError` (one line, exit
2), checks its output paths before any work (:func:`_check_writable`,
:func:`_check_distinct`, :func:`_check_plot`), and runs a problem below the
accelerator's crossover on the CPU (:func:`_small_on_cpu`). :class:`_Signals`
turns SIGINT and SIGTERM into ``KeyboardInterrupt``, or only records them while
a checkpoint is being saved.

>>> _Signals.name(signal.SIGTERM), EXIT_TERMINATED
('SIGTERM', 143)
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

import jax

from jaxnet.network import HEADS
from jaxnet.parallel import small_problem_device

EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_DIVERGED = 3
EXIT_FAILED_TRAINING = 4
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # SIGTERM (128 + 15), what schedulers and containers send


class _UsageError(Exception):
    """A bad command line; reported as one line with exit code 2."""


def _wrap(text: str) -> str:
    return textwrap.fill(text, 78)


def _kind(head: str) -> str:
    """The head's label kind from the table: ``"probabilities"``, ``"classes"`` or ``"values"``."""
    return HEADS[head].labels


def _one_line(text: Any) -> str:
    """``text`` with every run of whitespace (newlines included) as one space."""
    return " ".join(str(text).split())


# ---------------------------------------------------------------- signals
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
    """Refuse a picture path without matplotlib, in a missing or read-only folder, or of an unknown format."""
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
def _small_on_cpu(sizes: Sequence[int], rows: int, out: TextIO | None) -> Iterator[None]:
    """Run the block on the CPU, saying so in one line on ``out`` (``None``: silently), when the default
    backend is an accelerator and the problem is below its crossover
    (:func:`jaxnet.parallel.small_problem_device`); else where JAX puts it."""
    device, note = small_problem_device(sizes, rows)
    if device is None:
        yield
        return
    if out is not None:
        print(note, file=out, flush=True)
    with jax.default_device(device):
        yield

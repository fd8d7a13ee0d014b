"""``fit``'s loop state: an immutable :class:`Progress` record, an append-only :class:`Log`, and the history
read from them (:func:`history`), never past the state being returned.

>>> import numpy as np
>>> p = Progress(carry=(None, None), done=4)
>>> log = Log(chunks=[(np.array([0.7, 0.6]), np.array([0, 2]))], evals=[])
>>> h = history("sigmoid", p, log)
>>> h["loss"].tolist(), h["step"].tolist(), h["steps_done"], h["stopped"]
([0.7, 0.6], [0, 2], 4, 'completed')
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from jaxnet._engine import State
from jaxnet.network import HEADS

STOPS = ("completed", "callback", "early_stopping", "diverged")  # Progress.stopped (and "interrupted" in a history)


class Best(NamedTuple):
    """Early stopping's best evaluation: its validation loss, state and step."""

    loss: float
    state: State
    step: int


class Progress(NamedTuple):
    """Where training is after the last completed stage; replaced, never changed."""

    carry: tuple  # (State, Cursor or None): the last completed state (the initial one before the first chunk)
    done: int = 0  # steps done
    blocks: int = 1  # blocks in the next chunk
    limit: float = math.inf  # the divergence limit, set by the run's first loss
    stopped: str = "completed"  # one of STOPS
    good_step: int = 0  # diverged: the step of the state kept
    best: Best | None = None
    wait: int = 0  # evaluations since the best
    previous: tuple | None = None  # (carry, blocks, done) at the start of the last chunk
    chunks: int = 0  # chunks run before the progress bar appeared
    bar: Any = None  # the tqdm bar, once shown


class Log(NamedTuple):
    """The recorded history, append-only, one append per record (a Ctrl-C between two appends loses nothing).

    ``chunks``: ``(losses, steps)`` arrays per chunk; ``evals``: ``(step, loss, accuracy or None)``.
    """

    chunks: list[tuple[np.ndarray, np.ndarray]]
    evals: list[tuple[int, float, float | None]]


def empty_history(head: Any) -> dict[str, Any]:
    """The history of a run interrupted before its first step (``head`` as given: perhaps not a valid name)."""
    out: dict[str, Any] = {
        "loss": np.zeros((0,)),
        "step": np.zeros((0,), int),
        "val_loss": np.zeros((0,)),
        "val_step": np.zeros((0,), int),
        "diverged": False,
        "steps_done": 0,
        "stopped": "interrupted",
        "best_step": None,
    }
    if not (isinstance(head, str) and head in HEADS and not HEADS[head].classifier):
        out["val_accuracy"] = np.zeros((0,))
    return out


def history(head: str, p: Progress, log: Log) -> dict[str, Any]:
    """The history as arrays; nothing past the state being returned."""
    last = p.good_step if p.stopped == "diverged" else p.done
    chunks, evals = list(log.chunks), list(log.evals)  # copies: a Ctrl-C may append while this reads
    step = np.concatenate([s for _, s in chunks]) if chunks else np.zeros((0,), int)
    loss = np.concatenate([v for v, _ in chunks]) if chunks else np.zeros((0,))
    loss, step = loss[step <= last], step[step <= last]  # (a chunk interrupted while being recorded)
    val_step = np.asarray([e[0] for e in evals], dtype=int)
    keep = val_step <= last
    out = {
        "loss": loss,
        "step": step,
        "val_loss": np.asarray([e[1] for e in evals], dtype=float)[keep],
        "val_step": val_step[keep],
        "diverged": p.stopped == "diverged",
        "steps_done": int(last),
        "stopped": p.stopped,
        "best_step": None if p.best is None else p.best.step,
    }
    if HEADS[head].classifier:
        out["val_accuracy"] = np.asarray([e[2] for e in evals], dtype=float)[keep]
    return out

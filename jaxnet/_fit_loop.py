"""``fit``'s chunk loop: compiled chunks (``jaxnet._engine``), and the Python work between them.

The loop's state is typed and immutable: a :class:`Progress` record, replaced
(``._replace``) after each stage of a chunk (the compiled steps, the
evaluation, the callback), so that a Ctrl-C at any moment hands back the last
completed state; the recorded losses and scores go to an append-only
:class:`Log`, read up to that state (:func:`history`).

>>> import jaxnet, optax
>>> from jaxnet import _fit_args as args
>>> params, x, y = jaxnet.seed_example()
>>> run = args.check(params, x, y, None, jaxnet.Spec(), args.Training(steps=10, optimizer=optax.sgd(0.1)),
...                  args.Gradients(), args.Validation(), args.Recording(progress=False), args.Execution())
>>> trained, opt_state, h = train(run)
>>> h["steps_done"], h["stopped"], h["step"].tolist() == list(range(10))
(10, 'completed', True)
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet._engine import Config, Cursor, State, run_steps
from jaxnet._fit_args import Run, step_seconds
from jaxnet._fit_state import STOPS, Best, Log, Progress, history
from jaxnet._validate import overflow_error
from jaxnet.distributed import agree, sigint_as_flag, spans_processes, to_local
from jaxnet.errors import (
    DIVERGENCE_FACTOR,
    CallbackError,
    DivergenceError,
    DivergenceWarning,
    PeerStopped,
    TrainingInterrupted,
    _CarriesState,
    acceptable,
    divergence_limit,
)
from jaxnet.metrics import scores
from jaxnet.parallel import place
from jaxnet.spec import Params
from jaxnet.steps import gradient_fn

_TARGET_SECONDS = 0.25  # a chunk lasts about this long (progress, callbacks and Ctrl-C between chunks)


class Engine(NamedTuple):
    """The compiled program's static configuration and its placed inputs."""

    cfg: Config
    data: tuple  # (x, y, w), placed
    key: Any


def train(run: Run) -> tuple[Params, Any, dict]:
    """``(params, opt_state, history)``; over several processes, as ordinary single-device arrays."""
    if not spans_processes(run.placement.mesh):
        return _train(run)
    try:
        return to_local(_train(run))
    except _CarriesState as e:
        e.params, e.opt_state = to_local((e.params, e.opt_state))
        raise


def _train(run: Run) -> tuple[Params, Any, dict]:
    """The chunk loop; each stage's result replaces ``p`` only once the stage is complete."""
    log = Log(chunks=[], evals=[])
    p = Progress((State(run.params, run.opt_state), None))
    try:
        engine, carry = _engine(run, p.carry[0])
        p = p._replace(carry=carry, blocks=_first_blocks(run, engine.cfg))
        with run.placement.context, sigint_as_flag(spans_processes(run.placement.mesh)) as sigint:
            while p.done < run.schedule.steps and p.stopped == "completed":
                error = None
                for stage in (_advance, _evaluate_due, _call_back):
                    p, error = _guarded(stage, run, engine, p, log)
                    if error is not None or p.stopped == "diverged":
                        break
                p = _agree(run, p, log, sigint, error)
        return _finish(run, p, log)
    except KeyboardInterrupt:
        h = {**history(run.spec.head, p, log), "stopped": "interrupted"}
        raise TrainingInterrupted(
            f"fit: interrupted after {h['steps_done']} steps; the exception carries the parameters, optimizer "
            "state and history of that step (e.params, e.opt_state, e.history)",
            p.carry[0].params,
            p.carry[0].opt_state,
            h,
        ) from None
    finally:
        if p.bar is not None:
            p.bar.close()


def _engine(run: Run, state: State) -> tuple[Engine, tuple]:
    """The program's configuration, and the data, key and start placed on the mesh or device."""
    fn = gradient_fn(run.gradients, run.loss_fn, run.spec.activation, run.spec.head, run.placement.compute_dtype)
    cfg = Config(run.skeleton, fn, run.schedule.record_every, run.schedule.max_blocks, run.batches)
    # padded (pad_rows): the first run.n rows are real; with local_rows, run.n is the global count (no padding)
    n = run.n if run.placement.local_rows else run.data[0].shape[0]
    cursor = None if run.batches is None else Cursor(np.int32(0), np.arange(n, dtype=np.int32), np.int32(run.n))
    mesh, device, local = run.placement.mesh, run.placement.device, run.placement.local_rows
    carry, data, key = place(mesh, device, (state, cursor), run.data, run.key, local)
    return Engine(cfg, data, key), carry


def _first_blocks(run: Run, cfg: Config) -> int:
    """Blocks in the first chunk: about 0.1 s at :func:`step_seconds`, so that Ctrl-C is honoured soon even
    before anything has been measured."""
    step = step_seconds(run.params, run.data[0], run.batches)
    return int(max(1, min(cfg.buffer, 0.1 / (step * run.schedule.record_every))))


Stage = Callable[[Run, Engine, Progress, Log], Progress]


def _guarded(stage: Stage, run: Run, engine: Engine, p: Progress, log: Log) -> tuple[Progress, Exception | None]:
    """``stage``; on a mesh over several processes, this process's own errors are returned, to be agreed on
    (a callback's, or a start that overflows, refused on every process), and any other is a dead peer's."""
    if not spans_processes(run.placement.mesh):
        return stage(run, engine, p, log), None
    try:
        return stage(run, engine, p, log), None
    except (CallbackError, ValueError) as e:
        return p, e
    except Exception as e:  # a collective that failed: what the others see when a process dies
        raise _collective_failed(run, p, log, e) from e


def _agree(run: Run, p: Progress, log: Log, sigint: list[bool], error: Exception | None) -> Progress:
    """On a mesh over several processes, one all-gather of every process's wishes after each chunk.

    Every process must run the same chunks: the next chunk's length (the
    smallest proposed; each process times its own), and whether to stop. A
    process interrupted by Ctrl-C (``sigint``, a flag set by the signal
    handler) or whose callback raised raises its own error; the others raise
    :class:`PeerStopped` at the same step; a callback's or early stopping's
    stop on any process stops all.
    """
    mesh = run.placement.mesh
    if not spans_processes(mesh):
        return p
    try:
        every = agree(mesh, [int(sigint[0]), int(error is not None), STOPS.index(p.stopped), p.blocks])
    except Exception as e:
        raise _collective_failed(run, p, log, e) from e
    if error is not None:
        raise error
    if sigint[0]:
        raise KeyboardInterrupt
    for column, what in ((0, "was interrupted (Ctrl-C)"), (1, "had a callback that raised")):
        if every[:, column].any():
            first = sorted({d.process_index for d in mesh.devices.flat})[int(np.argmax(every[:, column]))]
            raise _peer_stopped(run, p, log, f"found that process {first} {what}")
    stopped = p.stopped
    if stopped == "completed" and every[:, 2].any():
        stopped = STOPS[int(every[every[:, 2] > 0, 2][0])]
    return p._replace(stopped=stopped, blocks=int(every[:, 3].min()))


def _collective_failed(run: Run, p: Progress, log: Log, e: Exception) -> PeerStopped:
    what = f"saw a collective operation fail ({type(e).__name__}: {e}); a process has probably died or been killed"
    return _peer_stopped(run, p, log, what)


def _peer_stopped(run: Run, p: Progress, log: Log, what: str) -> PeerStopped:
    processes = len({d.process_index for d in run.placement.mesh.devices.flat})
    return PeerStopped(
        f"fit: process {jax.process_index()} of {processes} {what} after step {p.done}; stopping there (the "
        "exception carries the parameters, optimizer state and history of that step: e.params, e.opt_state, e.history)",
        p.carry[0].params,
        p.carry[0].opt_state,
        history(run.spec.head, p, log),
    )


def _advance(run: Run, engine: Engine, p: Progress, log: Log) -> Progress:
    """One compiled chunk: its losses recorded, or the last good state kept if it diverged."""
    re, done, schedule = run.schedule.record_every, p.done, run.schedule
    n = min(p.blocks, engine.cfg.buffer, (schedule.steps - done) // re)
    if schedule.eval_every:
        n = min(n, (schedule.eval_every - done % schedule.eval_every) // re)  # chunks end on evaluation steps
    start, dtype = time.perf_counter(), run.params["W1"].dtype
    limit = np.asarray(min(p.limit, float(jnp.finfo(dtype).max)), dtype)  # a limit past the dtype's range: max
    out = run_steps(engine.cfg, p.carry, engine.data, engine.key, np.int32(n), limit, run.hyper)
    carry, (losses, blocks, ok, final) = out[0], jax.device_get(out[1:])
    seconds, losses = time.perf_counter() - start, losses[:blocks]
    if done == 0 and blocks and not np.isfinite(losses[0]):  # finite inputs (checked) whose first loss overflowed
        raise _initial_overflow(run)
    if math.isinf(p.limit) and blocks and np.isfinite(losses[0]):  # the run's first loss sets the rule
        p = p._replace(limit=float(divergence_limit(float(losses[0]))))
    bad = np.flatnonzero(~acceptable(losses.astype(np.float64), p.limit))  # (no float32 cast of the limit)
    if bad.size or not (ok and acceptable(float(final), p.limit)):  # a loss, or the final parameters or loss
        return _keep_last_good(run, engine, p, log, losses, int(bad[0]) if bad.size else n)
    log.chunks.append((losses, done + re * np.arange(n)))
    grown = 4 * n if done == 0 else int(max(1, min(4 * p.blocks, _TARGET_SECONDS * n / max(seconds, 1e-9))))
    p = p._replace(previous=(p.carry, n, done), carry=carry, done=done + n * re, blocks=grown)  # first: compiled
    return _show_progress(run, p, n * re, seconds / n, float(losses[-1]))


def _keep_last_good(run: Run, engine: Engine, p: Progress, log: Log, losses: np.ndarray, k: int) -> Progress:
    """Divergence at block ``k`` of the chunk that started from ``p.carry``: keep the state of block ``k - 1``.

    Its loss is the last acceptable one recorded, so the history ends there. The
    state is recovered by running the same program again from a copy of the start.
    """
    re, done = run.schedule.record_every, p.done
    if k:
        start, blocks, at = p.carry, k - 1, done
    elif p.previous is not None:  # the previous chunk's last block start: its loss is the history's last entry
        start, blocks, at = p.previous[0], p.previous[1] - 1, p.previous[2]
    else:
        start, blocks, at = p.carry, 0, done
    if blocks > 0:  # the replay; a Ctrl-C here leaves p and the log at the last completed chunk
        limit = np.asarray(np.inf, run.params["W1"].dtype)
        start = run_steps(engine.cfg, start, engine.data, engine.key, np.int32(blocks), limit, run.hyper)[0]
    log.chunks.append((losses[:k], done + re * np.arange(k)))
    return p._replace(good_step=at + blocks * re, carry=start, stopped="diverged")


def _show_progress(run: Run, p: Progress, steps_run: int, per_block: float, loss: float) -> Progress:
    """The bar appears after the first (compiling) chunk, for ``"auto"`` only if the rest takes over a second."""
    if p.bar is not None:
        p.bar.update(steps_run)
        p.bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
        return p
    p = p._replace(chunks=p.chunks + 1)  # the first chunk's time includes compiling: no estimate from it
    left = (run.schedule.steps - p.done) / run.schedule.record_every * per_block
    if run.progress is True or (run.progress == "auto" and p.chunks > 1 and left > 1.0):
        from tqdm.auto import tqdm  # imported when a bar is first shown: ~0.1 s off `import jaxnet`

        p = p._replace(bar=tqdm(total=run.schedule.steps, initial=p.done, unit="step", dynamic_ncols=True))
    return p


def _evaluate_due(run: Run, engine: Engine, p: Progress, log: Log) -> Progress:
    """Validation scores on the schedule and at the final state; early stopping keeps the best state."""
    every = run.schedule.eval_every
    if not every or not (p.done % every == 0 or p.done == run.schedule.steps):
        return p
    state = p.carry[0]
    (xv, yv, wv), n = run.validation  # metrics.padded
    s = jax.device_get(scores(state.params, xv, yv, wv, activation=run.spec.activation, head=run.spec.head, n=n))
    value = float(s["loss"])
    log.evals.append((p.done, value, float(s["accuracy"]) if "accuracy" in s else None))
    if not math.isfinite(value):  # the start was checked: the network's outputs on x_val overflow now
        warnings.warn(
            f"fit: the validation loss at step {p.done} is {value} (the network's outputs on the validation "
            "set overflow); it never counts as an improvement for early stopping",
            DivergenceWarning,
            stacklevel=6,  # fit's caller
        )
    if run.schedule.patience is None:
        return p
    if math.isfinite(value) and (p.best is None or value < p.best.loss):
        return p._replace(best=Best(value, state, p.done), wait=0)
    if p.best is None:  # early stopping needs a finite best to return
        return p
    wait = p.wait + 1
    return p._replace(wait=wait, stopped="early_stopping" if wait >= run.schedule.patience else p.stopped)


def _call_back(run: Run, engine: Engine, p: Progress, log: Log) -> Progress:
    """``callback(step, params, history)``; a true return value stops training."""
    if run.callback is None or p.stopped != "completed":
        return p
    state = p.carry[0]
    try:
        stop = run.callback(p.done, state.params, history(run.spec.head, p, log))
    except Exception as e:
        raise CallbackError(
            f"fit: the callback raised {type(e).__name__} at step {p.done}; the exception carries the state it "
            "was called with",
            state.params,
            state.opt_state,
            history(run.spec.head, p, log),
        ) from e
    return p._replace(stopped="callback") if _callback_says_stop(stop, p, history(run.spec.head, p, log)) else p


def _callback_says_stop(stop: Any, p: Progress, history: dict) -> bool:
    """Whether the callback's return value stops training: a true bool (Python, numpy, or a 0-d bool array such
    as ``jnp.asarray(True)``); ``None`` and false go on.

    Anything else (an array of another shape or dtype, a number, a string) is
    refused: a :class:`CallbackError` carrying the state, from a ``TypeError``
    naming ``callback``.
    """
    if stop is None or isinstance(stop, (bool, np.bool_)):
        return bool(stop)
    if isinstance(stop, (np.ndarray, jax.Array)) and stop.shape == () and stop.dtype == np.bool_:
        return bool(stop)
    what = (
        f"an array of shape {tuple(stop.shape)} and dtype {stop.dtype}"
        if isinstance(stop, (np.ndarray, np.generic, jax.Array))
        else f"{type(stop).__name__} {stop!r}"[:80]
    )
    err = TypeError(f"callback: expected it to return None or a bool (True stops training), got {what}")
    raise CallbackError(
        f"callback: returned {what} at step {p.done}, not None or a bool (True stops training); the "
        "exception carries the state it was called with",
        p.carry[0].params,
        p.carry[0].opt_state,
        history,
    ) from err


def _initial_overflow(run: Run) -> ValueError:
    """The error for finite inputs whose very first loss is NaN/inf: nothing was trained, the input is named."""
    x, y, _ = run.data
    if run.loss_fn is not None:
        return ValueError(
            "loss_fn: returned NaN/inf at the initial parameters, whose inputs are finite; fix the loss, or "
            "standardise the data"
        )
    err = overflow_error(run.params, x, y)
    if run.placement.compute_dtype is not None:
        return ValueError(f"{err} (the matmuls run in compute_dtype={np.dtype(run.placement.compute_dtype).name})")
    return err


def _finish(run: Run, p: Progress, log: Log) -> tuple[Params, Any, dict]:
    """The state to return: the last, early stopping's best, or after divergence the last good (or best) one."""
    h = history(run.spec.head, p, log)
    state = p.best.state if p.stopped == "early_stopping" and p.best is not None else p.carry[0]
    if p.stopped != "diverged":
        return state.params, state.opt_state, h
    if h["loss"].size and h["step"][-1] > h["steps_done"]:  # pragma: no cover - invariant
        raise AssertionError("fit: history runs past the returned state")
    if p.best is not None and p.best.step <= h["steps_done"]:  # early stopping had a best state
        state = p.best.state
        message = (
            f"fit: training diverged after step {h['steps_done']}; returning the parameters of step {p.best.step}, "
            f"the best validation loss ({p.best.loss:.6g}), as early stopping would. Try a smaller learning rate."
        )
    else:  # the history holds the initial loss at least: a NaN/inf one is refused first (_initial_overflow)
        message = (
            f"fit: training diverged (the loss became NaN/inf or exceeded {DIVERGENCE_FACTOR:g} x max(initial loss, 1)) "
            f"after step {h['steps_done']}; returning the parameters of step {h['steps_done']}, whose loss "
            f"{h['loss'][-1]:.6g} is the last in the history. Try a smaller learning rate."
        )
    if run.on_divergence == "raise":
        raise DivergenceError(message, state.params, state.opt_state, h)
    warnings.warn(message, DivergenceWarning, stacklevel=5)  # fit's caller
    return state.params, state.opt_state, h

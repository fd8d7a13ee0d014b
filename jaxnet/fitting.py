"""``fit``: train for many steps as a few calls of one compiled program.

The steps run inside :func:`jaxnet.training.run_steps` (``lax.scan`` blocks in
a ``lax.fori_loop`` with a traced trip count). Python only runs between
chunks: it updates the ``tqdm`` bar, records the history, checks for
divergence, evaluates the validation set and calls ``callback``.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from typing import Any, Callable, Literal

import jax
import numpy as np
import optax
from tqdm.auto import tqdm

from jaxnet import _kernels as kernels
from jaxnet._validate import Params, prepare
from jaxnet.steps import Config, LossFn, State, gradient_fn, resolve_gradients, run_steps

__all__ = ["fit", "DivergenceError", "DivergenceWarning", "DEFAULT_OPTIMIZER"]

DEFAULT_OPTIMIZER = optax.sgd(0.1)
"""``optax.sgd(0.1)``, the worked example's update; one object, so repeated ``fit`` calls reuse its compilation."""

_val_loss_jit = jax.jit(kernels.loss, static_argnames=("activation", "head"))
_DEFAULT_BUFFER = 10_000  # recorded losses per compiled call at most
_TARGET_SECONDS = 0.25  # aim for progress/callback about this often when ``chunk`` is not given


class DivergenceWarning(RuntimeWarning):
    """The loss or the parameters became NaN/inf; ``fit`` stopped."""


class DivergenceError(RuntimeError):
    """Raised by ``fit(..., on_divergence="raise")``; carries the last finite ``params``, ``opt_state`` and ``history``."""

    def __init__(self, message: str, params: Params, opt_state: Any, history: dict):
        super().__init__(message)
        self.params, self.opt_state, self.history = params, opt_state, history


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def _check_mesh(mesh: jax.sharding.Mesh, n: int, batch_size: int | None) -> None:
    """The batch (all ``n`` examples, or ``batch_size``) must split evenly over the ``"data"`` devices."""
    devices = int(mesh.shape["data"])
    rows, what = (batch_size, "batch_size") if batch_size else (n, "the number of examples (x.shape[0])")
    if rows % devices:
        raise ValueError(
            f"mesh: {what} = {rows} is not divisible by the mesh's {devices} 'data' devices; "
            f"use a multiple of {devices} (drop or pad examples)"
        )


def fit(
    params: Params,
    x: Any,
    y: Any,
    *,
    steps: int,
    optimizer: optax.GradientTransformation | None = DEFAULT_OPTIMIZER,
    batch_size: int | None = None,
    key: jax.Array | None = None,
    chunk: int | None = None,
    progress: bool = True,
    callback: Callable[[int, Params, dict], Any] | None = None,
    gradients: Literal["auto", "manual", "autodiff"] = "auto",
    loss_fn: LossFn | None = None,
    record_every: int = 1,
    opt_state: Any = None,
    sample_weight: Any = None,
    validation: tuple[Any, Any] | None = None,
    on_divergence: Literal["warn", "raise"] = "warn",
    mesh: jax.sharding.Mesh | None = None,
) -> tuple[Params, Any, dict]:
    """Train ``params`` on ``(x, y)`` for ``steps`` optimizer steps.

    Each step is ``g = dL/dtheta`` (the mean BCE of :func:`jaxnet.loss`, or
    ``loss_fn``), then ``optimizer.update``. The steps run as one compiled
    ``lax.scan``/``fori_loop`` program, a chunk at a time; it is compiled once
    per (shapes, dtypes, optimizer object, options) and reused by later calls.

    **Arguments:**

    - ``steps``: number of optimizer steps, a multiple of ``record_every``.
    - ``optimizer``: any ``optax.GradientTransformation`` (default, or
      ``None``: ``optax.sgd(0.1)``). To change the learning rate without recompiling,
      use ``optax.inject_hyperparams(optax.sgd)(learning_rate=...)`` and edit
      ``opt_state.hyperparams["learning_rate"]`` between calls.
    - ``batch_size``, ``key``: minibatches of ``batch_size`` rows, reshuffled
      every epoch (``N // batch_size`` steps) from ``key``, inside the compiled
      loop. ``None``: full batch.
    - ``chunk``: steps per compiled call (a multiple of ``record_every``);
      default: adaptive, about a quarter second per call.
    - ``progress``: show a ``tqdm`` bar. ``callback(step, params, history)``
      runs after every chunk; returning ``True`` stops training.
    - ``gradients``: ``"manual"`` (the hand-derived backward pass, fastest),
      ``"autodiff"`` (``jax.value_and_grad``) or ``"auto"`` (manual for the
      built-in loss, autodiff when ``loss_fn`` is given).
    - ``loss_fn(params, x, y, sample_weight) -> scalar``: a custom loss (``y``
      has the output's shape, ``sample_weight`` may be ``None``).
    - ``record_every``: record the loss every this many steps (computing the
      loss costs an exp and a log1p per output; the gradient does not need it).
    - ``opt_state``: resume from this optimizer state (default ``optimizer.init``).
    - ``validation``: ``(x_val, y_val)``; its loss is recorded after each chunk.
    - ``on_divergence``: when the loss or parameters become NaN/inf, stop at
      the end of that chunk and return the parameters from its start with a
      :class:`DivergenceWarning` (``"warn"``), or raise :class:`DivergenceError`.
    - ``mesh``: a ``jax.sharding.Mesh`` with a ``"data"`` axis: the batch is
      split over its devices, parameters are replicated (see :func:`jaxnet.data_parallel_mesh`).

    ``params`` (and every other argument) is neither modified nor donated.

    **Returns:** ``(params, opt_state, history)``; ``history`` has ``"loss"``
    (the loss before steps ``history["step"]``), ``"val_loss"`` and
    ``"val_step"``, ``"diverged"`` and ``"steps_done"``.

    >>> import jaxnet
    >>> params, x, y = jaxnet.seed_example()
    >>> params, state, history = jaxnet.fit(params, x, y, steps=100, progress=False)
    >>> bool(history["loss"][-1] < history["loss"][0])
    True
    """
    params, x, y, w = prepare(params, x, y, sample_weight)
    optimizer = DEFAULT_OPTIMIZER if optimizer is None else optimizer
    steps = _positive_int("steps", steps)
    record_every = _positive_int("record_every", record_every)
    if steps % record_every:
        raise ValueError(f"steps: expected a multiple of record_every={record_every}, got {steps}")
    if chunk is not None and (_positive_int("chunk", chunk) % record_every):
        raise ValueError(f"chunk: expected a multiple of record_every={record_every}, got {chunk}")
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"optimizer: expected an optax.GradientTransformation, got {type(optimizer).__name__}")
    gradients = resolve_gradients(gradients, loss_fn)
    if on_divergence not in ("warn", "raise"):
        raise ValueError(f"on_divergence: expected 'warn' or 'raise', got {on_divergence!r}")
    if mesh is not None and (not isinstance(mesh, jax.sharding.Mesh) or "data" not in mesh.axis_names):
        raise TypeError(f"mesh: expected a jax.sharding.Mesh with a 'data' axis, got {mesh!r}")
    n = x.shape[0] if x.ndim == 2 else 1  # one example (in,) runs as it is: the gradients accept it
    if x.ndim == 1 and (batch_size is not None or mesh is not None):
        raise ValueError(f"x: batch_size and mesh need a batch of shape (N, {x.shape[0]}), got one example {tuple(x.shape)}")
    if batch_size is not None:
        batch_size = _positive_int("batch_size", batch_size)
        if batch_size > n:
            raise ValueError(f"batch_size: expected at most the number of examples {n}, got {batch_size}")
        if key is None:
            raise ValueError("key: required with batch_size (minibatches are drawn from it), got None")
    if validation is not None:
        _, xv, yv, _ = prepare(params, *validation)
    if mesh is not None:
        _check_mesh(mesh, n, batch_size)

    cfg = Config(
        optimizer=optimizer,
        value_and_grads=gradient_fn(gradients, loss_fn, "relu", "sigmoid"),
        record_every=record_every,
        buffer=(chunk // record_every) if chunk else max(1, _DEFAULT_BUFFER // record_every),
        batch_size=batch_size,
        mesh=mesh,
    )
    state = State(
        params=params,
        opt_state=optimizer.init(params) if opt_state is None else opt_state,
        step=np.zeros((), np.int32) if batch_size else None,  # only minibatches count steps and shuffle
        perm=np.arange(n, dtype=np.int32) if batch_size else None,
    )
    data = (x, y, w)
    key = key if batch_size else None  # only minibatches draw from it
    if mesh is not None:
        replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        rows = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
        state = jax.device_put(state, replicated)
        data = tuple(None if a is None else jax.device_put(a, rows) for a in data)
        key = jax.device_put(key, replicated)

    history: dict[str, Any] = {"loss": [], "step": [], "val_loss": [], "val_step": []}
    total_blocks = steps // record_every
    done_blocks, n_blocks, calls, stop = 0, min(total_blocks, cfg.buffer if chunk else 8), 0, False
    diverged = False
    bar_or_none = tqdm(total=steps, unit="step", dynamic_ncols=True) if progress else contextlib.nullcontext()
    with bar_or_none as bar:
        while done_blocks < total_blocks and not stop:
            n_blocks = min(n_blocks, total_blocks - done_blocks)
            start = time.perf_counter()
            new_state, losses, finite = run_steps(cfg, state, data, key, np.int32(n_blocks))
            losses, finite = jax.device_get((losses, finite))  # one host transfer for both
            losses = losses[:n_blocks]  # slice on the host: no per-length compile
            seconds = time.perf_counter() - start
            first = done_blocks * record_every
            history["loss"].append(losses)
            history["step"].append(first + record_every * np.arange(n_blocks))
            if not (finite and np.isfinite(losses).all()):
                diverged = True
                break
            state = new_state
            done_blocks += n_blocks
            if bar is not None:
                bar.update(n_blocks * record_every)
                bar.set_postfix(loss=f"{losses[-1]:.4g}", refresh=False)
            if validation is not None:
                history["val_loss"].append(float(_val_loss_jit(state.params, xv, yv, None)))
                history["val_step"].append(done_blocks * record_every)
            if callback is not None:
                stop = bool(callback(done_blocks * record_every, state.params, history))
            calls += 1
            if not chunk:  # grow 4x after the (compiling) first call, then aim at _TARGET_SECONDS
                grow = 4.0 if calls == 1 else _TARGET_SECONDS / max(seconds, 1e-6)
                n_blocks = int(min(cfg.buffer, max(1, round(n_blocks * min(grow, 4.0)))))

    history = {
        "loss": np.concatenate(history["loss"]) if history["loss"] else np.zeros((0,)),
        "step": np.concatenate(history["step"]) if history["step"] else np.zeros((0,), int),
        "val_loss": np.asarray(history["val_loss"]),
        "val_step": np.asarray(history["val_step"], dtype=int),
        "diverged": diverged,
        "steps_done": done_blocks * record_every,
    }
    if diverged:
        bad = history["step"][~np.isfinite(history["loss"])]
        where = f"at step {bad[0]}" if bad.size else f"within steps {history['steps_done']}..{history['step'][-1] + record_every}"
        message = (
            f"fit: training diverged (loss or parameters became NaN/inf) {where}; returning the last finite "
            f"parameters, after {history['steps_done']} steps. Try a smaller learning rate."
        )
        if on_divergence == "raise":
            raise DivergenceError(message, state.params, state.opt_state, history)
        warnings.warn(message, DivergenceWarning, stacklevel=2)
    return state.params, state.opt_state, history

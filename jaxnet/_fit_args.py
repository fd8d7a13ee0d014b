"""``fit``'s arguments: the option objects its keywords form, and every check, resolved into one :class:`Run`.

``fit`` keeps its documented keywords; it groups them into small frozen
option objects (:class:`Training`, :class:`Gradients`, :class:`Validation`,
:class:`Recording`, :class:`Execution`) and :func:`check` turns them, with
the data, into a :class:`Run`: everything checked and prepared before the
first step (the data padded to a row bucket, the validation set, the
schedule, the optimizer's program and numbers). Nothing after it checks an
argument.

>>> import jaxnet, optax
>>> params, x, y = jaxnet.seed_example()
>>> t = Training(steps=100, optimizer=optax.sgd(0.1))
>>> run = check(params, x, y, None, jaxnet.Spec(), t, Gradients(), Validation(), Recording(), Execution())
>>> run.schedule.steps, run.schedule.record_every, run.gradients, run.batches is None
(100, 1, 'manual', True)
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnet._checks import count, flag, number, one_of, refuse
from jaxnet._engine import Batches
from jaxnet._hyper import initial_state, lifted, parts, state_shapes
from jaxnet._options import check_compute_dtype, check_optimizer, execution_context, resolve_gradients
from jaxnet._padding import pad_rows
from jaxnet._recording import fit_record_every
from jaxnet._validate import as_key, overflow_error, prepare
from jaxnet._values import moved
from jaxnet.metrics import padded, scores
from jaxnet.network import multiply_adds, widths
from jaxnet.parallel import check_mesh
from jaxnet.spec import Params, Spec

_BUFFER = 10_000  # recorded losses per compiled call at most


@dataclasses.dataclass(frozen=True)
class Training:
    """What to run: ``steps``, ``optimizer`` (an optax one: ``fit`` replaces ``None`` by its default),
    ``batch_size``, ``key``, ``opt_state``, ``on_divergence``, ``drop_last``."""

    steps: Any
    optimizer: Any = None
    batch_size: Any = None
    key: Any = None
    opt_state: Any = None
    on_divergence: Any = "warn"
    drop_last: Any = True


@dataclasses.dataclass(frozen=True)
class Gradients:
    """How the gradient is computed: ``gradients`` (``"auto"``, ``"manual"``, ``"autodiff"``), ``loss_fn``."""

    gradients: Any = "auto"
    loss_fn: Any = None


@dataclasses.dataclass(frozen=True)
class Validation:
    """The held-out set and early stopping: ``validation`` (``(x_val, y_val)``), ``validation_split``,
    ``eval_every``, ``early_stopping``."""

    data: Any = None
    split: Any = None
    eval_every: Any = None
    early_stopping: Any = None


@dataclasses.dataclass(frozen=True)
class Recording:
    """What is recorded and shown between chunks: ``record_every``, ``chunk``, ``progress``, ``callback``."""

    record_every: Any = "auto"
    chunk: Any = None
    progress: Any = "auto"
    callback: Any = None


@dataclasses.dataclass(frozen=True)
class Execution:
    """Where and how the matmuls run: ``mesh``, ``local_rows``, ``device``, ``precision``, ``compute_dtype``."""

    mesh: Any = None
    local_rows: Any = False
    device: Any = None
    precision: Any = None
    compute_dtype: Any = None


class Schedule(NamedTuple):
    """The steps' schedule: ``record_every`` steps a block, evaluations every ``eval_every`` steps."""

    steps: int
    record_every: int
    eval_every: int | None  # None: no validation set
    patience: int | None  # early_stopping
    max_blocks: int  # blocks per compiled call at most (the loss buffer's length)


class Placement(NamedTuple):
    """The checked :class:`Execution`: where the program runs and the context of its matmuls."""

    mesh: Any  # a jax.sharding.Mesh with a "data" axis, or None
    device: Any
    local_rows: bool
    context: contextlib.AbstractContextManager  # the matmul precision
    compute_dtype: Any  # a floating numpy dtype, or None


class Run(NamedTuple):
    """Everything ``fit`` checked and prepared before the first step."""

    params: Params
    opt_state: Any
    data: tuple  # (x, y, w), padded to a row bucket (jaxnet._padding) where the built-in loss runs on one device
    n: int  # the real rows (global ones with local_rows)
    key: Any  # a jax.random key, or None
    spec: Spec
    skeleton: Any  # the optimizer's program (jaxnet._hyper.lifted) ...
    hyper: tuple  # ... and its numbers, runtime inputs
    gradients: str  # "manual" or "autodiff"
    loss_fn: Callable | None
    validation: Any  # the held-out set as metrics.padded gives it, or None
    batches: Batches | None  # None: full batch
    schedule: Schedule
    placement: Placement
    progress: bool | str
    callback: Callable | None
    on_divergence: str


def check(
    params: Any,
    x: Any,
    y: Any,
    w: Any,
    spec: Spec,
    t: Training,
    g: Gradients,
    v: Validation,
    rec: Recording,
    ex: Execution,
) -> Run:
    """Every argument of :func:`jaxnet.fit` checked and resolved, in the order its errors are reported."""
    # host data stays numpy until its rows are padded (below): on a GPU no round trip to pad it
    params, x, y, w = prepare(params, x, y, w, activation=spec.activation, head=spec.head, keep_host=True)
    steps = count("steps", t.steps)
    optimizer = check_optimizer(t.optimizer)
    how = resolve_gradients(g.gradients, g.loss_fn)
    if g.loss_fn is not None:
        _check_loss_fn(g.loss_fn, params, x, y, w)
        if ex.compute_dtype is not None:
            raise ValueError("compute_dtype: applies to the built-in loss; a loss_fn casts its own matmuls")
    context = execution_context(ex.device, ex.precision)
    compute_dtype = check_compute_dtype(ex.compute_dtype)
    if compute_dtype is not None:
        _check_fits(compute_dtype, params, x)
    on_divergence = one_of("on_divergence", t.on_divergence, ("warn", "raise"))
    progress, callback = _check_recording(rec)
    key = None if t.key is None else as_key(t.key)
    placement = Placement(ex.mesh, ex.device, _check_local_rows(ex, v), context, compute_dtype)
    x, y, w, held = _validation_data(v, spec, params, (x, y, w), key)
    batches, n = _check_batches(t.batch_size, t.drop_last, ex, g.loss_fn, x, key)
    data = (x, y, w)
    if g.loss_fn is None and ex.mesh is None and x.ndim == 2:  # one program for neighbouring row counts
        multiple = batches.size if batches is not None and batches.last else 1  # the remainder: a padded minibatch
        data, _ = pad_rows(data, params["W1"].dtype, multiple)  # rows for every epoch's minibatches
        if w is None and batches is not None:  # minibatches: no weights (with `last` the engine masks the padding)
            data = (*data[:2], None)  # (a full batch keeps them: its padded bucket shares one program)
    elif ex.mesh is None:  # moved once here, not by every compiled call (a mesh places its numpy rows itself)
        data = moved(data)
    schedule = _check_schedule(steps, v, rec, held is not None, step_seconds(params, data[0], batches))
    split_parts = parts(optimizer)  # once for both: the optimizer's numbers and the rest
    opt_state = _check_opt_state(t.opt_state, optimizer, params, split_parts)
    skeleton, hyper = lifted(optimizer, params, opt_state, split_parts)  # numbers are inputs, not constants
    return Run(
        params, opt_state, data, n, key, spec, skeleton, hyper, how, g.loss_fn, held, batches, schedule, placement,
        progress, callback, on_divergence,
    )  # fmt: skip


def step_seconds(params: Params, x: Any, batches: Batches | None) -> float:
    """A pessimistic guess of one step's time before anything is measured: 1 us plus 2 ns a multiply-add."""
    rows = batches.size if batches else (x.shape[0] if len(x.shape) == 2 else 1)
    return 1e-6 + 2e-9 * multiply_adds(widths(params), rows)


def _check_recording(rec: Recording) -> tuple[bool | str, Callable | None]:
    progress = one_of("progress", rec.progress, (True, False, "auto"))
    if rec.callback is not None and not callable(rec.callback):
        expected = "a function (step, params, history) or None"
        raise refuse("callback", expected, type(rec.callback).__name__, TypeError)
    return progress, rec.callback


def _check_local_rows(ex: Execution, v: Validation) -> bool:
    local = flag("local_rows", ex.local_rows)
    if local and ex.mesh is None:
        raise ValueError("local_rows: True needs mesh= (the rows of every process form the global batch), got no mesh")
    if local and v.split is not None:
        raise ValueError(
            "validation_split: with local_rows=True each process holds different rows; pass "
            "validation=(x_val, y_val), the same on every process"
        )
    return bool(local)


def _validation_data(v: Validation, spec: Spec, params: Params, data: tuple, key: Any) -> tuple:
    """``(x, y, w, held-out set or None)`` from ``validation=`` or ``validation_split=``."""
    if v.data is not None and v.split is not None:
        raise ValueError("validation_split: give validation=(x_val, y_val) or validation_split=, not both")
    if v.data is not None:
        return (*data, _held_out(v.data, spec, params))
    if v.split is None:
        return (*data, None)
    return _split(number("validation_split", v.split, low=0, high=1, low_open=True, high_open=True), spec, data, key)


def _held_out(validation: Any, spec: Spec, params: Params) -> Any:
    """``validation=(x_val, y_val)`` checked, padded once (one program per bucket), its first loss finite."""
    if not isinstance(validation, (tuple, list)) or len(validation) != 2:
        what = (
            f"a {type(validation).__name__} of length {len(validation)}"
            if isinstance(validation, (tuple, list))
            else type(validation).__name__
        )
        raise refuse("validation", "a pair (x_val, y_val)", what, TypeError)
    names = ("validation[0] (x_val)", "validation[1] (y_val)", "sample_weight")
    _, xv, yv, _ = prepare(params, *validation, activation=spec.activation, head=spec.head, names=names, keep_host=True)
    held = padded(xv, yv, None)
    if not np.isfinite(float(scores(params, *held[0], activation=spec.activation, head=spec.head, n=held[1])["loss"])):
        raise overflow_error(params, xv, yv, names[:2])  # finite values whose loss overflows: refused up front
    return held


def _split(split: float, spec: Spec, data: tuple, key: Any) -> tuple:
    """``validation_split``: a stratified (classifier heads) held-out fraction of the rows, drawn from ``key``."""
    x, y, w = data
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"validation_split: needs a batch x of shape (N, in) with N >= 2, got {tuple(x.shape)}")
    from jaxnet.data import train_test_split  # numpy only; imported where used
    from jaxnet.tabular import stratified

    yh = np.asarray(y)
    hard = stratified(spec.head, yh)  # the one stratification rule, as the estimators' and the CLI's splits
    seed = 0 if key is None else int(jax.random.randint(key, (), 0, 2**31 - 1))
    rows = np.arange(x.shape[0])[:, None]
    try:
        tr, va, _, _ = train_test_split(rows, yh, test_fraction=split, seed=seed, stratify=hard)
    except ValueError as e:
        raise ValueError(f"validation_split: {split} of {x.shape[0]} examples cannot be split ({e})") from None
    train, val = tr[:, 0], va[:, 0]  # numpy indices: they index numpy and jax data alike, compiling nothing
    if w is not None and not bool(jnp.any(w[train] > 0)):
        raise ValueError(
            f"validation_split: every example left for training has sample_weight 0 ({split} of {x.shape[0]} held "
            "out); use another key or split"
        )
    return x[train], y[train], None if w is None else w[train], padded(x[val], y[val], None)


def _check_batches(
    batch_size: Any, drop_last: Any, ex: Execution, loss_fn: Any, x: Any, key: Any
) -> tuple[Batches | None, int]:
    """``(batches or None, the global number of real rows)``."""
    n, mesh = (x.shape[0] if x.ndim == 2 else 1), ex.mesh
    drop_last = flag("drop_last", drop_last)
    if mesh is not None and (not isinstance(mesh, jax.sharding.Mesh) or "data" not in mesh.axis_names):
        raise refuse("mesh", "a jax.sharding.Mesh with a 'data' axis", repr(mesh), TypeError)
    if mesh is not None and ex.device is not None:
        raise ValueError("device: give a mesh (its devices) or one device, not both")
    if x.ndim == 1 and (batch_size is not None or mesh is not None):
        raise ValueError(
            f"x: batch_size and mesh need a batch of shape (N, {x.shape[0]}), got one example {tuple(x.shape)}"
        )
    if batch_size is not None:
        batch_size = count("batch_size", batch_size)
        if batch_size > n:
            raise refuse("batch_size", f"at most the number of examples {n}", batch_size)
        if key is None:
            raise ValueError("key: required with batch_size (minibatches are drawn from it), got None")
        if not drop_last and (mesh is not None or loss_fn is not None):  # after mesh and batch_size are checked
            raise ValueError(
                "drop_last: False pads each epoch's last minibatch with rows of weight 0, which needs the built-in "
                f"loss and no mesh; got {'a mesh' if mesh is not None else 'a loss_fn'} (use drop_last=True)"
            )
    if mesh is not None and ex.local_rows:  # the global row count: every process holds as many rows per device
        mine = sum(d.process_index == jax.process_index() for d in mesh.devices.flat)
        if not mine or n % mine:
            raise ValueError(
                f"x: with local_rows=True this process's {n} rows must split evenly over its {mine} mesh device(s)"
            )
        n = n // mine * int(mesh.devices.size)
    if mesh is not None:
        check_mesh(mesh, n, batch_size)
    return (None if batch_size is None else Batches(batch_size, mesh, not drop_last)), n


def _check_schedule(steps: int, v: Validation, rec: Recording, validating: bool, seconds: float) -> Schedule:
    """``record_every``, ``eval_every``, ``early_stopping`` and ``chunk``, consistent with each other."""
    if not validating and (v.eval_every is not None or v.early_stopping is not None):
        what = "eval_every" if v.eval_every is not None else "early_stopping"
        raise ValueError(f"{what}: needs a validation set (validation=(x_val, y_val) or validation_split=)")
    eval_every = None if v.eval_every is None else count("eval_every", v.eval_every)
    patience = None if v.early_stopping is None else count("early_stopping", v.early_stopping)
    record_every = rec.record_every
    if isinstance(record_every, str) and record_every == "auto":
        if validating and eval_every is None:
            eval_every = max(1, steps // 20)
        record_every = fit_record_every(steps, eval_every, seconds)
    else:
        record_every = count("record_every", record_every)
        if steps % record_every:
            raise refuse("steps", f"a multiple of record_every={record_every}", steps)
        if validating and eval_every is None:
            eval_every = record_every * max(1, steps // 20 // record_every)
    if eval_every is not None and eval_every > steps:
        raise refuse("eval_every", f"at most steps={steps} (no evaluation would run)", eval_every)
    if eval_every is not None and eval_every % record_every:
        raise refuse("eval_every", f"a multiple of record_every={record_every}", eval_every)
    if rec.chunk is not None and count("chunk", rec.chunk) < record_every:
        raise refuse("chunk", f"at least record_every={record_every} steps (one block)", rec.chunk)
    blocks = _BUFFER if rec.chunk is None else min(_BUFFER, rec.chunk // record_every)
    return Schedule(steps, record_every, eval_every, patience, blocks)


def _check_fits(dtype: Any, params: Params, x: Any) -> None:
    """Refuse ``x`` or weights beyond the largest finite value of ``compute_dtype`` (65504 for float16)."""
    big = float(jnp.finfo(dtype).max)
    for name, v in (("x", x), *((f"params['{k}']", p) for k, p in params.items())):
        m = float(jnp.max(jnp.abs(v)))
        if m > big:
            raise ValueError(
                f"{name}: values up to {m:.4g} overflow compute_dtype={jnp.dtype(dtype).name} (largest finite "
                f"{big:.6g}); standardise the data, or use compute_dtype=jnp.bfloat16 or None"
            )


def _check_loss_fn(loss_fn: Any, params: Params, x: Any, y: Any, w: Any) -> None:
    """``loss_fn(params, x, y, sample_weight)`` must trace and return a real scalar (checked by ``jax.eval_shape``)."""
    what = "loss_fn: expected a function (params, x, y, sample_weight) -> a real scalar"
    try:
        out = jax.eval_shape(loss_fn, params, x, y, w)
    except Exception as e:  # whatever the user's function raised while being traced
        raise TypeError(f"{what}; calling it raised {type(e).__name__}: {e}") from e
    if not (hasattr(out, "shape") and out.shape == () and jnp.issubdtype(out.dtype, jnp.floating)):
        got = f"shape {out.shape}, dtype {out.dtype}" if hasattr(out, "shape") else type(out).__name__
        raise TypeError(f"{what}; it returned {got}")


def _check_opt_state(opt_state: Any, optimizer: optax.GradientTransformation, params: Params, split_parts: Any) -> Any:
    """``optimizer.init(params)``, or the given state if it has the same structure, shapes and dtypes."""
    if opt_state is None:
        return initial_state(optimizer, params, split_parts)  # numpy or one program (jaxnet._hyper), not one per leaf
    if any(isinstance(v, jax.ShapeDtypeStruct) for v in jax.tree.leaves(opt_state)):
        raise TypeError(
            "opt_state: expected arrays (the state optimizer.init(params) returns), got jax.ShapeDtypeStruct "
            "leaves: shapes and dtypes without values (jax.eval_shape's result?)"
        )
    expected = state_shapes(optimizer, params, split_parts)
    try:
        got = jax.tree.map(jax.typeof, opt_state)  # what eval_shape gives, without tracing
        same = jax.tree.structure(got) == jax.tree.structure(expected) and all(  # type: ignore[operator]
            (a.shape, a.dtype) == (b.shape, b.dtype) for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected))
        )
    except (TypeError, ValueError, OverflowError):
        same = False
    if not same:
        raise TypeError(
            f"opt_state: expected the state of this optimizer for these params (optimizer.init(params)), "
            f"got {type(opt_state).__name__} with a different structure, shapes or dtypes"
        )
    return opt_state

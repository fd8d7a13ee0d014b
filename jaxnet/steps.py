"""Training steps: one optax update, and many of them fused into one compiled loop.

A step is ``g = dL/dtheta; updates, state = optimizer.update(g, state, theta);
theta = theta + updates``. :func:`make_train_step` jits one step for a Python
loop; :func:`run_steps` (used by :func:`jaxnet.fit`) runs blocks of steps as
``lax.scan`` inside a ``lax.fori_loop`` whose trip count is a traced argument,
so one compiled program serves every chunk length and every ``steps``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import lru_cache, partial
from typing import Any, NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnet import _hyper
from jaxnet import _kernels as kernels
from jaxnet._validate import Params, merge_spec
from jaxnet.network import ActivationName, HeadName
from jaxnet.spec import Model, Spec

__all__ = ["sgd", "make_train_step"]

LossFn = Callable[[Params, jax.Array, jax.Array, "jax.Array | None"], jax.Array]
ValueAndGrads = Callable[..., tuple["jax.Array | None", Params]]


def sgd(learning_rate: float = 0.1) -> optax.GradientTransformation:
    """Plain gradient descent, ``theta <- theta - learning_rate * g``: ``optax.sgd``.

    >>> import jaxnet, optax
    >>> opt = jaxnet.sgd(0.1)
    >>> isinstance(opt, optax.GradientTransformation)
    True
    """
    return optax.sgd(learning_rate)


def resolve_gradients(gradients: Any, loss_fn: Any) -> str:
    """``"manual"`` or ``"autodiff"`` from the ``gradients=`` option (``"auto"``: manual unless ``loss_fn``)."""
    if gradients not in ("auto", "manual", "autodiff"):
        raise ValueError(f"gradients: expected 'auto', 'manual' or 'autodiff', got {gradients!r}")
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(
            f"loss_fn: expected a function (params, x, y, sample_weight) -> scalar, got {type(loss_fn).__name__}"
        )
    if gradients == "manual" and loss_fn is not None:
        raise ValueError(
            "gradients: 'manual' is the hand-derived gradient of the built-in loss; use 'autodiff' with loss_fn"
        )
    return ("manual" if loss_fn is None else "autodiff") if gradients == "auto" else gradients


@lru_cache(maxsize=256)
def gradient_fn(
    gradients: str, loss_fn: LossFn | None, activation: str, head: str, compute_dtype: Any = None
) -> ValueAndGrads:
    """``vg(params, x, y, w, with_value) -> (loss or None, grads)``, resolved once in Python before ``jit``.

    Cached, so equal options give the same function object (a ``jit`` cache hit).
    """
    if gradients == "manual":

        def manual(params: Params, x: jax.Array, y: jax.Array, w: Any, with_value: bool) -> tuple[Any, Params]:
            return kernels.value_and_grads(params, x, y, w, activation, head, compute_dtype, with_value=with_value)

        return manual
    fn = loss_fn or partial(kernels.loss, activation=activation, head=head, compute_dtype=compute_dtype)

    def autodiff(params: Params, x: jax.Array, y: jax.Array, w: Any, with_value: bool) -> tuple[Any, Params]:
        if with_value:
            return jax.value_and_grad(fn)(params, x, y, w)
        return None, jax.grad(fn)(params, x, y, w)

    return autodiff


def apply_update(
    optimizer: optax.GradientTransformation, params: Params, opt_state: Any, g: Params
) -> tuple[Params, Any]:
    """One optimizer step from the gradient ``g``: ``optimizer.update``, then ``optax.apply_updates``."""
    updates, opt_state = optimizer.update(g, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def steps_recording_first(step: Callable[[Any, bool], tuple[Any, Any]], state: Any, count: int) -> tuple[Any, Any]:
    """``count`` calls of ``step(state, with_value) -> (state, value)``; the value of the first.

    Only the first step computes its value (the loss, an exp and a log1p per
    output); the other ``count - 1`` run in a ``lax.scan`` without it.
    """
    state, value = step(state, True)
    if count > 1:
        state = jax.lax.scan(lambda s, _: (step(s, False)[0], None), state, length=count - 1, unroll=_UNROLL)[0]
    return state, value


_UNROLL = 1


def make_train_step(
    optimizer: optax.GradientTransformation,
    *,
    loss_fn: LossFn | None = None,
    gradients: str = "auto",
    activation: ActivationName | None = None,
    head: HeadName | None = None,
    spec: Spec | Model | None = None,
    device: jax.Device | None = None,
    precision: str | None = None,
    compute_dtype: Any = None,
) -> Callable[[Any, Any, Any, Any], tuple[Any, Any, jax.Array]]:
    """A jitted, pure training step ``step(params, opt_state, x, y) -> (params, opt_state, loss)``.

    ``loss`` is the loss at the parameters passed in (before the update).
    ``loss_fn(params, x, y, sample_weight)`` defaults to :func:`jaxnet.loss`
    for ``activation`` and ``head``. ``gradients`` is the option of
    :func:`jaxnet.fit`: ``"auto"`` (default) takes the hand-derived pass for
    the built-in loss and autodiff for ``loss_fn``. ``x`` and ``y`` are cast to
    the params' dtype and ``y`` is reshaped to the output's shape inside (for
    softmax, pass one-hot rows).

    ``params`` may be a :class:`~jaxnet.Model`: the step then uses the
    model's activation and head and returns a Model (``opt_state`` from
    ``optimizer.init(model)`` or ``optimizer.init(model.params)``). ``spec`` (a
    :class:`~jaxnet.Spec`, or a Model for its spec), ``activation`` and
    ``head`` fix the network the step is for: a dict uses them (default
    ``"relu"``/``"sigmoid"``), a Model built otherwise is refused when the
    step is traced (a ValueError naming the argument).

    ``device`` runs the step there (arguments are moved to it);
    ``precision`` (``"default"``, ``"high"``, ``"highest"``) sets
    ``jax.default_matmul_precision`` (on GPUs ``"default"`` float32 matmuls use
    TF32); ``compute_dtype=jnp.bfloat16`` computes the matmuls in bfloat16 with
    float32 accumulation and float32 parameters (mixed precision).

    The step is the hot path: it does not validate. Call
    :func:`jaxnet.validate` once before your loop.

    >>> import jaxnet, optax
    >>> params, x, y = jaxnet.seed_example()
    >>> opt = optax.sgd(0.1)
    >>> step = jaxnet.make_train_step(opt)
    >>> params, state, loss_before = step(params, opt.init(params), x, y)
    >>> round(float(loss_before), 6)
    0.657313
    """
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"optimizer: expected an optax.GradientTransformation, got {type(optimizer).__name__}")
    if spec is not None:
        if not isinstance(spec, (Spec, Model)):
            raise TypeError(f"spec: expected a jaxnet.Spec or jaxnet.Model, got {type(spec).__name__}")
        fixed = merge_spec(spec.spec if isinstance(spec, Model) else spec, activation, head)
        activation, head = fixed.activation, fixed.head
    for_dicts = merge_spec(None, activation, head)  # also checks the names
    compute_dtype = check_compute_dtype(compute_dtype)
    context = execution_context(device, precision)
    how = resolve_gradients(gradients, loss_fn)
    vg = gradient_fn(how, loss_fn, for_dicts.activation, for_dicts.head, compute_dtype)

    def update(vg: Any, params: Any, opt_state: Any, x: Any, y: Any) -> tuple[Any, Any, jax.Array]:
        dtype = jax.tree.leaves(params)[0].dtype
        x, y = jnp.asarray(x).astype(dtype), jnp.asarray(y).astype(dtype)
        value, g = vg(params, x, y, None, True)
        params, opt_state = apply_update(optimizer, params, opt_state, g)
        return params, opt_state, cast(jax.Array, value)

    @jax.jit
    def step(params: Any, opt_state: Any, x: Any, y: Any) -> tuple[Any, Any, jax.Array]:
        if not isinstance(params, Model):
            return update(vg, params, opt_state, x, y)
        built = merge_spec(params.spec, activation, head)  # static: the spec is the pytree's metadata
        vg_built = gradient_fn(how, loss_fn, built.activation, built.head, compute_dtype)
        if not _holds_model(opt_state):  # optimizer.init(model.params)
            new, opt_state, value = update(vg_built, params.params, opt_state, x, y)
            return Model(new, built), opt_state, value

        def vg_model(m: Model, x: Any, y: Any, w: Any, with_value: bool) -> tuple[Any, Model]:
            value, g = vg_built(m.params, x, y, w, with_value)
            return value, Model(g, built)

        return update(vg_model, params, opt_state, x, y)  # optimizer.init(model): the state mirrors the Model

    if device is None and precision is None:
        return step

    def placed(params: Any, opt_state: Any, x: Any, y: Any) -> tuple[Any, Any, jax.Array]:
        args = (params, opt_state, x, y) if device is None else jax.device_put((params, opt_state, x, y), device)
        with context:
            return step(*args)

    return placed


def _holds_model(tree: Any) -> bool:
    """Whether a :class:`~jaxnet.Model` is a node of ``tree`` (static: from the tree's structure)."""
    return any(isinstance(n, Model) for n in jax.tree.leaves(tree, is_leaf=lambda n: isinstance(n, Model)))


_PRECISIONS = ("default", "high", "highest")


def execution_context(device: Any, precision: Any) -> contextlib.AbstractContextManager:
    """Check ``device``/``precision``; the context that applies ``precision`` (matmul precision) to a call."""
    if device is not None and not isinstance(device, jax.Device):
        raise TypeError(f"device: expected a jax.Device such as jax.devices('cpu')[0] or None, got {device!r}")
    if precision is None:
        return contextlib.nullcontext()
    if not isinstance(precision, str) or precision not in _PRECISIONS:
        raise ValueError(f"precision: expected one of {list(_PRECISIONS)} or None, got {precision!r}")
    return jax.default_matmul_precision(precision)


def check_compute_dtype(compute_dtype: Any) -> Any:
    """``None`` or a floating dtype for the matmuls (``jnp.bfloat16``, ``jnp.float16``)."""
    if compute_dtype is None:
        return None
    try:
        dtype = jnp.dtype(compute_dtype)
    except TypeError:
        raise TypeError(
            f"compute_dtype: expected a floating dtype such as jnp.bfloat16 or None, got {compute_dtype!r}"
        ) from None
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"compute_dtype: expected a floating dtype such as jnp.bfloat16 or None, got {dtype}")
    return dtype


class Batches(NamedTuple):
    """Static minibatch configuration: ``size`` rows per step, optionally split over a mesh's ``"data"`` axis."""

    size: int
    mesh: Any  # a jax.sharding.Mesh with a "data" axis, or None


class Config(NamedTuple):
    """Static configuration of a compiled training loop (hashable: a ``jit`` static argument)."""

    optimizer: Any  # the optimizer's skeleton (jaxnet._hyper.lifted); its numbers are run_steps' ``hyper``
    value_and_grads: ValueAndGrads  # from gradient_fn
    record_every: int  # steps per block; the loss is recorded at each block's first step
    buffer: int  # blocks per compiled call at most (the loss buffer's length)
    batches: Batches | None  # None: full batch


class State(NamedTuple):
    """The training state: parameters and optimizer state."""

    params: Params
    opt_state: Any


class Cursor(NamedTuple):
    """Where minibatching is: the global step count and the current epoch's order (its own carry)."""

    step: Any  # int32 scalar (a numpy one to start: no program compiled per row count)
    perm: Any  # int32 (N,)
    rows: Any = None  # int32 scalar: the real rows, the first ``rows`` of N (the rest is padding); None: all N


def _shuffle(key: jax.Array, n: int, rows: Any) -> jax.Array:
    """A random order of the first ``rows`` of ``n`` indices, then the rest (padding) in order.

    Each index gets 32 random bits drawn for the full length ``n`` (``jax.random.bits``
    draws element ``i`` the same whatever the length), padding sorts last, ties
    break by index: so the order of the real rows does not depend on how many
    padding rows follow them.
    """
    index = jnp.arange(n, dtype=jnp.int32)
    pad = (index >= rows).astype(jnp.uint32)
    return jax.lax.sort((pad, jax.random.bits(key, (n,), jnp.uint32), index), num_keys=2, is_stable=True)[2]


def _batch(cfg: Config, key: jax.Array, cursor: Cursor, data: tuple) -> tuple[tuple, Cursor]:
    """The step's minibatch: the next ``batch_size`` rows of a per-epoch shuffle of the real rows (from ``key``)."""
    x, y, w = data
    assert cfg.batches is not None  # only called for minibatches
    size, mesh = cfg.batches
    n = x.shape[0]
    rows = jnp.int32(n) if cursor.rows is None else cursor.rows
    epoch, pos = jnp.divmod(cursor.step, rows // size)
    perm = jax.lax.cond(
        pos == 0,
        lambda: _shuffle(jax.random.fold_in(key, epoch), n, rows),
        lambda: cursor.perm,
    )
    idx = jax.lax.dynamic_slice_in_dim(perm, pos * size, size)
    batch = tuple(None if a is None else jnp.take(a, idx, axis=0) for a in (x, y, w))
    if mesh is not None:
        spec = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
        batch = tuple(None if a is None else jax.lax.with_sharding_constraint(a, spec) for a in batch)
    return batch, Cursor(cursor.step + 1, perm, cursor.rows)


def bucket(n: int) -> int:
    """The padded row count for ``n`` rows: ``n`` rounded up to a multiple of ``2**(bit_length(n - 1) - 4)``.

    8 to 16 sizes per doubling (at most 1/8 padding, none up to 16 rows), so
    the folds of a cross-validation (379 and 380 rows) share one compiled program.

    >>> bucket(379), bucket(380), bucket(455), bucket(16), bucket(17)
    (384, 384, 480, 16, 18)
    """
    step = 1 << max(0, (n - 1).bit_length() - 4)
    return -(-n // step) * step


def pad_rows(data: tuple, dtype: Any) -> tuple[tuple, int]:
    """``((x, y, w), n)``: padded to :func:`bucket` rows with zero rows of weight 0, ``w`` all ones if None.

    A row of weight 0 has share 0 of the mean loss (:func:`jaxnet._kernels.shares`) and of the
    gradient, and its loss is finite (zero inputs and targets): it changes nothing. Done in numpy
    (a copy on the host), so no program is compiled for a new row count.
    """
    x, y, w = data
    n = x.shape[0]
    w = np.ones((n,), dtype) if w is None else w
    extra = bucket(n) - n
    grow = lambda a: np.concatenate([np.asarray(a), np.zeros((extra,) + a.shape[1:], a.dtype)])  # noqa: E731
    return tuple(jax.device_put(grow(a)) for a in (x, y, w)), n  # device_put compiles nothing


def _step(
    cfg: Config, optimizer: Any, key: jax.Array, data: tuple, carry: tuple, with_value: bool
) -> tuple[tuple, Any]:
    state, cursor = carry
    batch, cursor = (data, None) if cfg.batches is None else _batch(cfg, key, cursor, data)
    value, g = cfg.value_and_grads(state.params, *batch, with_value)
    return (State(*apply_update(optimizer, state.params, state.opt_state, g)), cursor), value


@partial(jax.jit, static_argnames="cfg")
def run_steps(
    cfg: Config, carry: tuple, data: tuple, key: jax.Array, n_blocks: jax.Array, limit: jax.Array, hyper: tuple
) -> tuple[tuple, jax.Array, jax.Array, jax.Array, jax.Array]:
    """Run up to ``n_blocks`` blocks of ``cfg.record_every`` steps as one compiled program.

    ``carry = (state, cursor)``. Each block records the loss at its start; a
    loss that is NaN/inf or above ``limit`` ends the loop after that block.
    Returns ``(carry, losses, blocks, ok, final)``: ``losses`` has length
    ``cfg.buffer``, its first ``blocks`` entries written; ``ok`` is False when
    the loop stopped on a loss or the final parameters are not finite;
    ``final`` is the loss of the final carry (so no step goes unchecked). The
    caller decides which state to keep and recovers it by running again from
    its own copy of the start (the program is deterministic). ``limit`` is an
    input, not updated in the loop: a loop-carried threshold costs XLA:CPU
    about a microsecond a block. ``hyper`` holds the optimizer's numbers
    (learning rate, decays: :func:`jaxnet._hyper.lifted`), runtime inputs, so
    another learning rate runs the same program.
    """
    optimizer = _hyper.build(cfg.optimizer, hyper)
    dtype = carry[0].params["W1"].dtype
    losses = jnp.full((cfg.buffer,), jnp.nan, dtype)

    def cond(loop: tuple) -> jax.Array:
        i, _, _, ok = loop
        return (i < n_blocks) & ok

    def body(loop: tuple) -> tuple:
        i, carry, losses, _ = loop
        carry, value = steps_recording_first(
            lambda s, with_value: _step(cfg, optimizer, key, data, s, with_value), carry, cfg.record_every
        )
        return i + 1, carry, losses.at[i].set(value), jnp.isfinite(value) & (value <= limit)

    i, carry, losses, ok = jax.lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), carry, losses, jnp.bool_(True)))
    final = _step(cfg, optimizer, key, data, carry, True)[1]  # the returned state's own loss (its update is discarded)
    return carry, losses, i, ok & kernels.all_finite(carry[0].params), final

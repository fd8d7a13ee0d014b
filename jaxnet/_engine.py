"""``fit``'s compiled engine: blocks of optimizer steps as ``lax.scan`` inside a ``lax.while_loop``.

:func:`run_steps` runs up to ``n_blocks`` blocks of ``cfg.record_every``
steps in one compiled program. The block count is a traced argument of the
``lax.while_loop`` (not a ``fori_loop`` bound, not a static length), so one
program serves every chunk length and every ``steps``; the loop also stops
after a block whose recorded loss is NaN/inf or above the divergence limit.
Inside a block the first step records its loss and the other
``record_every - 1`` run in a ``lax.scan`` without it
(:func:`steps_recording_first`). Minibatches are drawn inside the program
from a per-epoch shuffle (:func:`_batch`); the optimizer's numbers are
runtime inputs (``hyper``, :func:`jaxnet._hyper.lifted`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxnet import _hyper
from jaxnet import _kernels as kernels
from jaxnet.errors import acceptable
from jaxnet.spec import Params
from jaxnet.steps import ValueAndGrads, apply_update

__all__ = ["Batches", "Config", "Cursor", "State", "run_steps", "steps_recording_first"]

_SCAN_UNROLL = 1  # lax.scan's unroll of a block's unrecorded steps: steps per loop iteration (1: not unrolled)


def steps_recording_first(step: Callable[[Any, bool], tuple[Any, Any]], state: Any, count: int) -> tuple[Any, Any]:
    """``count`` calls of ``step(state, with_value) -> (state, value)``; the value of the first.

    Only the first step computes its value (the loss, an exp and a log1p per
    output); the other ``count - 1`` run in a ``lax.scan`` without it.

    >>> import jax.numpy as jnp
    >>> def step(s, with_value):  # doubles s; its value is s + 0.5, when asked
    ...     return s * 2, (s + 0.5 if with_value else None)
    >>> steps_recording_first(step, jnp.float32(1.0), 4)  # 1 -> 16; the first value
    (Array(16., dtype=float32), Array(1.5, dtype=float32))
    """
    state, value = step(state, True)
    if count > 1:
        state = jax.lax.scan(lambda s, _: (step(s, False)[0], None), state, length=count - 1, unroll=_SCAN_UNROLL)[0]
    return state, value


class Batches(NamedTuple):
    """Static minibatch configuration: ``size`` rows per step, optionally split over a mesh's ``"data"`` axis.

    An epoch is ``rows // size`` minibatches (the remainder rows wait for a later epoch's shuffle), or with
    ``last`` ``ceil(rows / size)``: the last one holds the remainder and padding rows of weight 0 (the data
    then has at least ``ceil(rows / size) * size`` rows, padding sorted last; its weights are the sample
    weights, or None and :func:`_rows` masks the padding).
    """

    size: int
    mesh: Any  # a jax.sharding.Mesh with a "data" axis, or None
    last: bool = False  # keep each epoch's last, partial minibatch (fit's drop_last=False)


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
    rows: Any  # int32 scalar: the real rows, the first ``rows`` of N (the rest is padding, weight 0)


def _shuffle(key: jax.Array, epoch: jax.Array, n: int, rows: Any) -> jax.Array:
    """Epoch ``epoch``'s random order of the first ``rows`` of ``n`` indices, then the rest (padding).

    Each index gets 32 random bits drawn for the full length ``n`` (``jax.random.bits``
    draws element ``i`` the same whatever the length) and the rows sort by them, ties
    by index; padding rows get the largest bits, so they sort last, in index order
    (never drawn), and a real row with those bits still comes first (its index is
    smaller). So the order of the real rows does not depend on how many padding rows
    follow them, and is the order of the sort by (is padding, bits, index) it replaces:
    one key instead of two, ~10% off a minibatch step of 200 rows (94 -> 85 us).
    """
    index = jnp.arange(n, dtype=jnp.int32)
    bits = jnp.where(index >= rows, jnp.uint32(0xFFFFFFFF), _epoch_bits(key, epoch, n))
    return jax.lax.sort((bits, index), num_keys=1, is_stable=True)[1]


def _epoch_bits(key: jax.Array, epoch: jax.Array, n: int) -> jax.Array:
    """``jax.random.bits(jax.random.fold_in(key, epoch), (n,), jnp.uint32)``, the same bits.

    For a threefry key (jax's default) they are computed here with the hash
    unrolled (:func:`_threefry2x32`): on CPU jax lowers its hash as a 5-trip
    ``while`` loop, whose pieces (twice: the fold-in, then the bits) XLA:CPU
    compiled as ~10 more kernels, ~0.1 s of ``fit``'s compile time. Other key
    implementations, or the non-partitionable threefry, go through ``jax.random``.
    """
    if not unrolled_threefry(key):
        return jax.random.bits(jax.random.fold_in(key, epoch), (n,), jnp.uint32)
    k = jax.random.key_data(key)
    # fold_in: the hash of the 64-bit counter epoch, (hi, lo) = (0, epoch), is the new key
    k1, k2 = _threefry2x32(k[0], k[1], jnp.uint32(0), epoch.astype(jnp.uint32))
    # bits: element i is the xor of the two words of the hash of the 64-bit counter i
    b1, b2 = _threefry2x32(k1, k2, jnp.zeros(n, jnp.uint32), jnp.arange(n, dtype=jnp.uint32))
    return b1 ^ b2


def unrolled_threefry(key: jax.Array) -> bool:
    """Whether :func:`_epoch_bits` hashes ``key`` itself: a threefry key (jax >= 0.5 names its implementation
    ``"threefry2x32"``, 0.4 ``"fry"``) while jax.random's threefry is partitionable (read at trace time)."""
    partitionable = jax.config.jax_threefry_partitionable  # type: ignore[attr-defined]
    return partitionable and str(jax.random.key_impl(key)) in ("threefry2x32", "fry")


def _threefry2x32(k1: jax.Array, k2: jax.Array, x1: jax.Array, x2: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The Threefry-2x32 hash of the counter words ``(x1, x2)`` under the key ``(k1, k2)``: 20 rounds of
    ``x1 += x2; x2 = rotl(x2, r) ^ x1``, a key injection every 4 (Salmon et al. 2011; jax's ``threefry_2x32``,
    written out unrolled)."""
    rotations = ((13, 15, 26, 6), (17, 29, 16, 24))
    ks = (k1, k2, k1 ^ k2 ^ jnp.uint32(0x1BD11BDA))
    x1, x2 = x1 + ks[0], x2 + ks[1]
    for i in range(5):
        for r in rotations[i % 2]:
            x1 = x1 + x2
            x2 = x1 ^ (jax.lax.shift_left(x2, jnp.uint32(r)) | jax.lax.shift_right_logical(x2, jnp.uint32(32 - r)))
        x1, x2 = x1 + ks[(i + 1) % 3], x2 + ks[(i + 2) % 3] + jnp.uint32(i + 1)
    return x1, x2


def _batch(cfg: Config, key: jax.Array, cursor: Cursor, data: tuple) -> tuple[tuple, Cursor]:
    """The step's minibatch: the next ``batch_size`` rows of a per-epoch shuffle of the real rows (from ``key``).

    Step ``s`` is minibatch ``s mod B`` of epoch ``s div B``, ``B`` minibatches an epoch
    (:func:`_per_epoch`); all non-negative, so ``lax.div``/``lax.rem`` (``jnp.divmod`` floors: sign fix-ups, more kernels),
    and the epoch is computed inside the branch that shuffles (fused there rather than a kernel of its own).
    """
    rows = cursor.rows
    per_epoch = _per_epoch(cfg, rows)
    pos = jax.lax.rem(cursor.step, per_epoch)
    perm = jax.lax.cond(
        pos == 0,
        lambda: _shuffle(key, jax.lax.div(cursor.step, per_epoch), data[0].shape[0], rows),
        lambda: cursor.perm,
    )
    return _rows(cfg, data, perm, pos, rows), Cursor(cursor.step + 1, perm, cursor.rows)


def _per_epoch(cfg: Config, rows: jax.Array) -> jax.Array:
    """Minibatches an epoch of ``rows`` real rows: ``rows // size``, or ``ceil(rows / size)`` keeping the last,
    partial one."""
    assert cfg.batches is not None  # only called for minibatches
    size = cfg.batches.size
    return jax.lax.div(rows + jnp.int32(size - 1) if cfg.batches.last else rows, jnp.int32(size))


def _rows(cfg: Config, data: tuple, perm: jax.Array, pos: jax.Array, rows: jax.Array) -> tuple:
    """The ``pos``-th minibatch of the order ``perm``: rows ``perm[pos * size : (pos + 1) * size]`` of ``data``.

    The slice is in range (``pos`` below :func:`_per_epoch`; with ``last`` the data has that many
    minibatches of rows) and its start non-negative: unsigned, no negative-index fix-up. The gathers stay
    ``jnp.take``: promising their indices in range (no out-of-range fill) changed how XLA:CPU fuses them,
    and so the last bits of some fits (every ``batch_size=1`` run). With ``last`` and no sample weights,
    the weights are the 0/1 :class:`~jaxnet._kernels.Mask` of the real rows (padding sorts last: the
    indices from ``rows`` on), not gathered, and they need no scaling.
    """
    assert cfg.batches is not None  # only called for minibatches
    size, mesh, last = cfg.batches
    idx = jax.lax.dynamic_slice_in_dim(perm, (pos * size).astype(jnp.uint32), size)  # unsigned: never negative
    batch: tuple[Any, ...] = tuple(None if a is None else jnp.take(a, idx, axis=0) for a in data)
    if last and data[2] is None:
        batch = (*batch[:2], kernels.Mask((idx < rows).astype(data[0].dtype)))
    if mesh is not None:
        spec = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
        batch = tuple(None if a is None else jax.lax.with_sharding_constraint(a, spec) for a in batch)
    return batch


def _last_batch(cfg: Config, data: tuple, cursor: Cursor | None) -> tuple:
    """The rows of the step before ``cursor`` (all of ``data`` for full batches): drawn again from the epoch's
    order it carries, so no shuffle is compiled for it. Before any step, the first rows of the initial order."""
    if cursor is None:
        return data
    rows = cursor.rows
    pos = jax.lax.rem(jnp.maximum(cursor.step - 1, 0), _per_epoch(cfg, rows))
    return _rows(cfg, data, cursor.perm, pos, rows)


def _step(
    cfg: Config, optimizer: Any, key: jax.Array, data: tuple, carry: tuple, with_value: bool
) -> tuple[tuple, Any]:
    state, cursor = carry
    batch, cursor = (data, None) if cfg.batches is None else _batch(cfg, key, cursor, data)
    value, g = cfg.value_and_grads(state.params, *batch, with_value)
    return (State(*apply_update(optimizer, state.params, state.opt_state, g)), cursor), value


def _last_ok(losses: jax.Array, i: jax.Array, limit: jax.Array) -> jax.Array:
    """Whether block ``i - 1``'s recorded loss is acceptable (True before the first block)."""
    return (i == 0) | acceptable(jax.lax.dynamic_index_in_dim(losses, jnp.maximum(i - 1, 0), keepdims=False), limit)


@partial(jax.jit, static_argnames="cfg")
def run_steps(
    cfg: Config, carry: tuple, data: tuple, key: jax.Array, n_blocks: jax.Array, limit: jax.Array, hyper: tuple
) -> tuple[tuple, jax.Array, jax.Array, jax.Array, jax.Array]:
    """Run up to ``n_blocks`` blocks of ``cfg.record_every`` steps as one compiled program.

    ``carry = (state, cursor)``; ``n_blocks`` is at most ``cfg.buffer`` (the
    loss is written at index ``i`` unchecked). Each block records the loss at
    its start; a loss that is NaN/inf or above ``limit`` ends the loop after that block.
    Returns ``(carry, losses, blocks, ok, final)``: ``losses`` has length
    ``cfg.buffer``, its first ``blocks`` entries written; ``ok`` is False when
    the loop stopped on a loss or the final parameters are not finite;
    ``final`` is the final parameters' loss on the rows of the last step
    (all rows for full batches; so no step goes unchecked). The
    caller decides which state to keep and recovers it by running again from
    its own copy of the start (the program is deterministic). ``limit`` is an
    input, not updated in the loop: a loop-carried threshold costs XLA:CPU
    about a microsecond a block. ``hyper`` holds the optimizer's numbers
    (learning rate, decays: :func:`jaxnet._hyper.lifted`), runtime inputs, so
    another learning rate runs the same program.

    The loop's body is kept small in bytes: XLA:CPU runs a ``while`` whose one
    iteration (body and condition) touches under 1 KiB
    (``xla_cpu_small_while_loop_byte_threshold``, cost analysis) as one compiled
    kernel, and any other one op by op, at ~50 ns per op per iteration. The
    worked example recording every step is such a loop: ~60 ns a block as one
    kernel, ~630 ns op by op (float64). So the body only writes the loss
    (``dynamic_update_index_in_dim``: no out-of-range select, the index is
    below ``cfg.buffer``), and the condition reads it back to test it, rather
    than the body carrying an ``ok`` flag computed from a second copy of the
    loss (float64 body 1,035 -> 961 bytes; it was 995 before the learning rate
    became an input, 4 fusions x 8 bytes more). ``tests/test_engine.py`` checks
    the worked example's loop stays one kernel.
    """
    optimizer = _hyper.build(cfg.optimizer, hyper)
    dtype = carry[0].params["W1"].dtype
    losses = jnp.full((cfg.buffer,), jnp.nan, dtype)

    def cond(loop: tuple) -> jax.Array:
        i, _, losses = loop
        return (i < n_blocks) & _last_ok(losses, i, limit)

    def body(loop: tuple) -> tuple:
        i, carry, losses = loop
        carry, value = steps_recording_first(
            lambda s, with_value: _step(cfg, optimizer, key, data, s, with_value), carry, cfg.record_every
        )
        value = value.astype(losses.dtype)  # a loss_fn may return another float dtype (no-op when the same)
        return i + 1, carry, jax.lax.dynamic_update_index_in_dim(losses, value, i, 0)

    i, carry, losses = jax.lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), carry, losses))
    state, cursor = carry
    final = cfg.value_and_grads(state.params, *_last_batch(cfg, data, cursor), True)[0]  # its gradient: dead code
    assert final is not None  # asked for (with_value=True)
    return carry, losses, i, _last_ok(losses, i, limit) & kernels.all_finite(state.params), final

"""The compiled part of :func:`jaxnet.sweep`: its two kernels, the divergence rule, blocks of nets.

Both kernels are the delta recursion of :mod:`jaxnet._kernels`
(:func:`~jaxnet._kernels.value_and_grads_in`) followed by the SGD update
``theta - lr dL/dtheta``; they differ in the layout of the K nets' arrays:

- ``"broadcast"``: the net axis last (``W_l: (out, in, K)``, activations
  ``(N, width, K)``), every parameter of every net in one ``(P, K)`` buffer,
  and the per-layer primitives written as broadcast multiplies and sums
  (:data:`BROADCAST`), which XLA fuses into a few loops over K;
- ``"dense"``: ``jax.vmap`` over nets of the ordinary per-net step
  (:func:`jaxnet._kernels.value_and_grads`), matmuls.

The nets train a block at a time (all steps for one block, then the next):
:func:`block_size` sizes the blocks, :func:`choose_kernel` picks the kernel
(see :mod:`jaxnet.sweeps`).

>>> choose_kernel("auto", (2, 3, 1), 1), choose_kernel("auto", (2, 16, 16, 1), 800)
('broadcast', 'dense')
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, reduce
from itertools import pairwise
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import _kernels as kernels
from jaxnet._engine import steps_recording_first
from jaxnet.errors import acceptable, divergence_limit
from jaxnet.network import multiply_adds
from jaxnet.spec import Params

ADD_CHAIN_MAX = 32  # a sum over an axis at most this long is written as a chain of adds (fuses; see _sum)
BROADCAST_MAX_WORK = 256  # N * sum(in * out) per net-step at most for the broadcast kernel
CPU_BROADCAST_BLOCK = 256  # nets trained together, all steps, before the next block (cache-sized)
CPU_DENSE_BLOCK_BYTES = 2**18  # working set of a dense block on a CPU (about a core's L2 cache)
_ACCELERATOR_FRACTION = 4  # on a GPU/TPU a block's working set may use 1/4 of the device's memory
_ACCELERATOR_DEFAULT_BYTES = 2**32  # when the device does not report its memory

Shapes = tuple[tuple[str, tuple[int, ...]], ...]


# --- the broadcast layout: net axis last ------------------------------------------------------------------


def _sum(a: jax.Array, axis: int) -> jax.Array:
    """``jnp.sum(a, axis)``; over an axis of at most ``ADD_CHAIN_MAX``, a chain of adds.

    A chain of element-wise adds fuses with its producers into one loop over
    the K nets, where a ``reduce`` over a 2- or 3-long axis becomes its own
    kernel (on XLA:CPU, float32 ones are handed to a library call per step).
    """
    n = a.shape[axis]
    if n > ADD_CHAIN_MAX:
        return jnp.sum(a, axis=axis)
    parts = [jax.lax.index_in_dim(a, i, axis, keepdims=False) for i in range(n)]
    return reduce(jnp.add, parts)


def _over_units(fn: Callable[..., jax.Array], *arrays: jax.Array) -> jax.Array:
    """A table function (which works on the last axis) applied to ``(N, units, K)`` arrays."""
    out = fn(*(jnp.moveaxis(a, 1, -1) for a in arrays))
    return jnp.moveaxis(out, -1, 1) if out.ndim == 3 else out


BROADCAST = kernels.Layout(
    dense=lambda w, b, a: _sum(w[None] * a[:, None, :, :], axis=2) + b[None],  # z[n,o,k] = sum_i W[o,i,k] a[n,i,k] + b
    back=lambda w, delta: _sum(w[None] * delta[:, :, None, :], axis=1),  # (W^T delta)[n,i,k]
    outer=lambda delta, a: _sum(delta[:, :, None, :] * a[:, None, :, :], axis=0),  # sum_n delta[n,o,k] a[n,i,k]
    total=lambda v: _sum(v, axis=0),
    units=_over_units,
)
"""K nets with the net axis last: ``W_l: (out, in, K)``, ``b_l: (out, K)``, activations ``(N, width, K)``."""


def _pack(soa: Params, shapes: Shapes) -> jax.Array:
    """Every parameter of every net in one ``(P, K)`` array, in ``shapes``' order: one buffer to update."""
    return jnp.concatenate([soa[name].reshape(-1, soa[name].shape[-1]) for name, _ in shapes])


def _unpack(theta: jax.Array, shapes: Shapes) -> Params:
    soa, start = {}, 0
    for name, shape in shapes:
        size = int(np.prod(shape))
        soa[name] = theta[start : start + size].reshape(shape + theta.shape[-1:])
        start += size
    return soa


# --- both kernels behind one interface -------------------------------------------------------------------


class Kernel(NamedTuple):
    """``step(theta, lr, with_loss) -> (theta, loss (K,) or None)``, ``loss(theta) -> (K,)``, the net axis."""

    step: Callable[[Any, jax.Array, bool], tuple[Any, Any]]
    loss: Callable[[Any], jax.Array]
    net_axis: int


def _sgd(p: Params, lr: jax.Array, g: Params) -> Params:
    """``p - lr g``: ``lr`` a scalar (one net) or the ``(K,)`` rates of the broadcast layout's trailing net axis."""

    def rate(v: jax.Array) -> jax.Array:
        return lr if lr.ndim == 0 else lr.reshape((1,) * (v.ndim - 1) + lr.shape)

    return {k: p[k] - rate(p[k]) * g[k] for k in p}


def make_kernel(name: str, x: jax.Array, y: jax.Array, shapes: Shapes, activation: str, head: str) -> Kernel:
    """The kernel ``name`` for this data; its state ``theta`` is ``(P, K)`` (broadcast) or a ``(K, ...)`` dict (dense)."""
    if name == "broadcast":

        def args(theta: jax.Array) -> tuple[Params, jax.Array, jax.Array]:  # x, y with a net axis of 1, broadcast
            return _unpack(theta, shapes), x[:, :, None], y[:, :, None]

        def step(theta: jax.Array, lr: jax.Array, with_loss: bool) -> tuple[jax.Array, jax.Array | None]:
            soa, xk, yk = args(theta)
            value, g = kernels.value_and_grads_in(BROADCAST, soa, xk, yk, None, activation, head, with_loss)
            return _pack(_sgd(soa, lr, g), shapes), value

        def loss(theta: jax.Array) -> jax.Array:
            return kernels.loss_in(BROADCAST, *args(theta), None, activation, head)

        return Kernel(step, loss, -1)

    def one_step(p: Params, rate: jax.Array, with_loss: bool) -> tuple[Params, jax.Array | None]:
        value, g = kernels.value_and_grads(p, x, y, None, activation, head, with_value=with_loss)
        return _sgd(p, rate, g), value  # exactly fit's step: p - lr g with the hand-derived g

    def one_loss(p: Params) -> jax.Array:
        return kernels.loss(p, x, y, None, activation, head)

    return Kernel(
        lambda theta, lr, with_loss: jax.vmap(partial(one_step, with_loss=with_loss))(theta, lr), jax.vmap(one_loss), 0
    )


def _finite_nets(theta: Any, net_axis: int) -> jax.Array:
    """``(K,)``: every parameter of net k is finite."""
    flags = [
        jnp.all(jnp.isfinite(v), axis=tuple(a for a in range(v.ndim) if a != net_axis % v.ndim))
        for v in jax.tree.leaves(theta)
    ]
    return reduce(jnp.logical_and, flags)


def _select(ok: jax.Array, new: Any, old: Any, net_axis: int) -> Any:
    """Per net: ``new`` where ``ok``, else ``old``."""

    def pick(a, b):
        shape = [1] * a.ndim
        shape[net_axis] = -1
        return jnp.where(ok.reshape(shape), a, b)

    return jax.tree.map(pick, new, old)


def _train_nets(
    kern: Kernel, theta: Any, lr: jax.Array, n_records: int, record_every: int
) -> tuple[Any, jax.Array, jax.Array]:
    """All steps for one block of nets, with the divergence rule; returns ``(kept, losses (R, B), diverged (B,))``.

    Before every ``record_every``-th step (and after the last) a net passes
    when its loss and parameters are finite and its loss is at most
    ``DIVERGENCE_FACTOR * max(initial loss, 1)``; ``kept`` holds the last
    parameters that passed. A net that fails once is diverged for good, and
    its recorded losses are NaN from that record on.
    """
    bound = divergence_limit(kern.loss(theta))

    def check(theta, loss, kept, alive):
        ok = alive & acceptable(loss, bound) & _finite_nets(theta, kern.net_axis)
        return _select(ok, theta, kept, kern.net_axis), ok

    def record(carry, _):
        theta, kept, alive = carry
        new, loss = steps_recording_first(lambda t, with_loss: kern.step(t, lr, with_loss), theta, record_every)
        kept, alive = check(theta, loss, kept, alive)
        return (new, kept, alive), jnp.where(alive, loss, jnp.nan)

    alive = jnp.ones(lr.shape, bool)
    (theta, kept, alive), losses = jax.lax.scan(record, (theta, theta, alive), length=n_records)
    kept, alive = check(theta, kern.loss(theta), kept, alive)
    return kept, losses, ~alive


class Plan(NamedTuple):
    """The static description of one compiled sweep."""

    kernel: str
    shapes: Shapes
    n_records: int
    record_every: int
    block: int
    activation: str
    head: str


def _split(v: jax.Array, block: int, net_axis: int) -> jax.Array:
    """Net axis of length ``K = nb * block`` -> a leading block axis ``nb`` and a net axis of length ``block``."""
    if net_axis == 0:
        return v.reshape((v.shape[0] // block, block) + v.shape[1:])
    return jnp.moveaxis(v.reshape(v.shape[:-1] + (v.shape[-1] // block, block)), -2, 0)


def _join(v: jax.Array, net_axis: int) -> jax.Array:
    if net_axis == 0:
        return v.reshape((-1,) + v.shape[2:])
    return jnp.moveaxis(v, 0, -2).reshape(v.shape[1:-1] + (-1,))


def _train_blocks(theta: Any, lr: jax.Array, kern: Kernel, plan: Plan) -> tuple[Any, jax.Array, jax.Array]:
    """Train the nets ``plan.block`` at a time (all steps for one block, then the next); K a multiple of the block."""
    ax = kern.net_axis
    kept, losses, diverged = jax.lax.map(
        lambda args: _train_nets(kern, args[0], args[1], plan.n_records, plan.record_every),
        (jax.tree.map(lambda v: _split(v, plan.block, ax), theta), _split(lr, plan.block, -1)),
    )
    return jax.tree.map(lambda v: _join(v, ax), kept), _join(losses, -1), _join(diverged, -1)


@partial(jax.jit, static_argnames=("k", "plan"))
def run(
    stacked: Params, x: jax.Array, y: jax.Array, lr: jax.Array, k: int, plan: Plan
) -> tuple[Params, jax.Array, jax.Array]:
    """The whole sweep as one program: ``(params (K, ...), losses (K, R), diverged (K,))``.

    ``stacked`` and ``lr`` have a leading axis of 1 or ``k``. K is padded to a
    multiple of the block with copies of the last net, dropped at the end.
    """
    padded = k + (-k % plan.block)

    def grow(v: jax.Array) -> jax.Array:  # K nets from 1 or K, then copies of the last up to the padded count
        return jnp.concatenate(
            [jnp.broadcast_to(v, (k,) + v.shape[1:]), jnp.broadcast_to(v[-1:], (padded - k,) + v.shape[1:])]
        )

    stacked = {n: grow(v.astype(x.dtype)) for n, v in stacked.items()}
    lr = grow(lr)
    kern = make_kernel(plan.kernel, x, y, plan.shapes, plan.activation, plan.head)
    if plan.kernel == "broadcast":
        theta = _pack({n: jnp.moveaxis(v, 0, -1) for n, v in stacked.items()}, plan.shapes)
        theta, losses, diverged = _train_blocks(theta, lr, kern, plan)
        out = {n: jnp.moveaxis(v, -1, 0) for n, v in _unpack(theta, plan.shapes).items()}
    else:
        out, losses, diverged = _train_blocks(stacked, lr, kern, plan)
    return {n: v[:k] for n, v in out.items()}, losses[:, :k].T, diverged[:k]


# --- sizes, blocks, buffers ----------------------------------------------------------------------------


def net_step_work(sizes: tuple[int, ...], n: int) -> int:
    """``N * sum_l in_l * out_l``: multiply-adds of one net's forward pass, the kernel-choice measure."""
    return multiply_adds(sizes, n)


def block_size(kernel: str, k: int, n: int, sizes: tuple[int, ...], itemsize: int, device: Any) -> int:
    """Nets per block: cache-sized on a CPU, as many as a quarter of the memory allows on a GPU/TPU."""
    platform = _platform(device)
    if kernel == "broadcast":
        per_net = n * max(a * b for a, b in pairwise(sizes)) * itemsize * 4
    else:
        per_net = n * sum(sizes[1:]) * itemsize * 4  # z, a, delta and a temporary per layer
    if platform == "cpu":
        most = CPU_BROADCAST_BLOCK if kernel == "broadcast" else CPU_DENSE_BLOCK_BYTES // per_net
    else:
        most = _accelerator_bytes(device) // _ACCELERATOR_FRACTION // per_net
    most = max(1, min(k, most))
    blocks = -(-k // most)
    return -(-k // blocks)  # equal blocks, so that padding K to a multiple adds fewer than `blocks` nets


def _platform(device: Any) -> str:
    """The platform the sweep runs on: ``device``'s, else JAX's default device's (``jax.default_device``)."""
    if device is not None:
        return device.platform
    default = jax.config.jax_default_device  # type: ignore[attr-defined]
    if isinstance(default, str):
        return default
    return default.platform if default is not None else jax.default_backend()


def _accelerator_bytes(device: Any) -> int:
    device = device if device is not None else jax.devices()[0]
    try:
        stats = device.memory_stats() or {}
    except Exception:  # noqa: BLE001 -- some backends do not implement memory_stats
        stats = {}
    return int(stats.get("bytes_limit", _ACCELERATOR_DEFAULT_BYTES))


def choose_kernel(kernel: str, sizes: tuple[int, ...], n: int) -> str:
    """``kernel``, or for ``"auto"`` the faster one for this work: ``"broadcast"`` up to ``BROADCAST_MAX_WORK``."""
    if kernel != "auto":
        return kernel
    return "broadcast" if net_step_work(sizes, n) <= BROADCAST_MAX_WORK else "dense"

"""``sweep``: train K networks at once, one compiled program, vectorised over nets.

Typical use: 1000 random initialisations of the worked-example net, or one
net at 100 learning rates. Every net sees the same full batch ``(x, y)`` and
takes plain SGD steps with the hand-derived gradient (:mod:`jaxnet.gradients`).

Layout: inside the loop every array keeps the network index as its *last*
axis (``W_l: (out, in, K)``, activations ``(N, width, K)``), so each
operation is one contiguous multiply-add over K nets — the layout a
vectorised C loop would use. The tiny layers are written as broadcast
multiply-adds, which XLA fuses into a few loops per step, instead of K-batched
``dot``\\ s.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet._validate import Params, prepare
from jaxnet.model import init_mlp
from jaxnet.network import ACTIVATIONS, HEADS
from jaxnet.steps import steps_recording_first

__all__ = ["sweep"]


_UNROLL = 32  # sums over axes this short are written as chains of adds
_BLOCK = 256  # nets trained together, all steps, before the next block (cache-sized)


def _sum(a: jax.Array, axis: int) -> jax.Array:
    """``jnp.sum(a, axis)``; over a short axis, an unrolled chain of adds.

    A chain of element-wise adds fuses with its producers into one loop over
    the K nets, where a ``reduce`` over a 2- or 3-long axis becomes its own
    kernel (on XLA:CPU, float32 ones are handed to a library call per step).
    """
    n = a.shape[axis]
    if n > _UNROLL:
        return jnp.sum(a, axis=axis)
    parts = [jax.lax.index_in_dim(a, i, axis, keepdims=False) for i in range(n)]
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _forward(soa: Params, x: jax.Array, activation: str) -> list[jax.Array]:
    """Pre-activations ``z_l`` of every net: ``z_l[n, o, k] = sum_i W_l[o, i, k] a[n, i, k] + b_l[o, k]``."""
    f = ACTIVATIONS[activation].fn
    L = len(soa) // 2
    a, zs = x[:, :, None], []
    for l in range(1, L + 1):
        z = _sum(soa[f"W{l}"][None] * a[:, None, :, :], axis=2) + soa[f"b{l}"][None]
        zs.append(z)
        a = f(z)
    return zs


def _over_units(fn, *arrays: jax.Array) -> jax.Array:
    """Apply a head function of the table (which works on the last axis) to ``(N, out, K)`` arrays."""
    out = fn(*(jnp.moveaxis(a, 1, -1) for a in arrays))
    return jnp.moveaxis(out, -1, 1) if out.ndim == 3 else out


def _sgd_step(soa: Params, x: jax.Array, y: jax.Array, lr: jax.Array, with_loss: bool, activation: str, head: str):
    """One SGD step for every net (the delta recursion of :func:`jaxnet.manual_grads`)."""
    act, out = ACTIVATIONS[activation], HEADS[head]
    L = len(soa) // 2
    zs = _forward(soa, x, activation)
    r = 1.0 / (y.shape[0] * (y.shape[1] if out.per_unit else 1))  # each example's share of the mean
    delta = r * (_over_units(out.output, zs[-1]) - y[:, :, None])  # dL/dz_L = r (g(z_L) - y)
    new: Params = {}
    for l in range(L, 0, -1):
        a_prev = x[:, :, None] if l == 1 else act.fn(zs[l - 2])
        gW = _sum(delta[:, :, None, :] * a_prev[:, None, :, :], axis=0)  # sum_n delta a_{l-1}^T
        gb = _sum(delta, axis=0)
        if l > 1:  # (W_l^T delta_l) * f'(z_{l-1})
            delta = _sum(soa[f"W{l}"][None] * delta[:, :, None, :], axis=1) * act.grad(zs[l - 2])
        new[f"W{l}"] = soa[f"W{l}"] - lr[None, None, :] * gW
        new[f"b{l}"] = soa[f"b{l}"] - lr[None, :] * gb
    if not with_loss:
        return new, None
    return new, jnp.sum(_over_units(out.loss, zs[-1], jnp.broadcast_to(y[:, :, None], zs[-1].shape)), axis=0) * r


Shapes = tuple[tuple[str, tuple[int, ...]], ...]


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


def _train_block(theta, x, y, lr, shapes: Shapes, n_records: int, record_every: int, activation: str, head: str):
    """Every step for one block of nets; returns ``(theta, losses (n_records, nets))``."""

    def step(theta, with_loss):
        soa, loss = _sgd_step(_unpack(theta, shapes), x, y, lr, with_loss, activation, head)
        return _pack(soa, shapes), loss

    return jax.lax.scan(lambda theta, _: steps_recording_first(step, theta, record_every), theta, length=n_records)


@partial(jax.jit, static_argnames=("shapes", "n_records", "record_every", "block", "activation", "head"),
         donate_argnames="theta")
def _run(theta, x, y, lr, shapes: Shapes, n_records: int, record_every: int, block: int, activation: str, head: str):
    """Train the K nets ``block`` at a time (all steps for one block, then the next).

    The parameters live in one ``(P, K)`` buffer (one update kernel per step,
    no per-array copies), and a block's slice of it stays in cache for all its
    steps, as in a blocked C loop. ``K`` must be a multiple of ``block``.
    """
    k = lr.shape[0]
    split = lambda v: jnp.moveaxis(v.reshape(v.shape[:-1] + (k // block, block)), -2, 0)  # noqa: E731
    join = lambda v: jnp.moveaxis(v, 0, -2).reshape(v.shape[1:-1] + (k,))  # noqa: E731
    thetas, losses = jax.lax.map(
        lambda args: _train_block(args[0], x, y, args[1], shapes, n_records, record_every, activation, head),
        (split(theta), split(lr)),
    )
    return join(thetas), join(losses)


def _to_soa(params: Params) -> Params:
    """Leading net axis ``(K, ...)`` -> trailing net axis ``(..., K)``."""
    return {k: jnp.moveaxis(v, 0, -1) for k, v in params.items()}


def _from_soa(soa: Params) -> Params:
    return {k: jnp.moveaxis(v, -1, 0) for k, v in soa.items()}


def _count(name: str, n: int, k: int) -> int:
    if n != 1 and k != 1 and n != k:
        raise ValueError(f"{name}: expected 1 or K={k} entries to match the other arguments, got {n}")
    return max(n, k)


def sweep(
    x: Any,
    y: Any,
    *,
    steps: int,
    sizes: tuple[int, ...] | None = None,
    params: Params | None = None,
    keys: jax.Array | None = None,
    learning_rates: Any = 0.1,
    init: str = "he",
    record_every: int = 1,
    dtype: Any = None,
    activation: str = "relu",
    head: str = "sigmoid",
) -> tuple[Params, jax.Array]:
    """Train K networks at once with full-batch SGD; one compiled program.

    Give the starting parameters one of two ways:

    - ``keys`` (K ``jax.random`` keys) with ``sizes`` (and ``init``,
      ``dtype``): net k starts from ``init_mlp(keys[k], sizes)``;
    - ``params``: one network (broadcast to every net) or a stack whose
      arrays have a leading axis of K.

    ``learning_rates`` is a scalar or K values; K is the common length of
    ``keys``/``params``/``learning_rates`` (each 1 or K). Every net takes
    ``steps`` steps ``theta <- theta - lr_k dL/dtheta`` on the same ``(x, y)``,
    exactly the steps of ``fit(params_k, x, y, optimizer=optax.sgd(lr_k))``.

    **Returns:** ``(params, losses)``: ``params`` with a leading K axis on
    every array, ``losses`` of shape ``(K, steps // record_every)``, the loss
    of each net before every ``record_every``-th step.

    >>> import jax, jax.numpy as jnp, jaxnet
    >>> p, x, y = jaxnet.seed_example()
    >>> ps, losses = jaxnet.sweep(x, y, params=p, learning_rates=jnp.array([0.1, 0.5]), steps=10)
    >>> ps["W1"].shape, losses.shape
    ((2, 3, 2), (2, 10))
    """
    if (keys is None) == (params is None):
        raise ValueError("sweep: give exactly one of keys= (with sizes=) or params=")
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps: expected a positive integer, got {steps!r}")
    if not isinstance(record_every, (int, np.integer)) or record_every < 1 or steps % record_every:
        raise ValueError(f"record_every: expected a positive divisor of steps={steps}, got {record_every!r}")
    if keys is not None:
        if sizes is None:
            raise ValueError("sizes: required with keys= (the layer widths of every net), got None")
        keys = jnp.asarray(keys)
        stacked = jax.vmap(lambda k: init_mlp(k, sizes, dtype=dtype, init=init))(keys)
    else:
        if not isinstance(params, dict):
            raise TypeError(f"params: expected a dict {{'W1', 'b1', ..., 'WL', 'bL'}}, got {type(params).__name__}")
        single = getattr(params.get("W1"), "ndim", 2) == 2
        stacked = {n: jnp.asarray(v)[None] for n, v in params.items()} if single else params
    k = int(stacked["W1"].shape[0])
    one = {n: v[0] for n, v in stacked.items()}
    one, x, y, _ = prepare(one, x, y, activation=activation, head=head)
    x = x.reshape((-1, x.shape[-1]))  # one example is a batch of one
    y = y.reshape((x.shape[0], -1))  # (N, n_out)
    lr = jnp.asarray(learning_rates, dtype=x.dtype).reshape(-1)
    k = _count("learning_rates", lr.shape[0], k)
    if any(v.shape[0] != 1 and v.shape[0] != k for v in stacked.values()):
        raise ValueError(f"params: expected a leading axis of 1 or K={k} on every array")
    stacked = {name: jnp.broadcast_to(v, (k,) + v.shape[1:]).astype(x.dtype) for name, v in stacked.items()}
    lr = jnp.broadcast_to(lr, (k,))
    block = min(k, _BLOCK)
    padded = -k % block  # pad K to a multiple of the block with copies of the last net, dropped after
    if padded:
        stacked = {n: jnp.concatenate([v, jnp.repeat(v[-1:], padded, axis=0)]) for n, v in stacked.items()}
        lr = jnp.concatenate([lr, jnp.repeat(lr[-1:], padded)])
    soa = _to_soa(stacked)
    shapes = tuple((n, tuple(v.shape[:-1])) for n, v in soa.items())
    theta, losses = _run(
        _pack(soa, shapes), x, y, lr, shapes=shapes, n_records=steps // record_every, record_every=int(record_every), block=block,
        activation=activation, head=head,
    )
    return {n: v[:k] for n, v in _from_soa(_unpack(theta, shapes)).items()}, losses.T[:k]

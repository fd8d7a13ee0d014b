"""The unchecked kernels: pure, jittable, no Python checks (one naming rule).

Every function here has the name of the public function it implements and
does exactly its math with no validation: ``_kernels.loss`` is
:func:`jaxnet.loss` without the boundary checks. The public modules check
their arguments (:mod:`jaxnet._validate`) and then call these, jitted. Inside
your own ``jax.jit`` code you may call them directly. ``activation`` and
``head`` are names from :mod:`jaxnet.network` (static under ``jit``); ``y``
always has the output's shape ``(..., n_out)``, one-hot for the softmax head.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from jaxnet.network import ACTIVATIONS, HEADS

Params = dict[str, jax.Array]

__all__ = [
    "bits",
    "dense",
    "forward_trace",
    "logits",
    "shares",
    "loss",
    "value_and_grads",
    "manual_grads",
    "numerical_grads",
]


def matmul(a: jax.Array, b: jax.Array, compute_dtype: Any = None) -> jax.Array:
    """``a @ b``; with a ``compute_dtype`` (bfloat16) the inputs are rounded to it and the
    products accumulated in ``a``'s dtype (mixed precision, float32 master parameters)."""
    if compute_dtype is None:
        return a @ b
    return jnp.matmul(a.astype(compute_dtype), b.astype(compute_dtype), preferred_element_type=a.dtype)


def dense(w: jax.Array, b: jax.Array, a: jax.Array, compute_dtype: Any = None) -> jax.Array:
    """One layer's pre-activation ``z = W a + b`` for ``a`` of shape ``(in,)`` or ``(N, in)``."""
    return matmul(a, w.T, compute_dtype) + b.reshape((1,) * (a.ndim - 1) + b.shape)


def forward_trace(
    params: Params, x: jax.Array, activation: str = "relu", head: str = "sigmoid", compute_dtype: Any = None
) -> dict[str, jax.Array]:
    """``z1, a1, ..., zL, y_hat``: ``z_l = W_l a_{l-1} + b_l``, ``a_l = f(z_l)``, ``y_hat = g(z_L)``."""
    f = ACTIVATIONS[activation].fn
    L = len(params) // 2
    out: dict[str, jax.Array] = {}
    a = x
    for l in range(1, L + 1):
        z = out[f"z{l}"] = dense(params[f"W{l}"], params[f"b{l}"], a, compute_dtype)
        if l < L:
            a = out[f"a{l}"] = f(z)
    out["y_hat"] = HEADS[head].output(out[f"z{L}"])
    return out


def logits(params: Params, x: jax.Array, activation: str = "relu", compute_dtype: Any = None) -> jax.Array:
    """The output pre-activation ``z_L`` (the output function is not applied)."""
    f = ACTIVATIONS[activation].fn
    L = len(params) // 2
    a = x
    for l in range(1, L):
        a = f(dense(params[f"W{l}"], params[f"b{l}"], a, compute_dtype))
    return dense(params[f"W{L}"], params[f"b{L}"], a, compute_dtype)


def shares(z: jax.Array, sample_weight: jax.Array | None, head: str = "sigmoid") -> jax.Array:
    """Each example's share of the mean, ``r_n = w_n / (m sum_n w_n)``, shape ``z.shape[:-1] + (1,)``.

    ``m = n_out`` for per-unit heads, 1 for softmax. Unweighted ``r = 1 / (N m)``.
    Weights are scaled by the power of two of their largest first, so neither
    ``[3e38, 3e38]`` nor ``[1e-45, 1e-45]`` (float32) overflows or underflows:
    equal weights always give the unweighted mean. All-zero weights (only
    possible inside a minibatch; the public functions refuse them) give zero
    shares, not NaN.
    """
    m = z.shape[-1] if HEADS[head].per_unit else 1
    if sample_weight is None:
        n = 1 if z.ndim == 1 else z.shape[0]
        return jnp.full(z.shape[:-1] + (1,), 1.0 / (n * m), z.dtype)
    w = jnp.reshape(sample_weight, z.shape[:-1] + (1,))
    w = _scaled(w)  # w / 2^k with the largest weight in [1, 2): exact, never overflows or underflows
    total = jnp.sum(w)
    return jnp.where(
        total == 0, jnp.zeros_like(w), w / (total * m)
    )  # all-zero weights (a minibatch): no share; NaN stays NaN


def bits(a: jax.Array) -> jax.Array:
    """The bit pattern of a float array as signed integers of the same width (sign bit = negative)."""
    return jax.lax.bitcast_convert_type(a, {2: jnp.int16, 4: jnp.int32, 8: jnp.int64}[a.dtype.itemsize])


def _scaled(w: jax.Array) -> jax.Array:
    """``w / 2^k``, ``k`` the exponent of the largest ``|w_n|``, computed from the bits.

    Not ``w / max(w)``: XLA turns that into ``w * (1 / max(w))``, and on CPUs it
    flushes subnormals to zero, so ``1 / 3e38`` and ``1e-45`` (float32) both
    read as 0 (NaN shares). ``jnp.frexp`` is no way out either: it multiplies
    subnormals by ``2^nmant`` first. Here ``|w| = m 2^(e - bias - nmant)`` with
    the integer significand ``m`` and biased exponent ``e`` read as integers,
    so subnormal weights keep their exact ratios. NaN/inf stay NaN/inf.
    """
    info = jnp.finfo(w.dtype)
    b = bits(w)
    magnitude = b & jnp.iinfo(b.dtype).max  # sign bit cleared
    e = magnitude >> info.nmant  # biased exponent; 0 for zero and subnormals
    frac = magnitude & ((1 << info.nmant) - 1)
    m = jnp.where(e > 0, frac | (1 << info.nmant), frac).astype(w.dtype)  # exact: nmant + 1 bits
    e = jnp.maximum(e, 1)
    top = jnp.max(jnp.where(magnitude > 0, e, 1))
    out = jnp.ldexp(m, (e - top - info.nmant).astype(jnp.int32))
    out = jnp.where(b < 0, -out, out)
    return jnp.where(jnp.isfinite(w), out, w)


def loss(
    params: Params,
    x: jax.Array,
    y: jax.Array,
    sample_weight: jax.Array | None = None,
    activation: str = "relu",
    head: str = "sigmoid",
    compute_dtype: Any = None,
) -> jax.Array:
    """``L = sum_n r_n l(z_n, y_n)``, the head's loss from the logits (see :mod:`jaxnet.network`)."""
    z = logits(params, x, activation, compute_dtype)
    y = jnp.reshape(y, z.shape)
    r = shares(z, sample_weight, head)
    return jnp.sum(r[..., 0] * HEADS[head].loss(z, y))


def value_and_grads(
    params: Params,
    x: jax.Array,
    y: jax.Array,
    sample_weight: jax.Array | None = None,
    activation: str = "relu",
    head: str = "sigmoid",
    compute_dtype: Any = None,
    *,
    with_value: bool = True,
) -> tuple[jax.Array | None, Params]:
    """The hand-derived backward pass (the delta recursion); returns ``(loss or None, grads)``.

    One line per equation; loop-free over examples, unrolled over layers.
    """
    act, out = ACTIVATIONS[activation], HEADS[head]
    L = len(params) // 2
    if x.ndim == 1:  # one example is a batch of one
        x = x[None]
        sample_weight = None if sample_weight is None else jnp.reshape(sample_weight, (1,))
    t = forward_trace(params, x, activation, head, compute_dtype)
    y = jnp.reshape(y, t["y_hat"].shape)
    a = [x] + [t[f"a{l}"] for l in range(1, L)]  # a[l] = a_l, a_0 = x
    r = shares(t[f"z{L}"], sample_weight, head)  # each example's share of the mean
    delta = r * (t["y_hat"] - y)  # dL/dz_L = r (g(z_L) - y), every head
    g: Params = {}
    for l in range(L, 0, -1):  # over layers (unrolled when traced), never over examples
        g[f"W{l}"] = matmul(delta.T, a[l - 1], compute_dtype)  # dL/dW_l = sum_n delta_l a_{l-1}^T
        g[f"b{l}"] = jnp.sum(delta, axis=0)  # dL/db_l = sum_n delta_l
        if l > 1:  # dL/dz_{l-1} = (W_l^T delta_l) * f'(z_{l-1})
            delta = matmul(delta, params[f"W{l}"], compute_dtype) * act.grad(t[f"z{l - 1}"])
    value = jnp.sum(r[:, 0] * out.loss(t[f"z{L}"], y)) if with_value else None
    return value, {k: g[k] for k in params}


def manual_grads(
    params: Params,
    x: jax.Array,
    y: jax.Array,
    sample_weight: jax.Array | None = None,
    activation: str = "relu",
    head: str = "sigmoid",
) -> Params:
    """The hand-derived gradient alone."""
    return value_and_grads(params, x, y, sample_weight, activation, head, with_value=False)[1]


def numerical_grads(
    params: Params,
    x: jax.Array,
    y: jax.Array,
    sample_weight: jax.Array | None,
    eps: Any,
    activation: str = "relu",
    head: str = "sigmoid",
) -> Params:
    """Central differences ``(L(theta + eps e_i) - L(theta - eps e_i)) / (2 eps)`` for every ``i``."""
    theta, unravel = ravel_pytree(params)
    steps = eps * jnp.eye(theta.size, dtype=theta.dtype)

    def loss_at(t: jax.Array) -> jax.Array:
        return loss(unravel(t), x, y, sample_weight, activation, head)

    diffs = jax.vmap(lambda e: loss_at(theta + e) - loss_at(theta - e))(steps)
    return unravel(diffs / (2 * eps))


def all_finite(tree: Any) -> jax.Array:
    """One bool: every entry of every array in ``tree`` is finite."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in jax.tree.leaves(tree)]))

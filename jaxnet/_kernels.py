"""The unchecked kernels: pure, jittable, no Python checks (one naming rule).

Every function here has the name of the public function it implements and
does exactly its math with no validation: ``_kernels.loss`` is
:func:`jaxnet.loss` without the boundary checks. The public modules check
their arguments (:mod:`jaxnet._validate`) and then call these, jitted. Inside
your own ``jax.jit`` code you may call them directly. ``activation`` and
``head`` are names from :mod:`jaxnet.network` (static under ``jit``); ``y``
always has the output's shape ``(..., n_out)``, one-hot for the softmax head.

The network's math is written once, as two recursions over layers: the
forward pass (:func:`forward`) and the delta recursion of the backward pass
(:func:`backward`), with the per-layer primitives (the dense layer, the sum
over examples, the outer product, ``W^T delta``) as a parameter, a
:class:`Layout`. The ordinary per-net path passes :func:`per_net`'s matmul
primitives; :mod:`jaxnet.sweeps`' broadcast kernel, which keeps many nets'
arrays with the net axis last, passes its broadcast ones.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from jaxnet.network import ACTIVATIONS, HEADS, depth
from jaxnet.spec import Params

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


# --- the two recursions, over a layout's per-layer primitives ------------------------------------------------


class Layout(NamedTuple):
    """The per-layer primitives of one array layout; :func:`forward` and :func:`backward` use only these.

    - ``dense(W, b, a)``: ``z = W a + b`` for every example;
    - ``back(W, delta)``: ``W^T delta``;
    - ``outer(delta, a)``: ``sum_n delta_n a_n^T`` (the weight gradient);
    - ``total(v)``: ``sum_n v_n`` over the example axis (the first);
    - ``units(fn, *arrays)``: a table function of :mod:`jaxnet.network` (which works on the last axis, the
      units) applied to arrays of this layout.
    """

    dense: Callable[[jax.Array, jax.Array, jax.Array], jax.Array]
    back: Callable[[jax.Array, jax.Array], jax.Array]
    outer: Callable[[jax.Array, jax.Array], jax.Array]
    total: Callable[[jax.Array], jax.Array]
    units: Callable[..., jax.Array]


def _apply(fn: Callable[..., jax.Array], *arrays: jax.Array) -> jax.Array:
    return fn(*arrays)


def per_net(compute_dtype: Any = None) -> Layout:
    """One net's layout: ``W_l: (out, in)``, activations ``(N, width)``; matmuls (in ``compute_dtype`` if given).

    >>> import jax.numpy as jnp
    >>> per_net().outer(jnp.ones((4, 1)), jnp.ones((4, 2))).tolist()  # sum over 4 examples of delta a^T
    [[4.0, 4.0]]
    """
    return Layout(
        dense=partial(dense, compute_dtype=compute_dtype),
        back=lambda w, delta: matmul(delta, w, compute_dtype),
        outer=lambda delta, a: matmul(delta.T, a, compute_dtype),
        total=lambda v: jnp.sum(v, axis=0),
        units=_apply,
    )


def forward(
    params: Params, x: jax.Array, activation: str = "relu", layout: Layout | None = None
) -> tuple[list[jax.Array], list[jax.Array]]:
    """The forward recursion: ``a_0 = x``, ``z_l = W_l a_{l-1} + b_l``, ``a_l = f(z_l)`` for ``l < L``.

    Returns ``([z_1, ..., z_L], [a_0, ..., a_{L-1}])``; ``layout`` gives the
    dense layer (default: :func:`per_net`). Under ``jit`` whatever the caller
    does not use is never computed.

    >>> import jaxnet
    >>> p, x, y = jaxnet.seed_example()
    >>> zs, acts = forward(p, x)
    >>> len(zs), len(acts), zs[-1].shape
    (2, 2, (1,))
    """
    f = ACTIVATIONS[activation].fn
    layer = (layout or per_net()).dense
    L = depth(params)
    zs, acts = [], [x]
    for l in range(1, L + 1):
        zs.append(layer(params[f"W{l}"], params[f"b{l}"], acts[-1]))
        if l < L:
            acts.append(f(zs[-1]))
    return zs, acts


def backward(
    params: Params, zs: list[jax.Array], acts: list[jax.Array], delta: jax.Array, activation: str, layout: Layout
) -> Params:
    """The delta recursion, from the output delta ``delta_L = dL/dz_L`` down; returns the gradient.

    One line per equation; loop-free over examples, unrolled over layers:
    ``dL/dW_l = sum_n delta_l a_{l-1}^T``, ``dL/db_l = sum_n delta_l``,
    ``delta_{l-1} = (W_l^T delta_l) * f'(z_{l-1})``. ``zs`` and ``acts`` are
    :func:`forward`'s.
    """
    f_grad = ACTIVATIONS[activation].grad
    g: Params = {}
    for l in range(depth(params), 0, -1):  # over layers (unrolled when traced), never over examples
        g[f"W{l}"] = layout.outer(delta, acts[l - 1])  # dL/dW_l = sum_n delta_l a_{l-1}^T
        g[f"b{l}"] = layout.total(delta)  # dL/db_l = sum_n delta_l
        if l > 1:  # dL/dz_{l-1} = (W_l^T delta_l) * f'(z_{l-1})
            delta = layout.back(params[f"W{l}"], delta) * f_grad(zs[l - 2])
    return {k: g[k] for k in params}


def _targets_and_shares(
    layout: Layout, z: jax.Array, y: jax.Array, sample_weight: jax.Array | None, head: str
) -> tuple[jax.Array, jax.Array]:
    """``y`` in the logits' shape and each example's share ``r`` of the mean (:func:`shares`), in ``layout``."""
    return jnp.broadcast_to(y, z.shape), layout.units(lambda z: shares(z, sample_weight, head), z)


def _mean_loss(layout: Layout, r: jax.Array, z: jax.Array, y: jax.Array, head: str) -> jax.Array:
    """``L = sum_n r_n l(z_n, y_n)``: each term scaled before the sum (a sum of unscaled terms overflows first)."""
    loss_fn = HEADS[head].loss
    terms = layout.units(lambda r, z, y: r[..., 0] * loss_fn(z, y), r, z, y)
    return jnp.sum(terms, axis=0) if terms.ndim else terms  # one example (per net): its term


def value_and_grads_in(
    layout: Layout,
    params: Params,
    x: jax.Array,
    y: jax.Array,
    sample_weight: jax.Array | None,
    activation: str,
    head: str,
    with_value: bool = True,
) -> tuple[jax.Array | None, Params]:
    """:func:`value_and_grads` in any layout: ``x`` a batch, ``y`` broadcastable to the logits' shape."""
    zs, acts = forward(params, x, activation, layout)
    z = zs[-1]
    y, r = _targets_and_shares(layout, z, y, sample_weight, head)  # r: each example's share of the mean
    delta = r * (layout.units(HEADS[head].output, z) - y)  # dL/dz_L = r (g(z_L) - y), every head
    grads = backward(params, zs, acts, delta, activation, layout)
    return (_mean_loss(layout, r, z, y, head) if with_value else None), grads


def loss_in(
    layout: Layout,
    params: Params,
    x: jax.Array,
    y: jax.Array,
    sample_weight: jax.Array | None,
    activation: str,
    head: str,
) -> jax.Array:
    """:func:`loss` in any layout: ``x`` a batch (or one example, per net), ``y`` broadcastable to the logits' shape."""
    z = forward(params, x, activation, layout)[0][-1]
    y, r = _targets_and_shares(layout, z, y, sample_weight, head)
    return _mean_loss(layout, r, z, y, head)


# --- the per-net functions ------------------------------------------------------------------------------------


def forward_trace(
    params: Params, x: jax.Array, activation: str = "relu", head: str = "sigmoid", compute_dtype: Any = None
) -> dict[str, jax.Array]:
    """``z1, a1, ..., zL, y_hat``: ``z_l = W_l a_{l-1} + b_l``, ``a_l = f(z_l)``, ``y_hat = g(z_L)``."""
    zs, acts = forward(params, x, activation, per_net(compute_dtype))
    out = {}
    for l, z in enumerate(zs, start=1):
        out[f"z{l}"] = z
        if l < len(zs):
            out[f"a{l}"] = acts[l]
    out["y_hat"] = HEADS[head].output(zs[-1])
    return out


def logits(params: Params, x: jax.Array, activation: str = "relu", compute_dtype: Any = None) -> jax.Array:
    """The output pre-activation ``z_L`` (the output function is not applied)."""
    return forward(params, x, activation, per_net(compute_dtype))[0][-1]


class Mask(NamedTuple):
    """Sample weights that are 0 or 1 (a padded minibatch's real rows): :func:`shares` skips their scaling,
    the identity for them, ~80 ms of ``fit``'s compile time (its kernels, in the step and the final loss)."""

    values: jax.Array


def shares(z: jax.Array, sample_weight: jax.Array | Mask | None, head: str = "sigmoid") -> jax.Array:
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
    if isinstance(sample_weight, Mask):  # 0/1: the largest is 1 (or all 0), already scaled
        w = jnp.reshape(sample_weight.values, z.shape[:-1] + (1,))
    else:  # w / 2^k with the largest weight in [1, 2): exact, never overflows or underflows
        w = _scaled(jnp.reshape(sample_weight, z.shape[:-1] + (1,)))
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


def _batch(
    params: Params, x: jax.Array, y: jax.Array, sample_weight: jax.Array | None
) -> tuple[jax.Array, jax.Array, jax.Array | None]:
    """``(x, y, sample_weight)`` as a batch: one example ``(in,)`` is a batch of one; ``y`` as ``(N, n_out)``."""
    if x.ndim == 1:
        x = x[None]
        sample_weight = None if sample_weight is None else jnp.reshape(sample_weight, (1,))
    return x, jnp.reshape(y, (x.shape[0], params[f"W{depth(params)}"].shape[0])), sample_weight


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
    y = jnp.reshape(y, x.shape[:-1] + params[f"W{depth(params)}"].shape[:1])  # the logits' shape
    return loss_in(per_net(compute_dtype), params, x, y, sample_weight, activation, head)


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

    :func:`forward`, then ``delta_L = r (g(z_L) - y)`` and :func:`backward`, in
    the per-net layout (:func:`value_and_grads_in`).
    """
    x, y, sample_weight = _batch(params, x, y, sample_weight)
    layout = per_net(compute_dtype)
    return value_and_grads_in(layout, params, x, y, sample_weight, activation, head, with_value)


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
    """One bool: every entry of every array in ``tree`` is finite.

    One reduction over the concatenated is-finite flags of every floating leaf
    (integer leaves are always finite), written as a two-output reduction: its
    first output is the AND of all flags whatever the order, its second the AND
    of some of them, so ``first & second`` is the AND of all. Why not ``jnp.all``
    per leaf: XLA:CPU compiles each reduction over more than 32 elements as a
    reduce-window then a reduce (its tree-reduction rewrite, two kernels, ~10 ms
    of compile time each) but leaves multi-output reductions alone, so this one
    fuses with the is-finite tests and the concatenation into a single kernel
    (for ``fit``'s network, 4 x 3 kernels before).

    >>> import jax.numpy as jnp
    >>> bool(all_finite({"W": jnp.ones((2, 3)), "n": jnp.int32(7)})), bool(all_finite([jnp.ones(40), jnp.inf]))
    (True, False)
    """
    flags = [
        jnp.ravel(jnp.isfinite(v)) for v in jax.tree.leaves(tree) if jnp.issubdtype(jnp.result_type(v), jnp.inexact)
    ]
    if not flags:
        return jnp.bool_(True)
    ok = jnp.concatenate(flags)
    every, some = jax.lax.reduce((ok, ok), (True, True), lambda a, b: (a[0] & b[0], a[1] & b[0]), (0,))
    return every & some

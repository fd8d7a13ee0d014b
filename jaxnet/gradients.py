"""Three independent ways to the same gradient of :func:`jaxnet.loss`.

1. :func:`grads` — reverse-mode autodiff, ``jax.jit(jax.grad(loss))``.
2. :func:`manual_grads` — the hand-derived backward pass (the delta recursion).
3. :func:`numerical_grads` — central finite differences of the loss alone.

The hand derivation, for ``y_hat = sigmoid(z_L)`` and BCE from logits, with
``r_n = w_n / (n_out sum_n w_n)`` each example's share of the mean
(``1 / N`` for one unweighted output)::

    delta_L = r (y_hat - y)                          dL/dz_L   (sigmoid + BCE)
    dL/dW_l = sum_n delta_l a_{l-1}^T                (outer product per example)
    dL/db_l = sum_n delta_l
    delta_{l-1} = (W_l^T delta_l) * relu'(z_{l-1})   dL/dz_{l-1}, relu'(z) = [z > 0]

For the worked example (one example, ``r = 1``) this is the notebook line by
line: ``dL/dz2 = y_hat - y``, ``dL/dW2 = dL/dz2 a1``, ``dL/da1 = W2^T dL/dz2``,
``dL/dz1 = dL/da1 * relu'(z1)``, ``dL/dW1 = dL/dz1 x^T``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from jaxnet._validate import Params, prepare
from jaxnet.losses import bce_with_logits, example_weights, loss_unchecked
from jaxnet.model import num_layers, trace_forward

__all__ = ["grads", "manual_grads", "numerical_grads"]


def manual_value_and_grads(
    params: Params, x: jax.Array, y: jax.Array, sample_weight: jax.Array | None = None, *, with_value: bool = True
) -> tuple[jax.Array | None, Params]:
    """The delta recursion, unchecked; returns ``(loss or None, grads)``. Jittable.

    ``y`` is reshaped to the output's shape. The loss, when asked for, reuses
    the forward pass (it costs one softplus per output).
    """
    L = num_layers(params)
    if x.ndim == 1:  # one example is a batch of one
        x = x[None]
        sample_weight = None if sample_weight is None else jnp.reshape(sample_weight, (1,))
    t = trace_forward(params, x)
    y = jnp.reshape(y, t["y_hat"].shape)
    a = {0: x} | {l: t[f"a{l}"] for l in range(1, L)}
    r = example_weights(y, sample_weight)  # each example's share of the mean, 1/N
    delta = r * (t["y_hat"] - y)  # dL/dz_L = r (y_hat - y)
    g: Params = {}
    for l in range(L, 0, -1):  # over layers (unrolled when traced), never over examples
        g[f"W{l}"] = delta.T @ a[l - 1]  # dL/dW_l = sum_n delta_l a_{l-1}^T
        g[f"b{l}"] = jnp.sum(delta, axis=0)  # dL/db_l = sum_n delta_l
        if l > 1:  # dL/dz_{l-1} = (W_l^T delta_l) * relu'(z_{l-1})
            delta = jnp.where(t[f"z{l - 1}"] > 0, delta @ params[f"W{l}"], 0)
    value = jnp.sum(r * bce_with_logits(t[f"z{L}"], y)) if with_value else None
    return value, {k: g[k] for k in params}


def manual_grads_unchecked(
    params: Params, x: jax.Array, y: jax.Array, sample_weight: jax.Array | None = None
) -> Params:
    """:func:`manual_grads` without the boundary checks."""
    return manual_value_and_grads(params, x, y, sample_weight, with_value=False)[1]


def numerical_grads_unchecked(
    params: Params, x: jax.Array, y: jax.Array, sample_weight: jax.Array | None, eps: float
) -> Params:
    """Central differences ``(L(theta + eps e_i) - L(theta - eps e_i)) / (2 eps)`` for every i."""
    theta, unravel = ravel_pytree(params)
    steps = eps * jnp.eye(theta.size, dtype=theta.dtype)

    def loss_at(t: jax.Array) -> jax.Array:
        return loss_unchecked(unravel(t), x, y, sample_weight)

    diffs = jax.vmap(lambda e: loss_at(theta + e) - loss_at(theta - e))(steps)
    return unravel(diffs / (2 * eps))


_grads_jit = jax.jit(jax.grad(loss_unchecked))
_manual_jit = jax.jit(manual_grads_unchecked)
_numerical_jit = jax.jit(numerical_grads_unchecked, static_argnames="eps")


def grads(params: Params, x: Any, y: Any, sample_weight: Any = None) -> Params:
    """Gradient of :func:`jaxnet.loss` by autodiff: ``jax.jit(jax.grad(loss))``.

    Same arguments as :func:`jaxnet.loss`; returns a dict shaped like ``params``.

    >>> import jaxnet
    >>> params, x, y = jaxnet.seed_example()
    >>> round(float(jaxnet.grads(params, x, y)["b2"][0]), 6)
    -0.481758
    """
    params, x, y, w = prepare(params, x, y, sample_weight)
    return _grads_jit(params, x, y, w)


def manual_grads(params: Params, x: Any, y: Any, sample_weight: Any = None) -> Params:
    """Gradient of :func:`jaxnet.loss` by the hand-derived backward pass.

    The delta recursion of the module docstring, for any depth; for a batch the
    (weighted) mean over examples, as :func:`jaxnet.loss` defines it. Jittable
    and loop-free over examples. Same arguments and result as :func:`grads`.

    >>> import jaxnet
    >>> params, x, y = jaxnet.seed_example()
    >>> g = jaxnet.manual_grads(params, x, y)
    >>> [round(float(v), 6) for v in g["W2"][0]]
    [-0.0, -0.038541, -0.004818]
    """
    params, x, y, w = prepare(params, x, y, sample_weight)
    return _manual_jit(params, x, y, w)


def numerical_grads(params: Params, x: Any, y: Any, eps: float = 1e-6, *, sample_weight: Any = None) -> Params:
    """Gradient of :func:`jaxnet.loss` by central finite differences.

    ``dL/dtheta_i ~ (L(theta + eps e_i) - L(theta - eps e_i)) / (2 eps)``, all
    ``i`` at once with ``jax.vmap``; it uses the loss only, never a derivative.
    The error is ``O(eps^2)`` truncation plus ``O(machine_eps / eps)``
    rounding: with the default ``eps=1e-6`` use float64 (about 1e-10 accurate);
    in float32 pass ``eps`` near 1e-2 and expect about 1e-4.
    Not valid where a ReLU input is within ``eps`` of its kink at 0.
    ``eps`` is the fourth argument (as in ``numerical_grads(params, x, y,
    eps)``); ``sample_weight`` is keyword-only here.

    >>> import jax, jaxnet
    >>> with jax.enable_x64(True):
    ...     params, x, y = jaxnet.seed_example()
    ...     print(round(float(jaxnet.numerical_grads(params, x, y)["b2"][0]), 6))
    -0.481758
    """
    params, x, y, w = prepare(params, x, y, sample_weight)
    if not eps > 0:
        raise ValueError(f"eps: expected a positive step, got {eps!r}")
    return _numerical_jit(params, x, y, w, eps=float(eps))

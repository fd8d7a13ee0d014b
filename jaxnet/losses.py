"""Binary cross-entropy, computed the stable way (from logits) and the notebook's way.

For one output unit with logit ``z``, probability ``y_hat = sigmoid(z)`` and
label ``y`` in [0, 1]::

    l(z, y) = -(y log y_hat + (1 - y) log(1 - y_hat))
            = softplus(z) - y z            (softplus(z) = log(1 + e^z))

The second form never takes ``log(0)``: it is exact for ``|z|`` up to 1e9 and
beyond, where ``log(sigmoid(z))`` returns ``-inf``. Its derivative is
``dl/dz = sigmoid(z) - y = y_hat - y``, the start of backpropagation.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxnet._validate import Params, prepare
from jaxnet.model import logits

__all__ = ["loss", "bce", "bce_with_logits"]


def bce_with_logits(z: jax.Array, y: jax.Array) -> jax.Array:
    """Element-wise BCE from logits, ``softplus(z) - y z`` (no reduction, no checks)."""
    return jax.nn.softplus(z) - y * z


def example_weights(y: jax.Array, sample_weight: jax.Array | None) -> jax.Array:
    """Each output element's share of the mean: ``r = w_n / (n_out * sum_n w_n)``.

    Unweighted, ``r = 1 / (N * n_out)``; the loss is ``sum(r * l)`` and the
    output delta of backprop is ``r * (y_hat - y)``. Shape ``y.shape[:-1] + (1,)``.
    """
    n_out = y.shape[-1]
    if sample_weight is None:
        return jnp.full(y.shape[:-1] + (1,), 1.0 / (y.size), y.dtype)
    w = sample_weight[..., None]
    return w / (jnp.sum(w) * n_out)


def loss_unchecked(params: Params, x: jax.Array, y: jax.Array, sample_weight: jax.Array | None = None) -> jax.Array:
    """:func:`loss` without the boundary checks (``y`` is reshaped to the output's shape)."""
    z = logits(params, x)
    y = jnp.reshape(y, z.shape)
    if sample_weight is not None:
        sample_weight = jnp.reshape(sample_weight, z.shape[:-1])
    return jnp.sum(example_weights(y, sample_weight) * bce_with_logits(z, y))


_loss_jit = jax.jit(loss_unchecked)


def loss(params: Params, x: Any, y: Any, sample_weight: Any = None) -> jax.Array:
    """Mean binary cross-entropy of the network on ``(x, y)``, from the logits.

    .. math::  L = \\frac{1}{N n_{out}} \\sum_{n,o} \\mathrm{softplus}(z_{no}) - y_{no} z_{no}

    the mean over every element (batch and output units, as Keras and
    PyTorch's ``BCEWithLogitsLoss`` do). With ``sample_weight`` (shape
    ``(N,)``, or ``()`` for one example) it is the weighted mean
    ``sum_n w_n mean_o l_no / sum_n w_n``.

    **Arguments:** ``x`` of shape ``(in,)`` or ``(N, in)``; ``y`` of the
    output's shape ``(..., n_out)``, or ``(...)`` (no trailing axis) when the
    network has one output unit. Labels may be soft (any value in [0, 1]).

    **Returns:** a scalar of the params' dtype.

    >>> import jaxnet
    >>> params, x, y = jaxnet.seed_example()
    >>> round(float(jaxnet.loss(params, x, y)), 6)
    0.657313
    """
    params, x, y, w = prepare(params, x, y, sample_weight)
    return _loss_jit(params, x, y, w)


def bce(y_true: Any, y_pred: Any) -> jax.Array:
    """The notebook's formula on probabilities, element-wise, kept for teaching.

    ``-(y log p + (1 - y) log(1 - p))`` with ``p = clip(y_pred, eps, 1 - eps)``
    (``eps`` the dtype's machine epsilon), so it never returns inf or NaN. It
    loses precision where ``y_pred`` rounds to 0 or 1; train with :func:`loss`.

    >>> import jaxnet
    >>> round(float(jaxnet.bce(1.0, 0.5182418997957381)), 6)
    0.657313
    >>> import jax
    >>> bool(jax.numpy.isfinite(jaxnet.bce(1.0, 0.0)))
    True
    """
    p = jnp.asarray(y_pred)
    if not jnp.issubdtype(p.dtype, jnp.floating):
        p = p.astype(jnp.zeros(()).dtype)
    y = jnp.asarray(y_true).astype(p.dtype)
    eps = jnp.finfo(p.dtype).eps
    p = jnp.clip(p, eps, 1 - eps)
    return -(y * jnp.log(p) + (1 - y) * jnp.log1p(-p))

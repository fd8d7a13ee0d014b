"""The training loss of every head, computed from the logits, and the notebook's BCE.

For the default sigmoid head, one output unit with logit ``z``, probability
``y_hat = sigmoid(z)`` and label ``y`` in [0, 1]::

    l(z, y) = -(y log y_hat + (1 - y) log(1 - y_hat))
            = softplus(z) - y z            (softplus(z) = log(1 + e^z))

The second form never takes ``log(0)``: it is exact for ``|z|`` up to 1e9 and
beyond, where ``log(sigmoid(z))`` returns ``-inf``. Its derivative is
``dl/dz = sigmoid(z) - y = y_hat - y``, the start of backpropagation. The
softmax and identity heads are in the table of :mod:`jaxnet.network`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import _kernels as kernels
from jaxnet._checks import refuse
from jaxnet._validate import as_array, call_checked, check_numeric, resolve_spec, with_value_checks
from jaxnet.network import ActivationName, HeadName
from jaxnet.spec import Model, Params

__all__ = ["loss", "bce"]

_loss_checked = with_value_checks(kernels.loss)


def loss(
    params: Params | Model,
    x: Any,
    y: Any,
    sample_weight: Any = None,
    *,
    activation: ActivationName | None = None,
    head: HeadName | None = None,
) -> jax.Array:
    """The network's mean loss on ``(x, y)``, from the logits.

    .. math::  L = \\sum_n r_n\\, l(z_n, y_n), \\qquad r_n = \\frac{w_n}{m \\sum_n w_n}

    with ``l`` the head's loss (:mod:`jaxnet.network`): binary cross-entropy
    ``softplus(z) - y z`` summed over outputs (``"sigmoid"``, ``m = n_out``: the
    mean over every element, as Keras and PyTorch's ``BCEWithLogitsLoss``),
    categorical cross-entropy ``logsumexp(z) - y . z`` (``"softmax"``, ``m = 1``)
    or half squared error ``|z - y|^2 / 2`` (``"identity"``, ``m = n_out``).
    Unweighted, ``w_n = 1``.

    **Arguments:** ``x`` of shape ``(in,)`` or ``(N, in)``; ``y`` of the
    output's shape ``(..., n_out)``, or ``(...)`` with one output unit, or
    integer classes ``(...)`` for softmax; ``sample_weight`` of shape ``(N,)``
    (``()`` for one example), non-negative, not all zero. ``params``: a dict,
    or a :class:`~jaxnet.Model` (whose activation and head are used; the
    defaults ``None`` mean the model's, or ``"relu"``/``"sigmoid"`` for a dict).

    **Returns:** a scalar of the params' dtype.

    >>> import jaxnet
    >>> params, x, y = jaxnet.seed_example()
    >>> round(float(jaxnet.loss(params, x, y)), 6)
    0.657313
    """
    params, spec = resolve_spec(params, activation, head)
    return call_checked(_loss_checked, params, x, y, sample_weight, activation=spec.activation, head=spec.head)


def bce(y_true: Any, y_pred: Any) -> jax.Array:
    """The notebook's formula on probabilities, element-wise, kept for teaching.

    ``-(y log p + (1 - y) log(1 - p))`` with ``p = clip(y_pred, eps, 1 - eps)``
    (``eps`` the dtype's machine epsilon), so it never returns inf or NaN: a
    NaN, a label outside [0, 1], a probability outside [0, 1] or complex input
    is refused with a ValueError/TypeError. It loses precision where
    ``y_pred`` rounds to 0 or 1; train with :func:`loss`.

    >>> import jaxnet
    >>> round(float(jaxnet.bce(1.0, 0.5182418997957381)), 6)
    0.657313
    >>> import jax
    >>> bool(jax.numpy.isfinite(jaxnet.bce(1.0, 0.0)))
    True
    """
    p, y = _probabilities("y_pred", y_pred), _probabilities("y_true", y_true)
    try:
        shape = np.broadcast_shapes(tuple(y.shape), tuple(p.shape))
    except ValueError:
        raise refuse("y_true", f"a shape that broadcasts with y_pred {tuple(p.shape)}", tuple(y.shape)) from None
    p = jnp.asarray(p if jnp.issubdtype(p.dtype, jnp.floating) else p.astype(jax.dtypes.canonicalize_dtype(float)))
    p, y = jnp.broadcast_to(p, shape), jnp.broadcast_to(jnp.asarray(y).astype(p.dtype), shape)
    eps = jnp.finfo(p.dtype).eps
    p = jnp.clip(p, eps, 1 - eps)
    return -(y * jnp.log(p) + (1 - y) * jnp.log1p(-p))


def _probabilities(name: str, value: Any) -> Any:
    """``value`` as an array of real numbers in [0, 1], or a TypeError/ValueError naming ``name``."""
    a = as_array(name, value)
    check_numeric(name, a, allow_bool=True)
    v = np.asarray(a, np.float64)
    if np.isnan(v).any():
        raise refuse(name, "values in [0, 1]", "NaN")
    if v.size and (v.min() < 0 or v.max() > 1):
        raise refuse(name, "values in [0, 1]", f"values in [{v.min():g}, {v.max():g}]")
    return a

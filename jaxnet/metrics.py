"""Scores users expect beside the loss: accuracy for classifiers, RMSE and R² for regression.

Each compares the network's :func:`jaxnet.predict` with the labels in the
labels' own shape, so nothing broadcasts by accident (``forward`` returns
``(N, 1)``; comparing that with ``y`` of shape ``(N,)`` gives an ``(N, N)``
matrix, a classic silent bug).

* accuracy: sigmoid head: the fraction of elements with ``[y_hat >= 0.5] == [y >= 0.5]``
  (per label for multi-label outputs); softmax head: the fraction of rows with
  ``argmax y_hat == argmax y`` (or the integer class);
* RMSE ``sqrt(mean((z - y)^2))`` over every element, and
  R² ``= 1 - sum (y - z)^2 / sum (y - mean(y))^2`` per output, averaged over
  outputs (scikit-learn's ``r2_score`` default), for the identity head; both
  computed on values scaled by ``max(|y|, |z|)``, so their sums cannot
  overflow (a loss that overflows is refused, naming the input).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import _kernels as kernels
from jaxnet._validate import Params, overflow_error, prepare
from jaxnet.network import ActivationName, HeadName

__all__ = ["accuracy", "evaluate"]


@partial(jax.jit, static_argnames=("activation", "head"))
def scores(params: Params, x: jax.Array, y: jax.Array, w: Any, activation: str, head: str) -> dict[str, jax.Array]:
    """Loss and the head's scores, unchecked (``y`` in the output's shape, one-hot for softmax)."""
    t = kernels.forward_trace(params, x, activation, head)
    z, y_hat = t[f"z{len(params) // 2}"], t["y_hat"]
    y = jnp.reshape(y, z.shape)
    out = {"loss": kernels.loss(params, x, y, w, activation, head)}
    if head == "softmax":
        out["accuracy"] = jnp.mean(jnp.argmax(y_hat, axis=-1) == jnp.argmax(y, axis=-1))
    elif head == "sigmoid":
        out["accuracy"] = jnp.mean((y_hat >= 0.5) == (y >= 0.5))
    else:
        out.update(_regression_scores(jnp.reshape(z, (-1, y.shape[-1])), jnp.reshape(y, (-1, y.shape[-1]))))
    return out


def _regression_scores(z: jax.Array, y: jax.Array) -> dict[str, jax.Array]:
    """RMSE and R² of predictions ``z`` for targets ``y`` (both ``(N, out)``), computed on ``z / s`` and
    ``y / s`` with ``s = max(|y|, |z|)``: every square is at most 4, so no sum overflows (a float32
    ``sum (y - mean y)^2`` of targets near 1e19 was inf, and R² came out 1.0). R² does not depend on ``s``;
    ``RMSE = s * sqrt(mean(((z - y) / s)^2))``.
    """
    s = jnp.maximum(jnp.max(jnp.abs(y)), jnp.max(jnp.abs(z)))
    s = jnp.where((s > 0) & jnp.isfinite(s), s, jnp.ones_like(s))
    err = z / s - y / s
    ys = y / s
    total = jnp.sum(jnp.square(ys - jnp.mean(ys, axis=0, keepdims=True)), axis=0)
    return {"rmse": s * jnp.sqrt(jnp.mean(err * err)), "r2": jnp.mean(1 - jnp.sum(err * err, axis=0) / total)}


def evaluate(
    params: Params,
    x: Any,
    y: Any,
    *,
    sample_weight: Any = None,
    activation: ActivationName = "relu",
    head: HeadName = "sigmoid",
) -> dict[str, float]:
    """``{"loss", "accuracy"}`` for the classifier heads, ``{"loss", "rmse", "r2"}`` for ``"identity"``.

    ``loss`` is :func:`jaxnet.loss` (weighted by ``sample_weight`` if given); the
    other scores are unweighted. R² is ``-inf``/``nan`` where a target column is
    constant (as its definition has it).

    >>> import jaxnet
    >>> params, x, y = jaxnet.seed_example()
    >>> {k: round(v, 4) for k, v in jaxnet.evaluate(params, x, y).items()}
    {'loss': 0.6573, 'accuracy': 1.0}
    """
    params, x, y, w = prepare(params, x, y, sample_weight, activation=activation, head=head)
    out = jax.device_get(scores(params, x, y, w, activation, head))
    if not np.isfinite(out["loss"]):  # finite inputs (checked above) whose arithmetic overflowed
        raise overflow_error(params, x, y)
    return {k: float(out[k]) for k in ("loss", "accuracy", "rmse", "r2") if k in out}


def accuracy(
    params: Params, x: Any, y: Any, *, activation: ActivationName = "relu", head: HeadName = "sigmoid"
) -> float:
    """Fraction of correct predictions of a classifier (sigmoid or softmax head).

    ``y`` as for :func:`jaxnet.loss`: 0/1 (or soft, thresholded at 0.5) labels
    for sigmoid, integer classes or one-hot rows for softmax.

    >>> import jaxnet
    >>> params, x, y = jaxnet.seed_example()
    >>> jaxnet.accuracy(params, x, y)
    1.0
    """
    if head == "identity":
        raise ValueError(
            "head: accuracy needs a classifier head ('sigmoid' or 'softmax'); for 'identity' use "
            "jaxnet.evaluate (RMSE and R²)"
        )
    return evaluate(params, x, y, activation=activation, head=head)["accuracy"]

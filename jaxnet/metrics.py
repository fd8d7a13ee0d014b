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

from jaxnet import _host_eval as host_eval
from jaxnet import _kernels as kernels
from jaxnet._padding import pad_rows
from jaxnet._validate import on_host, overflow_error, prepare, resolve_spec
from jaxnet.network import HEADS, ActivationName, HeadName, depth, head_named
from jaxnet.spec import Model, Params

__all__ = ["accuracy", "evaluate"]


@partial(jax.jit, static_argnames=("activation", "head"))
def scores(
    params: Params, x: jax.Array, y: jax.Array, w: Any, activation: str, head: str, n: Any = None
) -> dict[str, jax.Array]:
    """Loss and the head's scores, unchecked (``y`` in the output's shape, one-hot for softmax).

    ``n``: the real rows of a batch padded by :func:`padded` (a runtime value, so every row count of a
    bucket shares one program); rows ``n`` on count in nothing, not even a NaN of their own. ``None``:
    every row counts.
    """
    t = kernels.forward_trace(params, x, activation, head)
    z, y_hat = t[f"z{depth(params)}"], t["y_hat"]
    y = jnp.reshape(y, z.shape)
    if n is None:
        mask = jnp.ones(z.shape[:-1], bool)
        loss = kernels.loss(params, x, y, w, activation, head)
    else:
        mask = jnp.arange(z.shape[0], dtype=jnp.int32) < n
        per_row = kernels.shares(z, w, head)[..., 0] * HEADS[head].loss(z, y)
        loss = jnp.sum(jnp.where(mask, per_row, jnp.zeros((), z.dtype)))
    return {"loss": loss, **HEADS[head].scores(y_hat, y, mask)}


def padded(x: Any, y: Any, w: Any) -> tuple[tuple[Any, Any, Any], Any]:
    """``((x, y, w), n)`` for :func:`scores`: a batch the CPU holds padded to
    :func:`jaxnet._padding.bucket` rows (weight 0, numpy, nothing compiled), ``n`` its real rows as int32;
    one example or device data as it is, ``n = None``.

    >>> import numpy as np
    >>> (xp, yp, wp), n = padded(np.ones((17, 2)), np.ones((17, 1)), None)
    >>> xp.shape, float(wp.sum()), int(n)
    ((18, 2), 17.0, 17)
    """
    if x.ndim != 2 or not all(on_host(a) for a in (x, y, w) if a is not None):
        return (x, y, w), None
    data, n = pad_rows((x, y, w), x.dtype)
    return data, np.int32(n)


def evaluate(
    params: Params | Model,
    x: Any,
    y: Any,
    *,
    sample_weight: Any = None,
    activation: ActivationName | None = None,
    head: HeadName | None = None,
) -> dict[str, float]:
    """``{"loss", "accuracy"}`` for the classifier heads, ``{"loss", "rmse", "r2"}`` for ``"identity"``.

    ``loss`` is :func:`jaxnet.loss` (weighted by ``sample_weight`` if given); the
    other scores are unweighted. R² is ``-inf``/``nan`` where a target column is
    constant (as its definition has it). ``params``: a dict or a
    :class:`~jaxnet.Model`; a dict of several outputs needs ``head=`` (the
    decision rule would be ambiguous), a Model knows its head.

    >>> import jaxnet
    >>> params, x, y = jaxnet.seed_example()
    >>> {k: round(v, 4) for k, v in jaxnet.evaluate(params, x, y).items()}
    {'loss': 0.6573, 'accuracy': 1.0}
    """
    params, spec = resolve_spec(params, activation, head, need_head=True)
    activation, head = spec.activation, spec.head
    params, x, y, w = prepare(params, x, y, sample_weight, activation=activation, head=head, keep_host=True)
    (xp, yp, wp), n = padded(x, y, w)  # neighbouring row counts share one program (or trace, for numpy)
    out = jax.device_get(host_eval.run(scores, params, xp, yp, wp, activation=activation, head=head, n=n))
    if not np.isfinite(out["loss"]):  # finite inputs (checked above) whose arithmetic overflowed
        raise overflow_error(params, x, y)
    return {k: float(out[k]) for k in ("loss", "accuracy", "rmse", "r2") if k in out}


def accuracy(
    params: Params | Model,
    x: Any,
    y: Any,
    *,
    activation: ActivationName | None = None,
    head: HeadName | None = None,
) -> float:
    """Fraction of correct predictions of a classifier (sigmoid or softmax head).

    ``y`` as for :func:`jaxnet.loss`: 0/1 (or soft, thresholded at 0.5) labels
    for sigmoid, integer classes or one-hot rows for softmax.

    >>> import jaxnet
    >>> params, x, y = jaxnet.seed_example()
    >>> jaxnet.accuracy(params, x, y)
    1.0
    """
    params, spec = resolve_spec(params, activation, head, need_head=True)
    if not head_named(spec.head).classifier:
        raise ValueError(
            f"head: accuracy needs a classifier head ({' or '.join(repr(k) for k, h in HEADS.items() if h.classifier)}); "
            f"for {spec.head!r} use jaxnet.evaluate (RMSE and R²)"
        )
    return evaluate(params, x, y, activation=spec.activation, head=spec.head)["accuracy"]

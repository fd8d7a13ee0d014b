"""The checks of the options that ``fit``, ``make_train_step`` and ``sweep`` share: where and how to compute.

* ``device``/``precision``: :func:`execution_context`, the context that applies
  the matmul precision (``jax.default_matmul_precision``);
* ``compute_dtype``: :func:`check_compute_dtype`, a floating dtype for the
  matmuls (mixed precision) or ``None``;
* ``gradients``/``loss_fn``: :func:`resolve_gradients`, which gradient runs.

>>> resolve_gradients("auto", None), resolve_gradients("auto", lambda p, x, y, w: 0.0)
('manual', 'autodiff')
>>> check_compute_dtype("bfloat16")
dtype(bfloat16)
"""

from __future__ import annotations

import contextlib
from typing import Any

import jax
import optax

from jaxnet._checks import float_dtype, one_of, refuse

__all__ = [
    "PRECISIONS",
    "GRADIENTS",
    "check_optimizer",
    "check_compute_dtype",
    "execution_context",
    "resolve_gradients",
]

PRECISIONS = ("default", "high", "highest")  # jax.default_matmul_precision's names
GRADIENTS = ("auto", "manual", "autodiff")


def check_optimizer(optimizer: Any) -> optax.GradientTransformation:
    """``optimizer`` if it is an ``optax.GradientTransformation``; else a TypeError naming it."""
    if not isinstance(optimizer, optax.GradientTransformation):
        raise refuse("optimizer", "an optax.GradientTransformation", type(optimizer).__name__, TypeError)
    return optimizer


def execution_context(device: Any, precision: Any) -> contextlib.AbstractContextManager:
    """Check ``device``/``precision``; the context that applies ``precision`` (matmul precision) to a call."""
    if device is not None and not isinstance(device, jax.Device):
        raise refuse("device", "a jax.Device such as jax.devices('cpu')[0] or None", repr(device), TypeError)
    if precision is None:
        return contextlib.nullcontext()
    return jax.default_matmul_precision(one_of("precision", precision, PRECISIONS, also="or None"))


def check_compute_dtype(compute_dtype: Any) -> Any:
    """``None`` or a floating dtype for the matmuls (``jnp.bfloat16``, ``jnp.float16``)."""
    return None if compute_dtype is None else float_dtype("compute_dtype", compute_dtype)


def resolve_gradients(gradients: Any, loss_fn: Any) -> str:
    """``"manual"`` or ``"autodiff"`` from the ``gradients=`` option (``"auto"``: manual unless ``loss_fn``)."""
    one_of("gradients", gradients, GRADIENTS)
    if loss_fn is not None and not callable(loss_fn):
        expected = "a function (params, x, y, sample_weight) -> scalar"
        raise refuse("loss_fn", expected, type(loss_fn).__name__, TypeError)
    if gradients == "manual" and loss_fn is not None:
        raise ValueError(
            "gradients: 'manual' is the hand-derived gradient of the built-in loss; use 'autodiff' with loss_fn"
        )
    return ("manual" if loss_fn is None else "autodiff") if gradients == "auto" else gradients

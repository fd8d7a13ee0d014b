"""What training raises and warns, and the one rule of divergence, shared by ``fit`` and ``sweep``.

Training has **diverged** when a loss is NaN/inf or exceeds

.. math:: \\text{limit} = F \\cdot \\max(\\ell_0, 1), \\qquad F = 10^3

where :math:`\\ell_0` is the run's first loss. The exceptions that end a run
early carry the state to hand back (``params``, ``opt_state``, ``history``),
so nothing trained is lost.

>>> float(divergence_limit(0.5)), float(divergence_limit(4.0))
(1000.0, 4000.0)
>>> import numpy as np
>>> acceptable(np.array([1.0, np.nan, np.inf, 2e3]), 1e3).tolist()
[True, False, False, False]
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet._checks import refuse
from jaxnet.spec import Params

__all__ = [
    "DIVERGENCE_FACTOR",
    "CallbackError",
    "DivergenceError",
    "DivergenceWarning",
    "PeerStopped",
    "TrainingInterrupted",
    "acceptable",
    "divergence_limit",
]

DIVERGENCE_FACTOR = 1e3
"""Training has diverged when the loss exceeds ``DIVERGENCE_FACTOR * max(initial loss, 1)`` (or is NaN/inf)."""


def divergence_limit(initial: Any) -> Any:
    """``DIVERGENCE_FACTOR * max(initial, 1)``: the largest acceptable loss of a run whose first loss is ``initial``.

    Works on Python floats, numpy and (traced) JAX values alike: a ``jax.Array`` (a tracer inside ``jit``
    is one) by ``jnp``, anything else by numpy, which compiles nothing (a ``jnp`` op on a host value
    compiles a program per op on its first call).
    """
    if isinstance(initial, jax.Array):
        return DIVERGENCE_FACTOR * jnp.maximum(initial, 1)
    v = np.asarray(initial) if isinstance(initial, (int, float, np.generic, np.ndarray)) else None
    if v is None or v.dtype == np.bool_ or not jnp.issubdtype(v.dtype, jnp.number):
        raise refuse("initial", "a real number or an array of them", repr(initial), TypeError)
    floating = jnp.issubdtype(v.dtype, jnp.floating)  # bfloat16 included (numpy calls it kind 'V')
    dtype = jax.dtypes.canonicalize_dtype(v.dtype if floating else np.float64)  # as jnp: float32 without x64
    with np.errstate(over="ignore"):  # a limit past the dtype's range is inf, as jnp computes it, no warning
        return (DIVERGENCE_FACTOR * np.maximum(v.astype(dtype), dtype.type(1))).astype(dtype)


def acceptable(loss: Any, limit: Any) -> Any:
    """Whether ``loss`` is finite and at most ``limit``, elementwise (numpy or JAX, by the operands' own ops).

    Written with comparisons only, so numpy losses are compared in numpy (no cast to a device dtype).
    """
    return (loss <= limit) & (loss > -math.inf) & (loss < math.inf)


class _CarriesState(BaseException):
    """Base of the exceptions that carry the training state to return (``params``, ``opt_state``, ``history``)."""

    def __init__(self, message: str, params: Params, opt_state: Any, history: dict):
        super().__init__(message)
        self.params, self.opt_state, self.history = params, opt_state, history


class PeerStopped(_CarriesState, RuntimeError):
    """Another process of a multi-process ``fit`` was interrupted or its callback raised; this process stopped
    at the same step. Carries ``params``, ``opt_state`` and ``history`` of that step."""


class DivergenceWarning(RuntimeWarning):
    """Training diverged; ``fit`` returned the last finite state."""


class DivergenceError(_CarriesState, RuntimeError):
    """Raised by ``fit(..., on_divergence="raise")``; carries the last finite ``params``, ``opt_state`` and ``history``."""


class TrainingInterrupted(_CarriesState, KeyboardInterrupt):
    """Ctrl-C during ``fit``; carries ``params``, ``opt_state`` and ``history`` of the last completed chunk."""


class CallbackError(_CarriesState, RuntimeError):
    """The ``callback`` raised (see ``__cause__``); carries the state it was called with."""

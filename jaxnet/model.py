"""The network: parameters as a plain dict, a pure forward pass.

Conventions (every jaxnet function keeps them):

* parameters ``{"W1", "b1", ..., "WL", "bL"}``; ``W_l`` has shape ``(out, in)``,
  ``b_l`` has shape ``(out,)``;
* a layer is ``z_l = W_l a_{l-1} + b_l`` (batched: ``a_{l-1} @ W_l.T + b_l``),
  with ``a_0 = x``;
* hidden layers apply ``activation`` (default ReLU, ``a_l = max(z_l, 0)``,
  derivative 0 at 0), the output layer a ``head`` (default an independent
  sigmoid per unit, ``y_hat = sigmoid(z_L)``): both from the one table in
  :mod:`jaxnet.network`.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import _kernels as kernels
from jaxnet._validate import (
    Params,
    as_key,
    call_checked,
    check_params,
    check_sizes,
    resolve_spec,
    with_value_checks,
)
from jaxnet.cache import use_default_cache
from jaxnet.network import ActivationName, HeadName, head_named, param_keys
from jaxnet.spec import Model, Spec

__all__ = [
    "seed_example",
    "init_mlp",
    "init_model",
    "forward",
    "forward_trace",
    "predict",
    "predict_proba",
    "layer_sizes",
]

# The worked example (a 2-3-1 network), exactly as the notebook writes it.
SEED_W1 = ((0.2, -0.3), (0.4, 0.1), (-0.5, 0.2))
SEED_B1 = (0.1, -0.2, 0.1)
SEED_W2 = ((0.3, -0.4, 0.5),)
SEED_B2 = (0.1,)
SEED_X = (0.5, 0.8)
SEED_Y = 1.0


def seed_example(dtype: Any = None) -> tuple[Params, jax.Array, jax.Array]:
    """The worked example's network and data: ``(params, x, y)``.

    ``params`` is ``{"W1": (3, 2), "b1": (3,), "W2": (1, 3), "b2": (1,)}``,
    ``x = [0.5, 0.8]`` has shape ``(2,)`` and ``y = 1.0`` is a scalar array.
    ``dtype=None`` means JAX's default float (float32, or float64 with
    ``jax_enable_x64``).

    >>> import jaxnet
    >>> params, x, y = jaxnet.seed_example()
    >>> {k: v.shape for k, v in params.items()}
    {'W1': (3, 2), 'b1': (3,), 'W2': (1, 3), 'b2': (1,)}
    """
    dtype = _float_dtype(dtype)
    params = {
        "W1": jnp.asarray(SEED_W1, dtype),
        "b1": jnp.asarray(SEED_B1, dtype),
        "W2": jnp.asarray(SEED_W2, dtype),
        "b2": jnp.asarray(SEED_B2, dtype),
    }
    return params, jnp.asarray(SEED_X, dtype), jnp.asarray(SEED_Y, dtype)


def _float_dtype(dtype: Any) -> np.dtype:
    """``dtype`` (default: JAX's default float) if it is a real floating dtype, else a TypeError."""
    if dtype is None:
        return np.dtype(jnp.zeros(()).dtype)
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected a floating dtype such as jnp.float32, got {dtype!r}") from None
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype: expected a floating dtype such as jnp.float32, got {dtype}")
    return dtype


def _he(key: jax.Array, shape: tuple[int, int], dtype: Any) -> jax.Array:
    """He/Kaiming normal: ``W ~ N(0, 2 / fan_in)`` (for ReLU)."""
    return jax.random.normal(key, shape, dtype) * np.sqrt(2.0 / shape[1]).astype(dtype)


def _glorot(key: jax.Array, shape: tuple[int, int], dtype: Any) -> jax.Array:
    """Glorot/Xavier normal: ``W ~ N(0, 2 / (fan_in + fan_out))``."""
    return jax.random.normal(key, shape, dtype) * np.sqrt(2.0 / (shape[0] + shape[1])).astype(dtype)


_INITS = {"he": _he, "glorot": _glorot, "xavier": _glorot}


def init_mlp(
    key: jax.Array,
    sizes: tuple[int, ...] | list[int],
    *,
    dtype: Any = None,
    init: Literal["he", "glorot", "xavier"] = "he",
) -> Params:
    """Random parameters for a network of layer widths ``sizes``.

    **Arguments:**

    - ``key``: a ``jax.random`` key, or an int seed; the same key gives the same parameters.
    - ``sizes``: ``(n_in, h1, ..., n_out)``, e.g. ``(2, 3, 1)`` or ``(30, 64, 32, 1)``.
    - ``dtype``: float dtype of every array (default: JAX's default float).
    - ``init``: ``"he"`` (He-normal, ``std = sqrt(2 / fan_in)``, for ReLU) or
      ``"glorot"``/``"xavier"`` (``std = sqrt(2 / (fan_in + fan_out))``).

    **Returns:** ``{"W1": (h1, n_in), "b1": (h1,), ..., "WL": (n_out, h_{L-1}), "bL": (n_out,)}``
    with zero biases.

    >>> import jax, jaxnet
    >>> p = jaxnet.init_mlp(jax.random.key(0), (30, 16, 1))
    >>> p["W1"].shape, p["b2"].shape
    ((16, 30), (1,))
    """
    use_default_cache()  # before the first compilation (jaxnet.cache)
    key = as_key(key)
    sizes = check_sizes(sizes)
    if not isinstance(init, str) or init not in _INITS:
        raise ValueError(f"init: expected one of {sorted(_INITS)}, got {init!r}")
    dtype = _float_dtype(dtype)
    params = _init_jit(key, sizes, dtype, init)
    return {k: params[k] for k in param_keys(len(sizes) - 1)}  # jit sorts dict keys


@partial(jax.jit, static_argnums=(1, 2, 3))
def _init_jit(key: jax.Array, sizes: tuple[int, ...], dtype: Any, init: str) -> Params:
    """One compiled program for every layer (eagerly, each random op would compile on its own)."""
    keys = jax.random.split(key, len(sizes) - 1)
    params: Params = {}
    for l, (k, n_in, n_out) in enumerate(zip(keys, sizes[:-1], sizes[1:]), start=1):
        params[f"W{l}"] = _INITS[init](k, (n_out, n_in), dtype)
        params[f"b{l}"] = jnp.zeros((n_out,), dtype)
    return params


def init_model(
    key: jax.Array,
    sizes: tuple[int, ...] | list[int],
    *,
    activation: ActivationName = "relu",
    head: HeadName = "sigmoid",
    dtype: Any = None,
    init: Literal["he", "glorot", "xavier"] = "he",
) -> Model:
    """A :class:`~jaxnet.Model`: :func:`init_mlp`'s parameters with their ``activation`` and ``head``.

    The same arguments as :func:`init_mlp`, plus the spec, stated once here;
    every call given the model then uses it. ``sizes[-1]`` must be at least
    the head's ``min_outputs`` (2 for softmax).

    >>> import jax, jaxnet
    >>> model = jaxnet.init_model(jax.random.key(0), (4, 16, 3),
    ...                           activation="tanh", head="softmax")
    >>> model
    Model(sizes=(4, 16, 3), activation='tanh', head='softmax')
    >>> jaxnet.predict(model, jax.numpy.zeros((2, 4))).shape
    (2,)
    """
    spec = Spec(activation, head)
    least = head_named(head).min_outputs
    checked = check_sizes(sizes)
    if checked[-1] < least:
        raise ValueError(f"sizes: the head {head!r} needs at least {least} outputs, got sizes {checked}")
    return Model(init_mlp(key, checked, dtype=dtype, init=init), spec)


def layer_sizes(params: Params | Model) -> tuple[int, ...]:
    """Layer widths ``(n_in, h1, ..., n_out)`` of ``params`` (checked: keys, shapes and dtypes).

    >>> import jaxnet
    >>> jaxnet.layer_sizes(jaxnet.seed_example()[0])
    (2, 3, 1)
    """
    return check_params(params.params if isinstance(params, Model) else params)


_trace_checked = with_value_checks(
    lambda params, x, y, w, activation, head: kernels.forward_trace(params, x, activation, head)
)


def forward_trace(
    params: Params | Model, x: Any, *, activation: ActivationName | None = None, head: HeadName | None = None
) -> dict[str, jax.Array]:
    """Every intermediate of the forward pass: ``z1, a1, ..., zL, y_hat``.

    ``z_l = W_l a_{l-1} + b_l`` (``a_0 = x``), ``a_l = f(z_l)`` for hidden
    layers (``f`` is ``activation``) and ``y_hat = g(z_L)`` (``g`` is the
    ``head``'s output: sigmoid, softmax or identity). Shapes are ``(width,)``
    for one example ``x`` of shape ``(in,)`` and ``(N, width)`` for a batch.
    ``params`` is a dict or a :class:`~jaxnet.Model`; ``activation``/``head``
    default to the model's, or ``"relu"``/``"sigmoid"`` for a dict (as in every
    call below).

    >>> import jaxnet
    >>> params, x, y = jaxnet.seed_example()
    >>> sorted(jaxnet.forward_trace(params, x))
    ['a1', 'y_hat', 'z1', 'z2']
    """
    params, spec = resolve_spec(params, activation, head)
    return call_checked(_trace_checked, params, x, activation=spec.activation, head=spec.head)


def forward(
    params: Params | Model, x: Any, *, activation: ActivationName | None = None, head: HeadName | None = None
) -> jax.Array:
    """Network output ``y_hat = g(z_L)``, shape ``(n_out,)`` for ``x`` of shape ``(in,)``, ``(N, n_out)`` for ``(N, in)``.

    Note the trailing axis: with one output, ``forward`` returns ``(N, 1)``;
    compare predictions with :func:`predict` (shape ``(N,)``) or use
    :func:`jaxnet.accuracy`, never ``forward(...) == y`` with ``y`` of shape ``(N,)``.

    >>> import jaxnet
    >>> params, x, y = jaxnet.seed_example()
    >>> jaxnet.forward(params, x).shape
    (1,)
    """
    return forward_trace(params, x, activation=activation, head=head)["y_hat"]


def predict_proba(
    params: Params | Model, x: Any, *, activation: ActivationName | None = None, head: HeadName | None = None
) -> jax.Array:
    """Class probabilities: ``(N, C)`` for softmax, ``(N, n_out)`` for sigmoid (``P(y_o = 1)``).

    The same as :func:`forward` for the two classifier heads; the identity
    head has no probabilities and is refused. A dict of several outputs needs
    ``head=`` (sigmoid and softmax probabilities differ); a Model knows its head.

    >>> import jaxnet
    >>> params, x, y = jaxnet.seed_example()
    >>> [round(float(p), 4) for p in jaxnet.predict_proba(params, x)]
    [0.5182]
    """
    params, spec = resolve_spec(params, activation, head, need_head=True)
    if not head_named(spec.head).classifier:
        raise ValueError(f"head: {spec.head!r} is a regression head with no class probabilities; use predict")
    return forward(params, x, activation=spec.activation, head=spec.head)


def predict(
    params: Params | Model, x: Any, *, activation: ActivationName | None = None, head: HeadName | None = None
) -> jax.Array:
    """Predictions in the labels' own form.

    - ``"sigmoid"``: 0/1 labels, ``y_hat >= 0.5``: shape ``(N,)`` for one
      output unit (``(N, n_out)`` for several, multi-label), int32;
    - ``"softmax"``: the class ``argmax_c y_hat_c``, shape ``(N,)``, int32;
    - ``"identity"``: the values ``z_L``, shape ``(N,)`` for one output, else ``(N, n_out)``.

    For one example ``x`` of shape ``(in,)`` the batch axis is dropped. The rule
    is the head's (``HEADS[head].decide``): a dict of several outputs needs
    ``head=``, since sigmoid (multi-label) and softmax (one class) decide
    differently; a :class:`~jaxnet.Model` knows its head.

    >>> import jaxnet
    >>> params, x, y = jaxnet.seed_example()
    >>> int(jaxnet.predict(params, x))
    1
    """
    params, spec = resolve_spec(params, activation, head, need_head=True)
    y_hat = forward(params, x, activation=spec.activation, head=spec.head)
    return head_named(spec.head).decide(y_hat)

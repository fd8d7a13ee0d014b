"""The network: parameters as a plain dict, a pure forward pass.

Conventions (every jaxnet function keeps them):

* parameters ``{"W1", "b1", ..., "WL", "bL"}``; ``W_l`` has shape ``(out, in)``,
  ``b_l`` has shape ``(out,)``;
* a layer is ``z_l = W_l a_{l-1} + b_l`` (batched: ``a_{l-1} @ W_l.T + b_l``),
  with ``a_0 = x``;
* hidden layers use ReLU, ``a_l = max(z_l, 0)`` (derivative 0 at 0, as
  ``jax.nn.relu``); the output layer uses an independent sigmoid per unit,
  ``y_hat = sigmoid(z_L)``.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet._validate import Params, check_sizes, prepare

__all__ = ["seed_example", "init_mlp", "forward", "forward_trace", "layer_sizes", "num_layers"]

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
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype
    params = {
        "W1": jnp.asarray(SEED_W1, dtype),
        "b1": jnp.asarray(SEED_B1, dtype),
        "W2": jnp.asarray(SEED_W2, dtype),
        "b2": jnp.asarray(SEED_B2, dtype),
    }
    return params, jnp.asarray(SEED_X, dtype), jnp.asarray(SEED_Y, dtype)


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

    - ``key``: a ``jax.random`` key; the same key gives the same parameters.
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
    sizes = check_sizes(sizes)
    if init not in _INITS:
        raise ValueError(f"init: expected one of {sorted(_INITS)}, got {init!r}")
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype: expected a floating dtype, got {dtype}")
    params = _init_jit(key, sizes, dtype, init)
    return {f"{p}{l}": params[f"{p}{l}"] for l in range(1, len(sizes)) for p in "Wb"}  # jit sorts dict keys


@partial(jax.jit, static_argnums=(1, 2, 3))
def _init_jit(key: jax.Array, sizes: tuple[int, ...], dtype: Any, init: str) -> Params:
    """One compiled program for every layer (eagerly, each random op would compile on its own)."""
    keys = jax.random.split(key, len(sizes) - 1)
    params: Params = {}
    for l, (k, n_in, n_out) in enumerate(zip(keys, sizes[:-1], sizes[1:]), start=1):
        params[f"W{l}"] = _INITS[init](k, (n_out, n_in), dtype)
        params[f"b{l}"] = jnp.zeros((n_out,), dtype)
    return params


def num_layers(params: Params) -> int:
    """Number of layers ``L`` (weight matrices) in ``params``."""
    return len(params) // 2


def layer_sizes(params: Params) -> tuple[int, ...]:
    """Layer widths ``(n_in, h1, ..., n_out)`` of ``params``.

    >>> import jaxnet
    >>> jaxnet.layer_sizes(jaxnet.seed_example()[0])
    (2, 3, 1)
    """
    L = num_layers(params)
    return (int(params["W1"].shape[1]),) + tuple(int(params[f"W{l}"].shape[0]) for l in range(1, L + 1))


def dense(w: jax.Array, b: jax.Array, a: jax.Array) -> jax.Array:
    """One layer's pre-activation ``z = W a + b`` for ``a`` of shape ``(in,)`` or ``(N, in)``."""
    return a @ w.T + b.reshape((1,) * (a.ndim - 1) + b.shape)


def trace_forward(params: Params, x: jax.Array) -> dict[str, jax.Array]:
    """Unchecked :func:`forward_trace` (for use inside jitted code)."""
    L = num_layers(params)
    out: dict[str, jax.Array] = {}
    a = x
    for l in range(1, L + 1):
        z = dense(params[f"W{l}"], params[f"b{l}"], a)
        out[f"z{l}"] = z
        if l < L:
            a = out[f"a{l}"] = jax.nn.relu(z)
    out["y_hat"] = jax.nn.sigmoid(out[f"z{L}"])
    return out


def logits(params: Params, x: jax.Array) -> jax.Array:
    """Unchecked output pre-activation ``z_L`` (for use inside jitted code)."""
    return trace_forward(params, x)[f"z{num_layers(params)}"]


_trace_jit = jax.jit(trace_forward)


def forward_trace(params: Params, x: Any) -> dict[str, jax.Array]:
    """Every intermediate of the forward pass: ``z1, a1, ..., zL, y_hat``.

    ``z_l = W_l a_{l-1} + b_l`` (``a_0 = x``), ``a_l = relu(z_l)`` for hidden
    layers and ``y_hat = sigmoid(z_L)``. Shapes are ``(width,)`` for one
    example ``x`` of shape ``(in,)`` and ``(N, width)`` for a batch.

    >>> import jaxnet
    >>> params, x, y = jaxnet.seed_example()
    >>> sorted(jaxnet.forward_trace(params, x))
    ['a1', 'y_hat', 'z1', 'z2']
    """
    params, x, _, _ = prepare(params, x)
    return _trace_jit(params, x)


def forward(params: Params, x: Any) -> jax.Array:
    """Network output ``y_hat = sigmoid(z_L)``, shape ``(n_out,)`` or ``(N, n_out)``.

    >>> import jaxnet
    >>> params, x, y = jaxnet.seed_example()
    >>> jaxnet.forward(params, x).shape
    (1,)
    """
    return forward_trace(params, x)["y_hat"]

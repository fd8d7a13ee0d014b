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

from functools import partial, reduce
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import _kernels as kernels
from jaxnet._checks import float_dtype, one_of
from jaxnet._keys import as_key
from jaxnet._padding import bucket
from jaxnet._validate import (
    call_checked,
    check_params,
    check_sizes,
    resolve_spec,
    with_value_checks,
)
from jaxnet.cache import use_default_cache
from jaxnet.network import ActivationName, HeadName, check_outputs, depth, head_named, param_keys
from jaxnet.spec import Model, Params, Spec

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
    """``dtype`` (default: JAX's default float) if it is one of jaxnet's floating dtypes, else a TypeError."""
    return (
        np.dtype(jax.dtypes.canonicalize_dtype(float)) if dtype is None else float_dtype("dtype", dtype)
    )  # no program


def _he(key: jax.Array, shape: tuple[int, int], dtype: Any) -> jax.Array:
    """He/Kaiming normal: ``W ~ N(0, 2 / fan_in)`` (for ReLU)."""
    return jax.random.normal(key, shape, dtype) * np.sqrt(2.0 / shape[1]).astype(dtype)


def _glorot(key: jax.Array, shape: tuple[int, int], dtype: Any) -> jax.Array:
    """Glorot/Xavier normal: ``W ~ N(0, 2 / (fan_in + fan_out))``."""
    return jax.random.normal(key, shape, dtype) * np.sqrt(2.0 / (shape[0] + shape[1])).astype(dtype)


_INITS = {"he": _he, "glorot": _glorot, "xavier": _glorot}
_STD = {  # the standard deviation of each scheme, for the host path (_init_host)
    "he": lambda shape: np.sqrt(2.0 / shape[1]),
    "glorot": lambda shape: np.sqrt(2.0 / (shape[0] + shape[1])),
    "xavier": lambda shape: np.sqrt(2.0 / (shape[0] + shape[1])),
}


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
    seed = key if isinstance(key, (int, np.integer)) and not isinstance(key, bool) else None
    if seed is not None and not 0 <= seed < 2**63:
        as_key(seed)  # the error naming the argument
    key = as_key(key) if seed is None or jax.config.jax_default_prng_impl != "threefry2x32" else None
    sizes = check_sizes(sizes)
    one_of("init", init, _INITS)
    dtype = _float_dtype(dtype)
    threefry = key is None or (jax.random.key_impl(key) == "threefry2x32" and not isinstance(key, jax.core.Tracer))
    if not (threefry and getattr(jax.config, "jax_threefry_partitionable", False)) or dtype not in (
        np.float32,
        np.float64,
    ):
        params = _init_jit(as_key(seed if key is None else key), sizes, dtype, init)  # jax.random, one program
        return {k: params[k] for k in param_keys(len(sizes) - 1)}  # jit sorts dict keys
    if key is None:  # an int seed: its threefry key data, as seed_key makes it, without compiling a program
        data = np.array([int(seed) >> 32, int(seed) & 0xFFFFFFFF], np.uint32)
    else:
        data = np.asarray(jax.random.key_data(key))
    return _init_host(data, sizes, dtype, init)  # bf16 and others keep _init_jit: XLA rounds their products


@partial(jax.jit, static_argnums=(1, 2, 3))
def _init_jit(key: jax.Array, sizes: tuple[int, ...], dtype: Any, init: str) -> Params:
    """The reference: ``jax.random`` in one compiled program (each eager random op would compile alone)."""
    keys = jax.random.split(key, len(sizes) - 1)
    params: Params = {}
    for l, (k, n_in, n_out) in enumerate(zip(keys, sizes[:-1], sizes[1:]), start=1):
        params[f"W{l}"] = _INITS[init](k, (n_out, n_in), dtype)
        params[f"b{l}"] = jnp.zeros((n_out,), dtype)
    return params


_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _threefry2x32(key: np.ndarray, x0: np.ndarray, x1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Threefry-2x32 with 20 rounds, jax.random's default generator, in numpy (uint32: exact, nothing compiled)."""
    ks = np.array([key[0], key[1], key[0] ^ key[1] ^ 0x1BD11BDA], np.uint32)
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x0 = x0 + x1
            x1 = x0 ^ ((x1 << np.uint32(r)) | (x1 >> np.uint32(32 - r)))
        x0, x1 = x0 + ks[(i + 1) % 3], x1 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x0, x1


def _counts(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The flat indices ``0..n-1`` as (high, low) 32-bit words, as ``jax.random`` counts (partitionable)."""
    i = np.arange(n, dtype=np.uint64)
    return (i >> np.uint64(32)).astype(np.uint32), (i & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def _uniform_bits(key: np.ndarray, n: int, dtype: np.dtype) -> np.ndarray:
    """The random bits ``jax.random.uniform(key, (n,), dtype)`` draws: ``finfo(dtype).bits`` wide."""
    b1, b2 = _threefry2x32(key, *_counts(n))
    info = jnp.finfo(dtype)
    if info.bits == 64:
        return (b1.astype(np.uint64) << np.uint64(32)) | b2.astype(np.uint64)
    rng_bits = 8 if info.nmant < 8 else info.bits
    return (b1 ^ b2).astype(f"uint{rng_bits}").astype(f"uint{info.bits}")


@partial(jax.jit, static_argnums=2)
def _normal_of_bits(bits: jax.Array, scale: jax.Array, dtype: Any) -> jax.Array:
    """``jax.random.normal``'s values from its random bits times ``std``: the same operations as
    ``normal(key, shape) * std`` compiled, where XLA folds ``sqrt(2) * std`` into one constant (``scale``)."""
    info = jnp.finfo(dtype)
    rng_bits = 8 if info.nmant < 8 and info.bits < 64 else info.bits
    one = jnp.asarray(np.array(1.0, dtype).view(bits.dtype), bits.dtype)
    float_bits = jax.lax.shift_right_logical(bits, jnp.asarray(rng_bits - info.nmant, bits.dtype)) | one
    floats = jax.lax.bitcast_convert_type(float_bits, dtype) - jnp.asarray(1.0, dtype)
    lo = jnp.asarray(np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype), dtype=dtype))
    hi = jnp.asarray(1.0, dtype)
    u = jax.lax.max(lo, floats * (hi - lo) + lo)
    return jax.lax.erf_inv(u) * scale


def _init_host(key: np.ndarray, sizes: tuple[int, ...], dtype: np.dtype, init: str) -> Params:
    """:func:`_init_jit`'s exact values with the generator in numpy and one small elementwise program per
    bucket of parameter counts (:func:`jaxnet._padding.bucket`), shared by every network of that many weights.

    ``jax.random.split`` and the bits of ``normal`` are Threefry of the flat index, so the bits of all
    layers are drawn on the host and only ``sqrt(2) erf_inv(u)`` runs compiled, on the flat array padded
    with zero bits; the scale ``std`` is applied in numpy (one rounding, as before).
    """
    layers = list(zip(sizes[:-1], sizes[1:]))
    k1, k2 = _threefry2x32(key.astype(np.uint32), *_counts(len(layers)))  # jax.random.split(key, L)
    bits = [
        _uniform_bits(np.array([a, b], np.uint32), n_in * n_out, dtype) for a, b, (n_in, n_out) in zip(k1, k2, layers)
    ]
    total = sum(b.size for b in bits)
    flat = np.concatenate(bits + [np.zeros(bucket(total) - total, bits[0].dtype)])
    root2 = np.array(np.sqrt(2), dtype)
    scales = [np.full(n_in * n_out, root2 * _STD[init]((n_out, n_in)).astype(dtype)) for n_in, n_out in layers]
    scale = np.concatenate(scales + [np.zeros(bucket(total) - total, dtype)])
    normal = np.asarray(_normal_of_bits(jax.device_put(flat), jax.device_put(scale), dtype))
    params: Params = {}
    start = 0
    for l, (n_in, n_out) in enumerate(layers, start=1):
        w = normal[start : start + n_in * n_out].reshape(n_out, n_in)
        start += n_in * n_out
        params[f"W{l}"] = jax.device_put(w)
        params[f"b{l}"] = jax.device_put(np.zeros((n_out,), dtype))
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
    checked = check_sizes(sizes)
    check_outputs(head, checked[-1], "sizes", checked)
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


def outputs_or_nan(params: Params, x: Any, activation: str, head: str) -> jax.Array:
    """``y_hat``, NaN in each row where some layer's ``z`` is not finite, for the caller's finiteness check.

    A logit that overflowed can be saturated away by what follows it (``sigmoid(inf) = 1``, ``tanh``): the
    outputs alone then pass as a confident answer. ``z2 = 3 * 2e38 - 3 * 3e38`` is -3e38 exactly, but its
    float32 sum may pass +inf on its way, and predict said 1 where the answer is 0 (review of 2026-12-04).
    """
    t = kernels.forward_trace(params, x, activation, head)
    finite = [jnp.all(jnp.isfinite(t[f"z{l}"]), axis=-1) for l in range(1, depth(params) + 1)]
    return jnp.where(reduce(jnp.logical_and, finite)[..., None], t["y_hat"], jnp.nan)


def _outputs_and_decision(params: Params, x: Any, y: Any, w: Any, activation: str, head: str) -> tuple:
    """``y_hat`` (:func:`outputs_or_nan`: its check covers every layer) and the head's decision on it
    (:func:`predict`), in one program: the decision run op by op compiles a program of its own per shape."""
    y_hat = outputs_or_nan(params, x, activation, head)
    return y_hat, head_named(head).decide(y_hat)


_predict_checked = with_value_checks(_outputs_and_decision)


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
    return call_checked(_predict_checked, params, x, activation=spec.activation, head=spec.head)[1]

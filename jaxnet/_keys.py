"""Random keys from what callers pass: one coercion of a key, an int seed or a batch of keys.

``init_mlp``, ``fit`` and ``sweep`` accept a ``jax.random`` key (typed, or a
legacy ``uint32`` ``(2,)`` key) or an int seed; ``sweep`` takes a batch
``(K,)`` of keys. :func:`as_key` and :func:`as_keys` are the one reading of
them; anything else is refused with the fix.

>>> as_key(0).shape, as_keys(jax.random.split(jax.random.key(0), 3)).shape
((), (3,))
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet._checks import refuse


def _typed(key: Any, ndim: int) -> jax.Array | None:
    """``key`` as typed keys of rank ``ndim``: typed keys as they are, legacy ``uint32 (..., 2)`` wrapped; else None."""
    if not isinstance(key, jax.Array):
        return None
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.ndim == ndim:
        return key
    if key.dtype == jnp.uint32 and key.ndim == ndim + 1 and key.shape[-1] == 2:  # legacy PRNGKey data
        return jax.random.wrap_key_data(key)
    return None


def as_key(key: Any, name: str = "key") -> jax.Array:
    """A ``jax.random`` key from a key or an int seed; anything else is refused with the fix.

    An int seed uses all of its bits (:func:`seed_key`).

    >>> as_key(0).shape
    ()
    """
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        if not 0 <= key < 2**63:
            raise refuse(name, "an int seed in [0, 2**63) or a jax.random.key", key)
        return seed_key(int(key))
    typed = _typed(key, 0)
    if typed is None:
        raise refuse(name, "a jax.random key such as jax.random.key(0), or an int seed", repr(key), TypeError)
    return typed


def as_keys(keys: Any, name: str = "keys") -> jax.Array:
    """``keys`` as a ``(K,)`` array of typed jax keys, ``K >= 1`` (legacy ``(K, 2)`` uint32 keys are wrapped).

    >>> as_keys(jax.random.split(jax.random.key(0), 4)).shape
    (4,)
    """
    typed = _typed(keys, 1)
    if typed is None:
        what = f"{type(keys).__name__} of shape {getattr(keys, 'shape', None)} and dtype {getattr(keys, 'dtype', None)}"
        expected = "a (K,) array of jax.random keys, e.g. jax.random.split(jax.random.key(0), K)"
        raise refuse(name, expected, what, TypeError)
    if typed.shape[0] == 0:
        raise refuse(name, "at least one key", "an empty array")
    return typed


def seed_key(seed: int) -> jax.Array:
    """The ``jax.random`` key of an int seed in ``[0, 2**63)``, from every bit of it.

    ``jax.random.key(seed)`` keeps only the low 32 bits unless x64 is on, so
    ``2**32`` and ``0`` gave the same key. Seeds below ``2**32`` give exactly
    ``jax.random.key(seed)``. Larger ones give the key of the two 32-bit words
    ``(seed >> 32, seed & 0xFFFFFFFF)``: for the default ``threefry2x32`` that
    is what ``jax.random.key(seed)`` gives with x64 on (whatever the x64
    setting here); for other implementations the high word is folded in with
    ``jax.random.fold_in``.

    >>> import jax
    >>> bool((jax.random.key_data(seed_key(2**32)) != jax.random.key_data(seed_key(0))).any())
    True
    """
    high, low = seed >> 32, seed & 0xFFFFFFFF
    config: Any = jax.config
    if config.jax_default_prng_impl == "threefry2x32":  # its key data is the two words: no program compiled
        return jax.random.wrap_key_data(jax.device_put(np.array([high, low], np.uint32)))
    base = jax.random.key(low)  # pragma: no cover - other PRNG implementations
    return base if high == 0 else jax.random.fold_in(base, high)  # pragma: no cover

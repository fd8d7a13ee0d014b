"""The argument checks of :func:`jaxnet.sweep` that look at every net or at the learning rates.

They run on the host before any training (the compiled sweep has no Python
checks), with the messages of :mod:`jaxnet._checks`.

>>> import numpy as np
>>> learning_rates([0.1, 0.5], np.float32).tolist()
[0.10000000149011612, 0.5]
>>> learning_rates([0.1, -0.5], np.float32)
Traceback (most recent call last):
...
ValueError: learning_rates[1]: expected a number >= 0, got -0.5
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import _checks
from jaxnet import _kernels as kernels
from jaxnet._validate import as_array, check_numeric, overflow_error
from jaxnet.spec import Params

KERNELS = ("auto", "broadcast", "dense")


def learning_rates(rates: Any, dtype: Any) -> jax.Array:
    """Learning rates as a 1-D array of ``dtype``; refuses non-finite (in ``dtype``) and negative values.

    Zero is accepted (a net that does not move is a legitimate control).
    """
    lr = as_array("learning_rates", rates)
    check_numeric("learning_rates", lr)
    if len(lr.shape) > 1:
        raise _checks.refuse("learning_rates", "a scalar or a 1-D array of K rates", f"shape {tuple(lr.shape)}")
    if 0 in lr.shape:
        raise _checks.refuse("learning_rates", "at least one rate", "an empty array")
    with np.errstate(over="ignore", invalid="ignore"):
        values = np.asarray(lr).astype(dtype).reshape(-1)
    _checks.finite("learning_rates", values, f"finite values in {np.dtype(dtype).name} (the params' dtype)")
    negative = np.flatnonzero(values < 0)
    if negative.size:
        i = int(negative[0])
        _checks.number("learning_rates" if lr.ndim == 0 else f"learning_rates[{i}]", values[i].item(), low=0.0)
    return jnp.asarray(values)


def nets(name: str, n: int, k: int) -> int:
    """K, the common count of nets: ``n`` (``name``'s entries) and ``k`` must each be 1 or the same."""
    if n != 1 and k != 1 and n != k:
        raise _checks.refuse(name, f"1 or K={k} entries to match the other arguments", n)
    return max(n, k)


def check_mesh(mesh: Any, device: Any) -> None:
    """A ``jax.sharding.Mesh`` or None, and not with a ``device``."""
    if mesh is not None and not isinstance(mesh, jax.sharding.Mesh):
        raise _checks.refuse("mesh", "a jax.sharding.Mesh or None", type(mesh).__name__, TypeError)
    if mesh is not None and device is not None:
        raise ValueError("device: give a mesh (its devices) or one device, not both")


def check_kernel(kernel: Any) -> str:
    """One of :data:`KERNELS`."""
    return str(_checks.one_of("kernel", kernel, KERNELS))


@jax.jit
def _finite_flags(stacked: Params) -> dict[str, jax.Array]:
    return {n: jnp.all(jnp.isfinite(v), axis=tuple(range(1, v.ndim))) for n, v in stacked.items()}


def check_all_nets(stacked: Params) -> None:
    """Refuse NaN/inf in any net (``prepare`` checks net 0 only), in the dtype training uses."""
    for name, ok in _finite_flags(stacked).items():
        bad = np.flatnonzero(~np.asarray(ok))
        if bad.size:
            raise _checks.refuse(
                f"params['{name}']",
                f"finite values in {stacked[name].dtype} in every net",
                f"NaN/inf in {bad.size} net(s), first {bad[:5].tolist()}",
            )


@partial(jax.jit, static_argnames=("activation", "head"))
def _initial_losses(stacked: Params, x: jax.Array, y: jax.Array, activation: str, head: str) -> jax.Array:
    """The loss of every net before any step, ``(K,)`` (256 nets at a time)."""
    return jax.lax.map(
        lambda p: kernels.loss({n: v.astype(x.dtype) for n, v in p.items()}, x, y, None, activation, head),
        stacked,
        batch_size=256,
    )


def check_start(stacked: Params, x: jax.Array, y: jax.Array, activation: str, head: str) -> None:
    """Refuse finite inputs whose loss overflows before any step (as :func:`jaxnet.loss` does), naming the input."""
    bad = np.flatnonzero(~np.isfinite(np.asarray(_initial_losses(stacked, x, y, activation, head))))
    if bad.size:
        net = {n: v[int(bad[0])].astype(x.dtype) for n, v in stacked.items()}
        err = overflow_error(net, x, y)
        k = stacked["W1"].shape[0]
        where = f", in {bad.size} of {k} nets, first net {int(bad[0])}" if k > 1 else ""
        raise ValueError(f"{err} (before any step{where})")

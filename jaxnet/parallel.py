"""Data-parallel training with ``jax.sharding``: the batch split over devices.

``fit(..., mesh=data_parallel_mesh())`` places the examples with
``NamedSharding(mesh, PartitionSpec("data"))`` (rows split across the mesh's
``"data"`` axis) and the parameters and optimizer state with
``NamedSharding(mesh, PartitionSpec())`` (replicated). XLA's SPMD partitioner
then compiles the same training loop for every device and inserts the
all-reduce that sums each device's share of the gradient; the result equals
single-device training up to floating-point summation order.

The number of examples (full batch) or ``batch_size`` must be a multiple of
the number of devices; ``fit`` raises a ``ValueError`` otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from jaxnet.distributed import place_local
from jaxnet.network import multiply_adds

__all__ = ["data_parallel_mesh", "check_mesh", "place", "small_problem_device", "CROSSOVER_WORK"]


def data_parallel_mesh(devices: Sequence[jax.Device] | None = None) -> jax.sharding.Mesh:
    """A one-axis mesh named ``"data"`` over ``devices`` (default: all of ``jax.devices()``).

    On several hosts, call ``jax.distributed.initialize()`` first; then
    ``jax.devices()`` lists every host's devices and the mesh spans them all.

    >>> import jaxnet
    >>> mesh = jaxnet.data_parallel_mesh()
    >>> mesh.axis_names
    ('data',)
    """
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices: expected at least one jax.Device, got an empty sequence")
    return jax.sharding.Mesh(np.asarray(devices), ("data",))


def check_mesh(mesh: jax.sharding.Mesh, n: int, batch_size: int | None) -> None:
    """The batch (all ``n`` examples, or ``batch_size``) must split evenly over the ``"data"`` devices.

    With minibatches, the full set's ``n`` must split too (the rows are placed
    before they are drawn).
    """
    devices = int(mesh.shape["data"])
    for rows, what in ((batch_size, "batch_size"), (n, "the number of examples (x.shape[0])")):
        if rows is not None and rows % devices:
            raise ValueError(
                f"mesh: {what} = {rows} is not divisible by the mesh's {devices} 'data' devices; "
                f"use a multiple of {devices} (drop or pad examples)"
            )


_DATA = ("x", "y", "sample_weight")


def _put(a: Any, where: jax.sharding.Sharding, name: str) -> Any:
    """``jax.device_put``; on a mesh over several processes JAX checks that every process passed the same
    value (an all-gather), and a difference is reported as a ValueError naming the argument."""
    if a is None:
        return None
    try:
        return jax.device_put(a, where)
    except AssertionError:  # jax.experimental.multihost_utils.assert_equal: the processes disagree
        raise ValueError(
            f"{name}: expected the same value on every process of the mesh, got values that differ between "
            "processes; pass the same full data everywhere, or each process's own rows with local_rows=True"
        ) from None


def place(
    mesh: jax.sharding.Mesh | None, device: Any, carry: Any, data: tuple, key: Any, local_rows: bool = False
) -> tuple[Any, tuple, Any]:
    """Put the training carry, the data and the key where ``fit`` runs.

    On a mesh: examples split over ``"data"`` (``PartitionSpec("data")``), the
    rest replicated (``PartitionSpec()``); with ``local_rows`` the data are
    this process's rows only (:func:`jaxnet.distributed.place_local`). On a
    ``device``: everything there. Otherwise: unchanged (JAX's default device).
    """
    if mesh is not None:
        replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        rows = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
        placed = place_local(mesh, data)[0] if local_rows else tuple(_put(a, rows, n) for a, n in zip(data, _DATA))
        if key is not None:  # a typed key goes as its raw data: device_put refuses keys for other processes' devices
            raw = _put(np.asarray(jax.random.key_data(key)), replicated, "key")
            key = jax.random.wrap_key_data(raw, impl=jax.random.key_impl(key))
        return _put(carry, replicated, "params"), placed, key
    if device is not None:
        return jax.device_put((carry, data, key), device)
    return carry, data, key


CROSSOVER_WORK = 1 << 20
"""Multiply-adds per training step (batch x sum of in x out over layers) below which the walkthrough and the
CLI run on the CPU of an accelerator machine. Measured on an H200 (``benchmarks/RESULTS-gpu.md``, "fit on
the GPU vs on the CPU"): per step the GPU wins from about 2e4 multiply-adds, but its first call compiles
0.85-3.6 s against 0.3-0.7 s on the CPU, which it repays after ~17,000 steps at 2.4e5, ~4,650 at 3.1e6,
~2,350 at 2.5e7 and ~750 at 6.8e8. 2**20 is a judgement between those two crossovers, not an optimum."""


def small_problem_device(sizes: Sequence[int], batch: int) -> tuple[jax.Device | None, str]:
    """``(jax.devices("cpu")[0], one line saying so)`` for a problem below :data:`CROSSOVER_WORK` when JAX's
    default backend is an accelerator; ``(None, "")`` otherwise (CPU-only machines, big problems).

    >>> small_problem_device((2, 3, 1), 1)[0] is None or small_problem_device((2, 3, 1), 1)[0].platform == "cpu"
    True
    """
    work = multiply_adds(sizes, batch)
    if jax.default_backend() == "cpu" or work >= CROSSOVER_WORK:
        return None, ""
    note = (
        f"running on the CPU: {work:,} multiply-adds per step is below the {jax.default_backend().upper()} "
        f"crossover ({CROSSOVER_WORK:,}), where kernel launches cost more than the arithmetic"
    )
    return jax.devices("cpu")[0], note

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

from typing import Sequence

import jax
import numpy as np

__all__ = ["data_parallel_mesh"]


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

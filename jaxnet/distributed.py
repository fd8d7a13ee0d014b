"""Training over several processes (hosts) with ``jax.distributed``: the pieces ``fit`` and ``sweep`` use.

Every process runs the same program. After ``jax.distributed.initialize(...)``
``jax.devices()`` lists every process's devices, and a mesh over them
(:func:`jaxnet.data_parallel_mesh`) spans all processes; ``fit(..., mesh=mesh)``
then runs one SPMD program whose gradient all-reduce crosses processes.

What this module adds on top of JAX:

* :func:`local_rows`: which rows of the global data set a process holds
  (``fit(..., mesh=mesh, local_rows=True)`` takes only those, and builds the
  global arrays with ``jax.make_array_from_process_local_data``);
* :func:`agree`: one small collective between chunks that tells every
  process which process wants to stop (Ctrl-C, a callback, early stopping),
  so that all of them stop at the same step instead of one leaving the
  others waiting in the next all-reduce;
* :func:`to_local`: results as ordinary single-device arrays on every process;
* :func:`gather`: per-device results (``sweep``'s share of nets) joined and
  copied to every process.

Start every process with :func:`initialize` (``jax.distributed.initialize``
with the process count and id also read from the environment). Without
``local_rows``, every process must pass the same full data: JAX checks that
by gathering each value placed on the mesh from every process, once per
``fit``.

A process that dies mid-training is seen by the others as a failed
collective (gloo: "Connection closed by peer") within milliseconds on one
machine, which ``fit`` raises as :class:`jaxnet.PeerStopped`; a host that
vanishes from the network is declared dead by the coordinator after
``heartbeat_timeout_seconds`` (an argument of ``jax.distributed.initialize``,
100 s by default in jax 0.10.2), which then terminates the other processes.

>>> import jaxnet
>>> mesh = jaxnet.data_parallel_mesh()
>>> spans_processes(mesh)  # one process here: nothing crosses processes
False
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import jax
import numpy as np

from jaxnet._checks import count, refuse

__all__ = [
    "initialize",
    "local_rows",
    "spans_processes",
    "to_local",
    "agree",
    "gather",
    "place_local",
    "sigint_as_flag",
]


ENV = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")
"""The environment variables :func:`initialize` reads when its arguments are not given. jax 0.10.2 reads the
first itself; the process count and id it takes only from cluster managers (Slurm, Open MPI, Kubernetes,
Cloud TPU), so jaxnet reads the other two, named the same way, for everything else."""


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    **kwargs: Any,
) -> None:
    """``jax.distributed.initialize`` with the count and id also read from the environment (:data:`ENV`).

    Call it first in every process, before any other JAX call. Arguments win
    over ``JAX_COORDINATOR_ADDRESS`` (``host:port`` of process 0),
    ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``; what neither gives is left to
    JAX's cluster detection (Slurm, Open MPI, Kubernetes, Cloud TPU).
    ``kwargs`` go to ``jax.distributed.initialize`` (e.g.
    ``heartbeat_timeout_seconds``, 100 by default: how long the coordinator
    waits before declaring a silent process dead). On CPUs JAX 0.10.2 uses
    gloo collectives by default (``jax_cpu_collectives_implementation``).

    Two processes on one machine::

        JAX_COORDINATOR_ADDRESS=127.0.0.1:12345 JAX_NUM_PROCESSES=2 JAX_PROCESS_ID=0 python train.py &
        JAX_COORDINATOR_ADDRESS=127.0.0.1:12345 JAX_NUM_PROCESSES=2 JAX_PROCESS_ID=1 python train.py
    """

    def number(name: str, value: Any) -> int | None:
        if value is None:
            value = os.environ.get(f"JAX_{name.upper()}")
            if value is None:
                return None
        try:
            out = int(value)
        except (TypeError, ValueError):
            raise refuse(name, "a whole number", repr(value)) from None
        return count(name, out, low=1 if name == "num_processes" else 0, high=None)

    n, i = number("num_processes", num_processes), number("process_id", process_id)
    if n is not None and i is not None and i >= n:
        raise refuse("process_id", f"an id below num_processes={n}", i)
    jax.distributed.initialize(coordinator_address, n, i, **kwargs)


def spans_processes(mesh: jax.sharding.Mesh | None) -> bool:
    """Whether ``mesh`` holds devices of more than one process (so its arrays are not fully addressable)."""
    return mesh is not None and len({d.process_index for d in mesh.devices.flat}) > 1


def _my_positions(mesh: jax.sharding.Mesh) -> list[int]:
    """Positions (along the flattened ``"data"`` axis) of this process's devices in ``mesh``."""
    me = jax.process_index()
    return [i for i, d in enumerate(mesh.devices.flat) if d.process_index == me]


def local_rows(n: int, mesh: jax.sharding.Mesh) -> slice:
    """The rows of an ``n``-row global data set that this process holds when the rows are split over ``mesh``.

    Rows are split evenly over the mesh's ``"data"`` devices in mesh order;
    this process holds the rows of its own devices, which must be contiguous
    in the mesh (as in :func:`jaxnet.data_parallel_mesh`, which lists devices
    process by process). Load ``x[local_rows(n, mesh)]`` and pass it with
    ``fit(..., mesh=mesh, local_rows=True)``.

    >>> import jaxnet
    >>> from jaxnet.distributed import local_rows
    >>> local_rows(12, jaxnet.data_parallel_mesh())  # one process holds every row
    slice(0, 12, None)
    """
    size = mesh.devices.size
    if n % size:
        raise ValueError(
            f"n: {n} rows do not split evenly over the mesh's {size} 'data' devices; use a multiple of {size}"
        )
    mine = _my_positions(mesh)
    if not mine or mine != list(range(mine[0], mine[0] + len(mine))):
        raise ValueError(f"mesh: this process's devices must be one contiguous block of the mesh, got {mine}")
    per = n // size
    return slice(mine[0] * per, (mine[-1] + 1) * per)


def place_local(mesh: jax.sharding.Mesh, data: tuple) -> tuple[tuple, int]:
    """``(global arrays, global row count)`` from this process's rows, split over ``"data"``.

    Every process passes its own ``(n_local, ...)`` rows (``None`` entries
    stay ``None``); ``jax.make_array_from_process_local_data`` assembles the
    global ``(n_local * devices / local devices, ...)`` arrays without copying
    any row to another process.
    """
    rows = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    mine = len(_my_positions(mesh))
    n_local = int(data[0].shape[0])
    if not mine or n_local % mine:
        raise ValueError(
            f"x: local_rows=True needs this process's rows to split over its {mine} mesh device(s), got {n_local} rows"
        )
    n = n_local // mine * mesh.devices.size
    out = tuple(
        None if a is None else jax.make_array_from_process_local_data(rows, np.asarray(a), (n, *a.shape[1:]))
        for a in data
    )
    return out, n


def to_local(tree: Any) -> Any:
    """Every array of ``tree`` that spans several processes, as the copy on this process's first device.

    Only for replicated arrays (parameters, optimizer state): each device holds
    the whole value. Other leaves are returned unchanged.
    """

    def one(a: Any) -> Any:
        if isinstance(a, jax.Array) and not a.is_fully_addressable and a.is_fully_replicated:
            return a.addressable_data(0)
        return a

    return jax.tree.map(one, tree)


@lru_cache(maxsize=64)
def _replicate(mesh: jax.sharding.Mesh) -> Any:
    """A compiled identity whose output is replicated over ``mesh``: an all-gather."""
    return jax.jit(lambda a: a, out_shardings=jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))


def gather(mesh: jax.sharding.Mesh, shards: Sequence[Any]) -> Any:
    """Join per-device pytrees along axis 0 and give every process the whole result.

    ``shards[j]`` is the pytree computed on this process's ``j``-th device of
    ``mesh`` (in mesh order), every leaf with the same shape on every device.
    Returns the concatenation over all the mesh's devices, in mesh order, as
    arrays on this process's first device.
    """
    size = mesh.devices.size
    rows = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    wholes = [
        jax.make_array_from_single_device_arrays((parts[0].shape[0] * size, *parts[0].shape[1:]), rows, list(parts))
        for parts in zip(*(jax.tree.leaves(s) for s in shards))
    ]
    out = [a.addressable_data(0) for a in _replicate(mesh)(wholes)]  # one all-gather program for every leaf
    return jax.tree.unflatten(jax.tree.structure(shards[0]), out)


def agree(mesh: jax.sharding.Mesh, flags: Sequence[int]) -> np.ndarray:
    """Every process's ``flags``: an ``(processes, F)`` int array, row ``p`` from process ``p`` of the mesh.

    One small all-gather over the mesh's devices; every process of the mesh
    must call it at the same point with the same ``F``.
    """
    local = np.asarray(flags, np.int32)[None]
    mine = len(_my_positions(mesh))
    rows = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    whole = jax.make_array_from_process_local_data(
        rows, np.repeat(local, mine, axis=0), (mesh.devices.size, local.shape[1])
    )
    every = np.asarray(_replicate(mesh)(whole).addressable_data(0))
    processes = sorted({d.process_index for d in mesh.devices.flat})
    first = {p: next(i for i, d in enumerate(mesh.devices.flat) if d.process_index == p) for p in processes}
    return np.stack([every[first[p]] for p in processes])


@contextlib.contextmanager
def sigint_as_flag(active: bool) -> Iterator[list[bool]]:
    """While active (and in the main thread), a first Ctrl-C sets ``flag[0]`` instead of raising.

    So Ctrl-C never lands in the middle of a collective; the training loop
    reads the flag between chunks and tells the other processes (:func:`agree`).
    A second Ctrl-C raises ``KeyboardInterrupt`` as usual.
    """
    flag = [False]
    if not active or threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: Any) -> None:
        flag[0] = True
        signal.signal(signal.SIGINT, previous)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)

"""Data-parallel training over every device, checked against one device.

On a CPU, simulate 8 devices (the flag must be set before JAX starts):

    XLA_FLAGS=--xla_force_host_platform_device_count=8 python examples/data_parallel.py

On a machine with several GPUs run it as it is. Over several processes (hosts), start it in every process
with ``JAXNET_DISTRIBUTED=1``: it then calls :func:`jaxnet.distributed.initialize` first, which reads
``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``, and each process passes only its
own rows (``local_rows=True``). Two processes on one machine:

    export JAXNET_DISTRIBUTED=1 JAX_COORDINATOR_ADDRESS=127.0.0.1:12345 JAX_NUM_PROCESSES=2
    JAX_PROCESS_ID=0 python examples/data_parallel.py & JAX_PROCESS_ID=1 python examples/data_parallel.py; wait

The breast-cancer training set is cut to a multiple of the device count (fit refuses a batch that does not
split evenly) and trained full-batch on the mesh and on one device; the exit code is 0 when the two agree.
"""

import os

import jax
import numpy as np
import optax

import jaxnet
from jaxnet.data import standardize, train_test_split


def main() -> int:
    distributed = bool(os.environ.get("JAXNET_DISTRIBUTED"))
    if distributed:  # coordinator, process count and id from the environment (or a cluster manager)
        jaxnet.distributed.initialize()
    mesh = jaxnet.data_parallel_mesh()
    devices = mesh.shape["data"]
    x, y, _ = jaxnet.data.load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(x, y, seed=0)
    x_train, x_test = standardize(x_train, x_test)
    keep = len(x_train) - len(x_train) % devices
    x_train, y_train = x_train[:keep], y_train[:keep]
    print(f"{devices} device(s): {[str(d) for d in mesh.devices.flat][:4]}{' ...' if devices > 4 else ''}")
    print(f"training on {keep} examples ({keep // devices} per device)")
    if distributed:
        print(f"process {jax.process_index()} of {jax.process_count()}")

    params = jaxnet.init_mlp(jax.random.key(0), (30, 16, 16, 1))
    optimizer = optax.sgd(0.1)
    # several processes: each passes only its own rows (a real job would load only those)
    mine = jaxnet.distributed.local_rows(keep, mesh) if distributed else slice(None)
    sharded, _, history = jaxnet.fit(
        params, x_train[mine], y_train[mine], steps=300, optimizer=optimizer, mesh=mesh, local_rows=distributed,
        progress=False,
    )  # fmt: skip
    single, _, _ = jaxnet.fit(params, x_train, y_train, steps=300, optimizer=optimizer, progress=False)
    worst = max(float(np.max(np.abs(np.asarray(sharded[k]) - np.asarray(single[k])))) for k in params)
    accuracy = float(np.mean((np.asarray(jaxnet.forward(sharded, x_test))[:, 0] > 0.5) == (y_test > 0.5)))
    print(f"loss {history['loss'][0]:.4f} -> {history['loss'][-1]:.4f}, test accuracy {accuracy:.3f}")
    print(f"parameters: {sharded['W1'].sharding}")
    print(f"largest difference from one-device training: {worst:.1e} (float32)")
    return 0 if worst <= 1e-5 else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""One process of tests/test_distributed.py: ``python distributed_worker.py PORT PROCESSES ID OUT_DIR [SKIP]``.

Joins a ``jax.distributed`` group on 127.0.0.1 (CPU, gloo collectives, one device per process) and runs every
scenario in turn (but those named in the comma-separated SKIP), one jax import for all of them. Each scenario writes ``OUT_DIR/<scenario>.<id>.npz`` (arrays)
and ``.json`` (facts); the test compares them with one-process runs it makes itself. The last scenario kills
the last process on purpose.
"""

import json
import os
import signal
import sys
import time
import warnings

T0 = time.perf_counter()
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_cpu_collectives_implementation", "gloo")
port, processes, me, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
SKIP = set(sys.argv[5].split(",")) if len(sys.argv) > 5 else set()
jax.distributed.initialize(f"127.0.0.1:{port}", processes, me)  # default heartbeat: a busy machine is no death

import numpy as np  # noqa: E402
import optax  # noqa: E402

import jaxnet  # noqa: E402
from jaxnet.distributed import local_rows  # noqa: E402


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6))
    return x, (x[:, 0] - x[:, 2] > 0).astype(float)


def start():
    return jaxnet.init_mlp(jax.random.key(1), (6, 16, 8, 1), dtype=jax.numpy.float64)


def write(name, arrays, **facts):
    print(f"{time.perf_counter() - T0:.1f} s: {name}", flush=True)
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    np.savez(os.path.join(out, f"{name}.{me}.npz"), **arrays)
    with open(os.path.join(out, f"{name}.{me}.json"), "w") as f:
        json.dump(facts, f)


def local(tree):
    """Every returned array is an ordinary single-device array of this process."""
    return all(a.is_fully_addressable and len(a.devices()) == 1 for a in jax.tree.leaves(tree))


def history_facts(h):
    return {"stopped": h["stopped"], "steps_done": h["steps_done"], "best_step": h["best_step"]}


SGD = optax.sgd(0.2)
mesh = jaxnet.data_parallel_mesh()
assert mesh.devices.size == processes * jax.local_device_count(), mesh
x, y = data()

# full batch and minibatches over the mesh, every process passing all rows
for name, kw in (("full", {}), ("minibatch", {"batch_size": 16, "key": 2})):
    if name in SKIP:
        continue
    p, s, h = jaxnet.fit(start(), x, y, steps=40, optimizer=SGD, progress=False, mesh=mesh, **kw)
    write(name, {**p, "loss": h["loss"]}, local=local((p, s)), **history_facts(h))

# each process passes only its own rows
rows = local_rows(len(x), mesh)
p, s, h = jaxnet.fit(
    start(), x[rows], y[rows], steps=40, optimizer=SGD, progress=False, mesh=mesh, local_rows=True,
    batch_size=16, key=2,
)  # fmt: skip
write("local_rows", {**p, "loss": h["loss"]}, local=local((p, s)), rows=[rows.start, rows.stop], **history_facts(h))

# different labels on each process without local_rows: refused, naming y, on every process
try:
    jaxnet.fit(start(), x, np.roll(y, me), steps=40, optimizer=SGD, progress=False, mesh=mesh)
except ValueError as e:
    write("different_y", {}, error=str(e))
else:
    write("different_y", {}, error=None)

# identity targets of 1e30: the first loss overflows float32; refused naming y on every process (not PeerStopped)
try:
    jaxnet.fit(
        jaxnet.init_mlp(0, (6, 8, 1), dtype=np.float32), x.astype(np.float32), np.full((len(x), 1), 1e30, np.float32),
        head="identity", steps=10, progress=False, mesh=mesh,
    )  # fmt: skip
except Exception as e:  # noqa: BLE001 -- the type is what the test looks at
    write("overflow", {}, error=type(e).__name__, message=str(e))
else:
    write("overflow", {}, error=None)

# early stopping on a validation set whose labels are flipped (its loss rises as training learns)
val = (x[:16], 1 - y[:16])
p, s, h = jaxnet.fit(
    start(), x, y, steps=200, optimizer=SGD, progress=False, mesh=mesh, validation=val, eval_every=5,
    early_stopping=2,
)  # fmt: skip
write("early", {**p, "val_loss": h["val_loss"]}, **history_facts(h))


# a callback that stops training on the last process only: every process stops at the same step
def stop_on_last(step, params, history):
    return me == processes - 1 and step >= 30


p, s, h = jaxnet.fit(
    start(), x, y, steps=200, chunk=10, optimizer=SGD, progress=False, mesh=mesh, callback=stop_on_last
)
write("callback_stop", p, **history_facts(h))

# K = 5 nets split over the processes; the last net diverges (learning rate 1e4)
if "sweep" not in SKIP:
    rates = np.array([0.05, 0.1, 0.2, 0.5, 1e4])
    keys = jax.random.split(jax.random.key(3), 5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ps, losses, diverged = jaxnet.sweep(
            x, y, sizes=(6, 8, 1), keys=keys, learning_rates=rates, steps=30, dtype=jax.numpy.float64, mesh=mesh
        )
    write(
        "sweep",
        {**ps, "losses": losses, "diverged": diverged},
        local=local((ps, losses, diverged)),
        warnings=[str(w.message) for w in caught],
    )

# params sharded over the processes (each holds part of W1): the value checks read back only what this process
# holds (np.asarray of another process's part raises)
rows_spec = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
whole = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
split_params = {
    k: jax.device_put(v, rows_spec if v.shape[0] % mesh.devices.size == 0 else whole) for k, v in start().items()
}
facts = {"sharded": not split_params["W1"].is_fully_addressable}
try:
    jaxnet.validate(split_params, x)
    facts["ok"] = "passed"
except Exception as e:  # noqa: BLE001 -- what a process raised is what the test looks at
    facts["ok"] = f"{type(e).__name__}: {e}"
write("sharded_params", {}, **facts)

# every process saves to the same path: one writer
path = os.path.join(out, "shared.safetensors")
wrote = jaxnet.save(path, p, metadata={"step": 1})
write("save", {}, wrote=wrote)


# divergence (learning rate 50): every process keeps the same last finite state and says so
if "diverged" not in SKIP:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p, s, h = jaxnet.fit(start(), x, y, steps=40, optimizer=optax.sgd(50.0), progress=False, mesh=mesh)
    write("diverged", {**p, "loss": h["loss"]}, warnings=[str(w.message) for w in caught], **history_facts(h))


# Ctrl-C in the last process (a SIGINT it sends itself at step 30), then a callback that raises there
def interrupt_last(step, params, history):
    if me == processes - 1 and step >= 30:
        os.kill(os.getpid(), signal.SIGINT)


def raise_on_last(step, params, history):
    if me == processes - 1 and step >= 20:
        raise OSError("disk full")


for name, callback in (("interrupt", interrupt_last), ("callback_raises", raise_on_last)):
    try:
        jaxnet.fit(start(), x, y, steps=200, chunk=10, optimizer=SGD, progress=False, mesh=mesh, callback=callback)
    except (jaxnet.TrainingInterrupted, jaxnet.CallbackError, jaxnet.PeerStopped) as e:
        write(name, e.params, error=type(e).__name__, message=str(e), steps_done=e.history["steps_done"])
    else:
        write(name, {}, error=None)


# the last process dies at step 30 (its callback exits): the others stop with an error, not a hang
def die_on_last(step, params, history):
    if me == processes - 1 and step >= 30:
        os._exit(0)


started = time.perf_counter()
try:
    jaxnet.fit(start(), x, y, steps=200, chunk=10, optimizer=SGD, progress=False, mesh=mesh, callback=die_on_last)
except Exception as e:  # noqa: BLE001 -- whatever the runtime raises is what the test looks at
    steps = getattr(e, "history", {}).get("steps_done")
    write("peer_died", {}, error=type(e).__name__, message=str(e), seconds=time.perf_counter() - started, steps=steps)
else:
    write("peer_died", {}, error=None)
os._exit(0)  # skip jax.distributed's shutdown barrier, which would wait for the dead process

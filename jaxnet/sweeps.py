"""``sweep``: train K networks at once, one compiled program, vectorised over nets.

Typical use: 1000 random initialisations of the worked-example net, or one
net at 100 learning rates. Every net sees the same full batch ``(x, y)`` and
takes plain SGD steps with the hand-derived gradient (the delta recursion of
:func:`jaxnet.manual_grads`; activation and head from :mod:`jaxnet.network`).

Two kernels, chosen by the work of one net-step, ``w = N * sum_l in_l * out_l``
(examples times weights, :func:`jaxnet._sweep_kernels.net_step_work`):

- ``"broadcast"`` (``w <= 256``: tiny nets and batches, e.g. the worked
  example's 2-3-1 net on one example, ``w = 9``): every array keeps the net
  index as its *last* axis (``W_l: (out, in, K)``, activations
  ``(N, width, K)``) and each layer is a broadcast multiply-add that XLA fuses
  into a few loops over K, the layout a vectorised C loop would use. Its
  ``(N, out, in, K)`` products grow with ``w``, so it only suits small ``w``.
  It is the same forward and delta recursion as every other gradient
  (:func:`jaxnet._kernels.forward`, :func:`jaxnet._kernels.backward`), given
  broadcast primitives (:data:`jaxnet._sweep_kernels.BROADCAST`).
- ``"dense"`` (``w > 256``, e.g. moons 800 x 2-16-16-1, ``w = 243,200``):
  ``jax.vmap`` over nets of the ordinary per-net step
  (:func:`jaxnet._kernels.value_and_grads`, then ``p - lr g``): the first
  layer is one matmul for all nets of a block (``x`` is shared), the others
  ``dot_general`` with the net axis as batch axis.

The threshold comes from timing both kernels per net-step on a 2-core CPU
(float32, K = 256) at work on either side of it: broadcast is the faster
below it, dense above. ``kernel="broadcast"`` or ``"dense"`` forces one;
to time them on your machine, see ``benchmarks/sweep.py`` (the sweep's
own timings are in ``benchmarks/RESULTS.md``, section 2, "Learning-rate
sweep").

Blocks of nets: on a CPU the nets are trained a cache-sized block at a time
(all steps for one block, then the next): 256 nets for the broadcast kernel,
and for the dense kernel as many nets as fit a 256 KiB working set (one net
at a time for moons or breast cancer, where batching nets measured slower
than one net after another). On a GPU/TPU all K nets train at once, or in
as few equal blocks as a quarter of the device's memory allows.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial
from typing import Any, Literal

import jax
import jax.numpy as jnp

from jaxnet import _checks
from jaxnet import _sweep_checks as checks
from jaxnet import _sweep_kernels as sk
from jaxnet._options import execution_context
from jaxnet._recording import sweep_record_every
from jaxnet._validate import as_array, check_params, check_sizes, prepare, resolve_spec
from jaxnet.cache import use_default_cache
from jaxnet.distributed import gather
from jaxnet.errors import DIVERGENCE_FACTOR, DivergenceWarning, TrainingInterrupted
from jaxnet.model import init_mlp
from jaxnet.spec import Model, Params

__all__ = ["sweep"]

_MAX_LOSS_BYTES = 2**30  # a larger loss buffer is refused


def _record_every(record_every: Any, steps: int, k: int, itemsize: int) -> int:
    """Check ``record_every`` (``"auto"`` or a positive divisor of ``steps``) and the loss buffer's size."""
    if isinstance(record_every, str) and record_every == "auto":
        record_every = sweep_record_every(steps, k, itemsize)
    else:
        record_every = _checks.count("record_every", record_every)
        if steps % record_every:
            raise ValueError(
                f'record_every: expected "auto" or a positive divisor of steps={steps}, got {record_every}'
            )
    size = k * (steps // record_every) * itemsize
    if size > _MAX_LOSS_BYTES:
        raise ValueError(
            f"record_every: recording every {record_every} step(s) keeps K={k} x {steps // record_every} losses "
            f"({size / 1e9:.2f} GB), over the {_MAX_LOSS_BYTES / 2**30:g} GiB limit; record less often "
            f'(a larger divisor of steps={steps}) or use record_every="auto"'
        )
    return record_every


# --- argument checks -----------------------------------------------------------------------------------


def _as_keys(keys: Any) -> jax.Array:
    """``keys`` as a ``(K,)`` array of typed jax keys (legacy ``(K, 2)`` uint32 keys are wrapped)."""
    from jaxnet._keys import as_keys  # the one coercion of keys, beside as_key

    return as_keys(keys)


@partial(jax.jit, static_argnames=("sizes", "dtype", "init"))
def _init_many(keys: jax.Array, sizes: tuple[int, ...], dtype: Any, init: Any) -> Params:
    """``init_mlp(keys[k], sizes)`` for every key, compiled once per (sizes, dtype, init)."""
    return jax.vmap(lambda key: init_mlp(key, sizes, dtype=dtype, init=init))(keys)


def _stack(params: Any, sizes: Any, keys: Any, init: str, dtype: Any) -> Params:
    """The starting parameters with a leading net axis (1 or K) on every array."""
    if (keys is None) == (params is None):
        raise ValueError("sweep: give exactly one of keys= (with sizes=) or params=")
    if keys is not None:
        if sizes is None:
            raise ValueError("sizes: required with keys= (the layer widths of every net), got None")
        try:
            hash(dtype)
        except TypeError:
            raise TypeError(f"dtype: expected None or a floating dtype such as jnp.float32, got {dtype!r}") from None
        return _init_many(_as_keys(keys), check_sizes(sizes), dtype, init if isinstance(init, str) else repr(init))
    if sizes is not None:
        raise ValueError(f"sizes: only used with keys= (params= fixes the sizes), got {sizes!r}")
    if not isinstance(params, dict):
        raise TypeError(f"params: expected a dict {{'W1', 'b1', ..., 'WL', 'bL'}}, got {type(params).__name__}")
    single = len(getattr(params.get("W1"), "shape", (0, 0))) == 2
    stacked = {n: jnp.asarray(as_array(f"params['{n}']", v)) for n, v in params.items()}
    if single:
        return {n: v[None] for n, v in stacked.items()}
    empty = [n for n, v in stacked.items() if v.ndim == 0 or v.shape[0] == 0]
    if empty:
        raise ValueError(
            f"params: expected one net or a stack with a leading axis of K >= 1 on every array, "
            f"got {', '.join(f'{n} of shape {stacked[n].shape}' for n in empty)}"
        )
    return stacked


# --- the public function -------------------------------------------------------------------------------


def _leading(stacked: Params) -> str:
    """The leading axis of every array, for a message: ``"W1: 3, b1: 2, ..."``."""
    return ", ".join(f"{n}: {v.shape[0]}" for n, v in stacked.items())


def _train(
    stacked: Params, x: jax.Array, y: jax.Array, lr: jax.Array, k: int, plan: sk.Plan, device: Any, precision: Any
) -> tuple[Params, jax.Array, jax.Array]:
    """Run the compiled sweep on ``device`` at matmul ``precision``."""
    if device is not None:
        stacked, x, y, lr = jax.device_put((stacked, x, y, lr), device)
    with execution_context(device, precision):
        return sk.run(stacked, x, y, lr, k, plan)


def _train_split(
    stacked: Params,
    x: jax.Array,
    y: jax.Array,
    lr: jax.Array,
    k: int,
    mesh: Any,
    precision: Any,
    plan_for: Callable[[int, Any], sk.Plan],
) -> tuple[Params, jax.Array, jax.Array]:
    """The K nets split over the mesh's devices, ``ceil(K / D)`` each (the last net copied to fill up).

    Each process trains the nets of its own devices, with no communication;
    then one all-gather (:func:`jaxnet.distributed.gather`) gives every
    process all K results. ``plan_for(nets, device)`` is the plan of one
    device's share.
    """
    devices = list(mesh.devices.flat)
    per = -(-k // len(devices))
    total = per * len(devices)

    def grow(v: jax.Array) -> jax.Array:
        v = jnp.broadcast_to(v, (k,) + v.shape[1:])
        return jnp.concatenate([v, jnp.broadcast_to(v[-1:], (total - k,) + v.shape[1:])])

    stacked, lr = {n: grow(v) for n, v in stacked.items()}, grow(lr)
    shards = []
    for i, device in enumerate(devices):
        if device.process_index == jax.process_index():  # dispatched asynchronously: the devices run together
            part = slice(i * per, (i + 1) * per)
            mine = {n: v[part] for n, v in stacked.items()}
            shards.append(_train(mine, x, y, lr[part], per, plan_for(per, device), device, precision))
    out, losses, diverged = gather(mesh, shards)
    return {n: v[:k] for n, v in out.items()}, losses[:k], diverged[:k]


def sweep(
    x: Any,
    y: Any,
    *,
    steps: int,
    sizes: tuple[int, ...] | None = None,
    params: Params | Model | None = None,
    keys: jax.Array | None = None,
    learning_rates: Any = 0.1,
    init: str = "he",
    record_every: int | Literal["auto"] = "auto",
    dtype: Any = None,
    activation: str | None = None,
    head: str | None = None,
    kernel: Literal["auto", "broadcast", "dense"] = "auto",
    device: jax.Device | None = None,
    precision: Literal["default", "high", "highest"] | None = None,
    mesh: jax.sharding.Mesh | None = None,
) -> tuple[Params, jax.Array, jax.Array]:
    """Train K networks at once with full-batch SGD; one compiled program.

    Give the starting parameters one of two ways:

    - ``keys`` (a ``(K,)`` array of ``jax.random`` keys, e.g.
      ``jax.random.split(jax.random.key(0), K)``) with ``sizes`` (and
      ``init``, ``dtype``): net k starts from ``init_mlp(keys[k], sizes)``;
    - ``params``: one network (broadcast to every net) or a stack whose
      arrays have a leading axis of K, as a dict or a :class:`~jaxnet.Model`
      (whose activation and head are then used; ``activation=``/``head=``
      default to the model's, or ``"relu"``/``"sigmoid"``). Every net is
      checked for NaN/inf.

    ``learning_rates`` is a scalar or a 1-D array of K values, each finite and
    ``>= 0`` (0 is allowed: a control net that does not move). K is the common
    length of ``keys``/``params``/``learning_rates`` (each 1 or K). Every net
    takes ``steps`` steps ``theta <- theta - lr_k dL/dtheta`` on the same
    ``(x, y)``: exactly the steps of ``fit(params_k, x, y,
    optimizer=optax.sgd(lr_k))``.

    **Options:**

    - ``record_every``: record each net's loss before every this many steps (a
      divisor of ``steps``). ``"auto"`` (default) keeps about 1000 points per
      net, as ``fit``, and fewer when K is large, so that the losses take at
      most 256 MiB (:func:`jaxnet._recording.sweep_record_every`). A loss buffer over 1 GiB
      (``K * steps / record_every * itemsize``) is refused with the fix.
    - ``kernel``: ``"auto"`` picks ``"broadcast"`` when one net-step's work
      ``N * sum(in * out)`` is at most 256, else ``"dense"`` (see the module
      docstring). Both give the same numbers.
    - ``device``: the ``jax.Device`` to train on (default: JAX's default).
      On a CPU the nets are trained in cache-sized blocks, on a GPU/TPU all
      at once (or in as few blocks as memory allows).
    - ``mesh``: split the K nets over the devices of a ``jax.sharding.Mesh``
      (e.g. :func:`jaxnet.data_parallel_mesh`, also over several processes
      after ``jax.distributed.initialize``): ``ceil(K / D)`` nets per device,
      trained without communication, then gathered so that every process
      returns all K results (ordinary arrays on its first device). The
      numbers are those of the one-device sweep.
    - ``precision``: ``"default"``, ``"high"`` or ``"highest"``, the matmul
      precision (``jax.default_matmul_precision``) of the dense kernel; on a
      GPU ``"default"`` is TF32 for float32. ``None`` leaves JAX's setting.

    **Divergence:** net k diverges when its loss or parameters become NaN/inf,
    or its loss exceeds ``1e3 * max(initial loss, 1)``; checked before every
    recorded step and after the last step. A diverged net is not returned
    with NaN/inf parameters: it gets the last parameters that passed the
    check (at a recorded step; its start if the first check failed), and its
    losses are NaN from the first failed check on, so its last finite loss is
    the loss of the parameters returned. One
    :class:`jaxnet.DivergenceWarning` says how many of the K nets diverged.

    **Refused before training:** finite inputs whose loss overflows before any
    step (identity targets of 1e30 in float32, weights of 1e19): a
    ``ValueError`` naming the input, as :func:`jaxnet.loss` gives.

    **Ctrl-C:** :class:`jaxnet.TrainingInterrupted`, carrying the starting
    parameters (leading K axis; ``params`` as given if the checks had not
    finished) with ``history["steps_done"] == 0``, or the trained ones if
    training had finished. The nets train in one compiled program, so there
    is no state in between.

    **Returns:** ``(params, losses, diverged)``: ``params`` with a leading K
    axis on every array; ``losses`` of shape ``(K, steps // record_every)``,
    the loss of each net before every ``record_every``-th step; ``diverged``,
    a boolean ``(K,)`` array.

    >>> import jax, jax.numpy as jnp, jaxnet
    >>> p, x, y = jaxnet.seed_example()
    >>> ps, losses, diverged = jaxnet.sweep(
    ...     x, y, params=p, learning_rates=jnp.array([0.1, 0.5]), steps=10)
    >>> ps["W1"].shape, losses.shape, diverged.tolist()
    ((2, 3, 2), (2, 10), [False, False])
    """
    use_default_cache()  # the persistent compilation cache, unless turned off (jaxnet.cache)
    params, spec = resolve_spec(params, activation, head)  # a Model brings its spec
    activation, head = spec.activation, spec.head
    given = dict(locals())
    progress: dict[str, Any] = {"params": params, "steps_done": 0}
    try:
        return _sweep(given, progress)
    except KeyboardInterrupt:
        raise _interrupted(progress) from None


def _interrupted(progress: dict[str, Any]) -> TrainingInterrupted:
    """The ``TrainingInterrupted`` of a Ctrl-C, carrying ``progress``' parameters and history."""
    done = progress["steps_done"]
    return TrainingInterrupted(
        f"sweep: interrupted after {done} steps (one compiled program trains every net: nothing in between); "
        "the exception carries the parameters of that step (e.params, with a leading net axis once built; "
        "params as given before that) and e.history",
        progress["params"],
        None,
        {
            "loss": progress.get("losses"),
            "diverged": progress.get("diverged"),
            "steps_done": done,
            "stopped": "interrupted",
        },
    )


def _sweep(a: dict[str, Any], progress: dict[str, Any]) -> tuple[Params, jax.Array, jax.Array]:
    """:func:`sweep`'s work; ``progress`` holds the best state so far (for a Ctrl-C)."""
    steps, kernel, device, precision, mesh = a["steps"], a["kernel"], a["device"], a["precision"], a["mesh"]
    activation, head, params = a["activation"], a["head"], a["params"]
    steps = _checks.count("steps", steps)
    checks.check_kernel(kernel)
    checks.check_mesh(mesh, device)
    execution_context(device, precision)  # checks both before any work
    stacked = _stack(params, a["sizes"], a["keys"], a["init"], a["dtype"])
    progress["params"] = stacked
    one, x, y, _ = prepare({n: v[0] for n, v in stacked.items()}, a["x"], a["y"], activation=activation, head=head)
    x = x.reshape((-1, x.shape[-1]))  # one example is a batch of one
    y = y.reshape((x.shape[0], -1))  # (N, n_out)
    lr = checks.learning_rates(a["learning_rates"], x.dtype)
    k = checks.nets("learning_rates", lr.shape[0], int(stacked["W1"].shape[0]))
    if any(v.shape[0] != 1 and v.shape[0] != k for v in stacked.values()):
        raise _checks.refuse("params", f"a leading axis of 1 or K={k} on every array", _leading(stacked))
    if params is not None:
        checks.check_all_nets(stacked)
    every = _record_every(a["record_every"], steps, k, x.dtype.itemsize)
    layer_sizes = check_params(one)
    name = sk.choose_kernel(kernel, layer_sizes, x.shape[0])
    shapes = tuple((n, tuple(v.shape)) for n, v in one.items())

    def plan_for(nets: int, where: Any) -> sk.Plan:
        block = sk.block_size(name, nets, x.shape[0], layer_sizes, x.dtype.itemsize, where)
        return sk.Plan(name, shapes, steps // every, every, block, activation, head)

    with execution_context(device, precision):
        checks.check_start(stacked, x, y, activation, head)
    if mesh is None:
        out, losses, diverged = _train(stacked, x, y, lr, k, plan_for(k, device), device, precision)
    else:
        out, losses, diverged = _train_split(stacked, x, y, lr, k, mesh, precision, plan_for)
    progress.update(params=out, losses=losses, diverged=diverged, steps_done=steps)
    n_bad = int(jnp.sum(diverged))
    if n_bad:
        warnings.warn(
            f"sweep: {n_bad} of {k} nets diverged (loss or params NaN/inf, or loss over "
            f"{DIVERGENCE_FACTOR:g} x max(initial loss, 1)); they keep their last parameters that passed "
            "(see the diverged array)",
            DivergenceWarning,
            stacklevel=3,
        )
    return out, losses, diverged

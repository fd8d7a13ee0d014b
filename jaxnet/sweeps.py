"""``sweep``: train K networks at once, one compiled program, vectorised over nets.

Typical use: 1000 random initialisations of the worked-example net, or one
net at 100 learning rates. Every net sees the same full batch ``(x, y)`` and
takes plain SGD steps with the hand-derived gradient (the delta recursion of
:func:`jaxnet.manual_grads`; activation and head from :mod:`jaxnet.network`).

Two kernels, chosen by the work of one net-step, ``w = N * sum_l in_l * out_l``
(examples times weights, :func:`net_step_work`):

- ``"broadcast"`` (``w <= 256``: tiny nets and batches, e.g. the worked
  example's 2-3-1 net on one example, ``w = 9``): every array keeps the net
  index as its *last* axis (``W_l: (out, in, K)``, activations
  ``(N, width, K)``) and each layer is a broadcast multiply-add that XLA fuses
  into a few loops over K, the layout a vectorised C loop would use. Its
  ``(N, out, in, K)`` products grow with ``w``, so it only suits small ``w``.
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
from functools import partial, reduce
from itertools import pairwise
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import _kernels as kernels
from jaxnet._engine import steps_recording_first
from jaxnet._options import execution_context
from jaxnet._recording import sweep_record_every
from jaxnet._validate import (
    Params,
    as_array,
    check_numeric,
    check_params,
    check_sizes,
    overflow_error,
    positive_int,
    prepare,
    resolve_spec,
)
from jaxnet.cache import use_default_cache
from jaxnet.distributed import gather
from jaxnet.errors import DIVERGENCE_FACTOR, DivergenceWarning, TrainingInterrupted
from jaxnet.model import init_mlp
from jaxnet.network import ACTIVATIONS, HEADS, multiply_adds
from jaxnet.spec import Model

__all__ = ["sweep"]

auto_record_every = sweep_record_every  # the name tests/test_sweep.py tests; the rule is in jaxnet._recording


_UNROLL = 32  # sums over axes this short are written as chains of adds
_BROADCAST_MAX_WORK = 256  # N * sum(in * out) per net-step at most for the broadcast kernel
_CPU_BROADCAST_BLOCK = 256  # nets trained together, all steps, before the next block (cache-sized)
_CPU_DENSE_BLOCK_BYTES = 2**18  # working set of a dense block on a CPU (about a core's L2 cache)
_ACCELERATOR_FRACTION = 4  # on a GPU/TPU a block's working set may use 1/4 of the device's memory
_ACCELERATOR_DEFAULT_BYTES = 2**32  # when the device does not report its memory
_MAX_LOSS_BYTES = 2**30  # a larger loss buffer is refused
KERNELS = ("auto", "broadcast", "dense")


# --- the broadcast kernel: net axis last, every parameter of every net in one (P, K) buffer -----------------

Shapes = tuple[tuple[str, tuple[int, ...]], ...]


def _sum(a: jax.Array, axis: int) -> jax.Array:
    """``jnp.sum(a, axis)``; over a short axis, an unrolled chain of adds.

    A chain of element-wise adds fuses with its producers into one loop over
    the K nets, where a ``reduce`` over a 2- or 3-long axis becomes its own
    kernel (on XLA:CPU, float32 ones are handed to a library call per step).
    """
    n = a.shape[axis]
    if n > _UNROLL:
        return jnp.sum(a, axis=axis)
    parts = [jax.lax.index_in_dim(a, i, axis, keepdims=False) for i in range(n)]
    return reduce(jnp.add, parts)


def _forward(soa: Params, x: jax.Array, activation: str) -> list[jax.Array]:
    """Pre-activations ``z_l`` of every net: ``z_l[n, o, k] = sum_i W_l[o, i, k] a[n, i, k] + b_l[o, k]``."""
    f = ACTIVATIONS[activation].fn
    L = len(soa) // 2
    a, zs = x[:, :, None], []
    for l in range(1, L + 1):
        z = _sum(soa[f"W{l}"][None] * a[:, None, :, :], axis=2) + soa[f"b{l}"][None]
        zs.append(z)
        a = f(z)
    return zs


def _over_units(fn: Callable, *arrays: jax.Array) -> jax.Array:
    """Apply a head function of the table (which works on the last axis) to ``(N, out, K)`` arrays."""
    out = fn(*(jnp.moveaxis(a, 1, -1) for a in arrays))
    return jnp.moveaxis(out, -1, 1) if out.ndim == 3 else out


def _share(y: jax.Array, head: str) -> float:
    """Each example's share of the mean, ``r = 1 / (N m)`` (``m = n_out`` for per-unit heads)."""
    return 1.0 / (y.shape[0] * (y.shape[1] if HEADS[head].per_unit else 1))


def _head_loss(z_out: jax.Array, y: jax.Array, head: str) -> jax.Array:
    """``L_k = sum_n r l(z_nk, y_n)`` for every net, shape ``(K,)``: each term scaled before the sum, as
    :func:`jaxnet.loss` does (a sum of unscaled terms overflowed float32 first: 8 targets of 1e19)."""
    per_example = _over_units(HEADS[head].loss, z_out, jnp.broadcast_to(y[:, :, None], z_out.shape))
    return jnp.sum(per_example * _share(y, head), axis=0)


def _broadcast_step(
    soa: Params, x: jax.Array, y: jax.Array, lr: jax.Array, with_loss: bool, activation: str, head: str
) -> tuple[Params, jax.Array | None]:
    """One SGD step for every net (the delta recursion of :func:`jaxnet.manual_grads`)."""
    act, out = ACTIVATIONS[activation], HEADS[head]
    L = len(soa) // 2
    zs = _forward(soa, x, activation)
    delta = _share(y, head) * (_over_units(out.output, zs[-1]) - y[:, :, None])  # dL/dz_L = r (g(z_L) - y)
    new: Params = {}
    for l in range(L, 0, -1):
        a_prev = x[:, :, None] if l == 1 else act.fn(zs[l - 2])
        gW = _sum(delta[:, :, None, :] * a_prev[:, None, :, :], axis=0)  # sum_n delta a_{l-1}^T
        gb = _sum(delta, axis=0)
        if l > 1:  # (W_l^T delta_l) * f'(z_{l-1})
            delta = _sum(soa[f"W{l}"][None] * delta[:, :, None, :], axis=1) * act.grad(zs[l - 2])
        new[f"W{l}"] = soa[f"W{l}"] - lr[None, None, :] * gW
        new[f"b{l}"] = soa[f"b{l}"] - lr[None, :] * gb
    return new, (_head_loss(zs[-1], y, head) if with_loss else None)


def _pack(soa: Params, shapes: Shapes) -> jax.Array:
    """Every parameter of every net in one ``(P, K)`` array, in ``shapes``' order: one buffer to update."""
    return jnp.concatenate([soa[name].reshape(-1, soa[name].shape[-1]) for name, _ in shapes])


def _unpack(theta: jax.Array, shapes: Shapes) -> Params:
    soa, start = {}, 0
    for name, shape in shapes:
        size = int(np.prod(shape))
        soa[name] = theta[start : start + size].reshape(shape + theta.shape[-1:])
        start += size
    return soa


# --- both kernels behind one interface -------------------------------------------------------------------


class _Kernel(NamedTuple):
    """``step(theta, lr, with_loss) -> (theta, loss (K,) or None)``, ``loss(theta) -> (K,)``, the net axis."""

    step: Callable[[Any, jax.Array, bool], tuple[Any, Any]]
    loss: Callable[[Any], jax.Array]
    net_axis: int


def _kernel(name: str, x: jax.Array, y: jax.Array, shapes: Shapes, activation: str, head: str) -> _Kernel:
    """The kernel ``name`` for this data; its state ``theta`` is ``(P, K)`` (broadcast) or a ``(K, ...)`` dict (dense)."""
    if name == "broadcast":

        def step(theta, lr, with_loss):
            soa, loss = _broadcast_step(_unpack(theta, shapes), x, y, lr, with_loss, activation, head)
            return _pack(soa, shapes), loss

        return _Kernel(step, lambda theta: _head_loss(_forward(_unpack(theta, shapes), x, activation)[-1], y, head), -1)

    def one_step(p, rate, with_loss):  # exactly fit's step: p - lr g with the hand-derived g
        value, g = kernels.value_and_grads(p, x, y, None, activation, head, with_value=with_loss)
        return {k: p[k] - rate * g[k] for k in p}, value

    def one_loss(p):
        return kernels.loss(p, x, y, None, activation, head)

    return _Kernel(
        lambda theta, lr, with_loss: jax.vmap(partial(one_step, with_loss=with_loss))(theta, lr), jax.vmap(one_loss), 0
    )


def _finite_nets(theta: Any, net_axis: int) -> jax.Array:
    """``(K,)``: every parameter of net k is finite."""
    flags = [
        jnp.all(jnp.isfinite(v), axis=tuple(a for a in range(v.ndim) if a != net_axis % v.ndim))
        for v in jax.tree.leaves(theta)
    ]
    return reduce(jnp.logical_and, flags)


def _select(ok: jax.Array, new: Any, old: Any, net_axis: int) -> Any:
    """Per net: ``new`` where ``ok``, else ``old``."""

    def pick(a, b):
        shape = [1] * a.ndim
        shape[net_axis] = -1
        return jnp.where(ok.reshape(shape), a, b)

    return jax.tree.map(pick, new, old)


def _train_nets(
    kern: _Kernel, theta: Any, lr: jax.Array, n_records: int, record_every: int
) -> tuple[Any, jax.Array, jax.Array]:
    """All steps for one block of nets, with the divergence rule; returns ``(kept, losses (R, B), diverged (B,))``.

    Before every ``record_every``-th step (and after the last) a net passes
    when its loss and parameters are finite and its loss is at most
    ``DIVERGENCE_FACTOR * max(initial loss, 1)``; ``kept`` holds the last
    parameters that passed. A net that fails once is diverged for good, and
    its recorded losses are NaN from that record on.
    """
    bound = DIVERGENCE_FACTOR * jnp.maximum(kern.loss(theta), 1)

    def check(theta, loss, kept, alive):
        ok = alive & jnp.isfinite(loss) & (loss <= bound) & _finite_nets(theta, kern.net_axis)
        return _select(ok, theta, kept, kern.net_axis), ok

    def record(carry, _):
        theta, kept, alive = carry
        new, loss = steps_recording_first(lambda t, with_loss: kern.step(t, lr, with_loss), theta, record_every)
        kept, alive = check(theta, loss, kept, alive)
        return (new, kept, alive), jnp.where(alive, loss, jnp.nan)

    alive = jnp.ones(lr.shape, bool)
    (theta, kept, alive), losses = jax.lax.scan(record, (theta, theta, alive), length=n_records)
    kept, alive = check(theta, kern.loss(theta), kept, alive)
    return kept, losses, ~alive


class _Plan(NamedTuple):
    """The static description of one compiled sweep."""

    kernel: str
    shapes: Shapes
    n_records: int
    record_every: int
    block: int
    activation: str
    head: str


def _split(v: jax.Array, block: int, net_axis: int) -> jax.Array:
    """Net axis of length ``K = nb * block`` -> a leading block axis ``nb`` and a net axis of length ``block``."""
    if net_axis == 0:
        return v.reshape((v.shape[0] // block, block) + v.shape[1:])
    return jnp.moveaxis(v.reshape(v.shape[:-1] + (v.shape[-1] // block, block)), -2, 0)


def _join(v: jax.Array, net_axis: int) -> jax.Array:
    if net_axis == 0:
        return v.reshape((-1,) + v.shape[2:])
    return jnp.moveaxis(v, 0, -2).reshape(v.shape[1:-1] + (-1,))


def _train_blocks(theta: Any, lr: jax.Array, kern: _Kernel, plan: _Plan) -> tuple[Any, jax.Array, jax.Array]:
    """Train the nets ``plan.block`` at a time (all steps for one block, then the next); K a multiple of the block."""
    ax = kern.net_axis
    kept, losses, diverged = jax.lax.map(
        lambda args: _train_nets(kern, args[0], args[1], plan.n_records, plan.record_every),
        (jax.tree.map(lambda v: _split(v, plan.block, ax), theta), _split(lr, plan.block, -1)),
    )
    return jax.tree.map(lambda v: _join(v, ax), kept), _join(losses, -1), _join(diverged, -1)


@partial(jax.jit, static_argnames=("k", "plan"))
def _run(
    stacked: Params, x: jax.Array, y: jax.Array, lr: jax.Array, k: int, plan: _Plan
) -> tuple[Params, jax.Array, jax.Array]:
    """The whole sweep as one program: ``(params (K, ...), losses (K, R), diverged (K,))``.

    ``stacked`` and ``lr`` have a leading axis of 1 or ``k``. K is padded to a
    multiple of the block with copies of the last net, dropped at the end.
    """
    padded = k + (-k % plan.block)

    def grow(v: jax.Array) -> jax.Array:  # K nets from 1 or K, then copies of the last up to the padded count
        return jnp.concatenate(
            [jnp.broadcast_to(v, (k,) + v.shape[1:]), jnp.broadcast_to(v[-1:], (padded - k,) + v.shape[1:])]
        )

    stacked = {n: grow(v.astype(x.dtype)) for n, v in stacked.items()}
    lr = grow(lr)
    kern = _kernel(plan.kernel, x, y, plan.shapes, plan.activation, plan.head)
    if plan.kernel == "broadcast":
        theta = _pack({n: jnp.moveaxis(v, 0, -1) for n, v in stacked.items()}, plan.shapes)
        theta, losses, diverged = _train_blocks(theta, lr, kern, plan)
        out = {n: jnp.moveaxis(v, -1, 0) for n, v in _unpack(theta, plan.shapes).items()}
    else:
        out, losses, diverged = _train_blocks(stacked, lr, kern, plan)
    return {n: v[:k] for n, v in out.items()}, losses[:, :k].T, diverged[:k]


# --- sizes, blocks, buffers ----------------------------------------------------------------------------


def net_step_work(sizes: tuple[int, ...], n: int) -> int:
    """``N * sum_l in_l * out_l``: multiply-adds of one net's forward pass, the kernel-choice measure."""
    return multiply_adds(sizes, n)


def _block_size(kernel: str, k: int, n: int, sizes: tuple[int, ...], itemsize: int, device: Any) -> int:
    """Nets per block: cache-sized on a CPU, as many as a quarter of the memory allows on a GPU/TPU."""
    platform = _platform(device)
    if kernel == "broadcast":
        per_net = n * max(a * b for a, b in pairwise(sizes)) * itemsize * 4
    else:
        per_net = n * sum(sizes[1:]) * itemsize * 4  # z, a, delta and a temporary per layer
    if platform == "cpu":
        most = _CPU_BROADCAST_BLOCK if kernel == "broadcast" else _CPU_DENSE_BLOCK_BYTES // per_net
    else:
        most = _accelerator_bytes(device) // _ACCELERATOR_FRACTION // per_net
    most = max(1, min(k, most))
    blocks = -(-k // most)
    return -(-k // blocks)  # equal blocks, so that padding K to a multiple adds fewer than `blocks` nets


def _platform(device: Any) -> str:
    """The platform the sweep runs on: ``device``'s, else JAX's default device's (``jax.default_device``)."""
    if device is not None:
        return device.platform
    default = jax.config.jax_default_device  # type: ignore[attr-defined]
    if isinstance(default, str):
        return default
    return default.platform if default is not None else jax.default_backend()


def _accelerator_bytes(device: Any) -> int:
    device = device if device is not None else jax.devices()[0]
    try:
        stats = device.memory_stats() or {}
    except Exception:  # noqa: BLE001 -- some backends do not implement memory_stats
        stats = {}
    return int(stats.get("bytes_limit", _ACCELERATOR_DEFAULT_BYTES))


def _record_every(record_every: Any, steps: int, k: int, itemsize: int) -> int:
    """Check ``record_every`` (``"auto"`` or a positive divisor of ``steps``) and the loss buffer's size."""
    if isinstance(record_every, str) and record_every == "auto":
        record_every = sweep_record_every(steps, k, itemsize)
    else:
        record_every = positive_int("record_every", record_every)
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


def _learning_rates(learning_rates: Any, dtype: Any) -> jax.Array:
    """Learning rates as a 1-D array of ``dtype``; refuses non-finite (in ``dtype``) and negative values.

    Zero is accepted (a net that does not move is a legitimate control).
    """
    lr = as_array("learning_rates", learning_rates)
    check_numeric("learning_rates", lr)
    if len(lr.shape) > 1:
        raise ValueError(f"learning_rates: expected a scalar or a 1-D array of K rates, got shape {tuple(lr.shape)}")
    if 0 in lr.shape:
        raise ValueError("learning_rates: expected at least one rate, got an empty array")
    with np.errstate(over="ignore", invalid="ignore"):
        values = np.asarray(lr).astype(dtype).reshape(-1)
    if not np.all(np.isfinite(values)):
        raise ValueError(
            f"learning_rates: expected finite values in {np.dtype(dtype).name} (the params' dtype), "
            f"got {values[~np.isfinite(values)][:3].tolist()}"
        )
    if np.any(values < 0):
        raise ValueError(f"learning_rates: expected rates >= 0, got {values[values < 0][:3].tolist()}")
    return jnp.asarray(values)


@jax.jit
def _finite_flags(stacked: Params) -> dict[str, jax.Array]:
    return {n: jnp.all(jnp.isfinite(v), axis=tuple(range(1, v.ndim))) for n, v in stacked.items()}


def _check_all_nets(stacked: Params) -> None:
    """Refuse NaN/inf in any net (``prepare`` checks net 0 only), in the dtype training uses."""
    for name, ok in _finite_flags(stacked).items():
        bad = np.flatnonzero(~np.asarray(ok))
        if bad.size:
            raise ValueError(
                f"params['{name}']: expected finite values in {stacked[name].dtype} in every net, got NaN/inf in "
                f"{bad.size} net(s), first {bad[:5].tolist()}"
            )


@partial(jax.jit, static_argnames=("activation", "head"))
def _initial_losses(stacked: Params, x: jax.Array, y: jax.Array, activation: str, head: str) -> jax.Array:
    """The loss of every net before any step, ``(K,)`` (256 nets at a time)."""
    return jax.lax.map(
        lambda p: kernels.loss({n: v.astype(x.dtype) for n, v in p.items()}, x, y, None, activation, head),
        stacked,
        batch_size=256,
    )


def _check_start(stacked: Params, x: jax.Array, y: jax.Array, activation: str, head: str) -> None:
    """Refuse finite inputs whose loss overflows before any step (as :func:`jaxnet.loss` does), naming the input."""
    bad = np.flatnonzero(~np.isfinite(np.asarray(_initial_losses(stacked, x, y, activation, head))))
    if bad.size:
        net = {n: v[int(bad[0])].astype(x.dtype) for n, v in stacked.items()}
        err = overflow_error(net, x, y)
        k = stacked["W1"].shape[0]
        where = f", in {bad.size} of {k} nets, first net {int(bad[0])}" if k > 1 else ""
        raise ValueError(f"{err} (before any step{where})")


def _count(name: str, n: int, k: int) -> int:
    if n != 1 and k != 1 and n != k:
        raise ValueError(f"{name}: expected 1 or K={k} entries to match the other arguments, got {n}")
    return max(n, k)


def _check_mesh(mesh: Any, device: Any) -> None:
    if mesh is not None and not isinstance(mesh, jax.sharding.Mesh):
        raise TypeError(f"mesh: expected a jax.sharding.Mesh or None, got {type(mesh).__name__}")
    if mesh is not None and device is not None:
        raise ValueError("device: give a mesh (its devices) or one device, not both")


def _check_kernel(kernel: Any) -> None:
    if not isinstance(kernel, str) or kernel not in KERNELS:
        raise ValueError(f"kernel: expected one of {list(KERNELS)}, got {kernel!r}")


# --- the public function -------------------------------------------------------------------------------


def _choose_kernel(kernel: str, sizes: tuple[int, ...], n: int) -> str:
    if kernel != "auto":
        return kernel
    return "broadcast" if net_step_work(sizes, n) <= _BROADCAST_MAX_WORK else "dense"


def _train(
    stacked: Params, x: jax.Array, y: jax.Array, lr: jax.Array, k: int, plan: _Plan, device: Any, precision: Any
) -> tuple[Params, jax.Array, jax.Array]:
    """Run the compiled sweep on ``device`` at matmul ``precision``."""
    if device is not None:
        stacked, x, y, lr = jax.device_put((stacked, x, y, lr), device)
    with execution_context(device, precision):
        return _run(stacked, x, y, lr, k, plan)


def _train_split(
    stacked: Params, x: jax.Array, y: jax.Array, lr: jax.Array, k: int, mesh: Any, precision: Any, plan_for: Callable
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
        done = progress["steps_done"]
        raise TrainingInterrupted(
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
        ) from None


def _sweep(a: dict[str, Any], progress: dict[str, Any]) -> tuple[Params, jax.Array, jax.Array]:
    """:func:`sweep`'s work; ``progress`` holds the best state so far (for a Ctrl-C)."""
    steps, kernel, device, precision, mesh = a["steps"], a["kernel"], a["device"], a["precision"], a["mesh"]
    activation, head, params = a["activation"], a["head"], a["params"]
    steps = positive_int("steps", steps)
    _check_kernel(kernel)
    _check_mesh(mesh, device)
    execution_context(device, precision)  # checks both before any work
    stacked = _stack(params, a["sizes"], a["keys"], a["init"], a["dtype"])
    progress["params"] = stacked
    one, x, y, _ = prepare({n: v[0] for n, v in stacked.items()}, a["x"], a["y"], activation=activation, head=head)
    x = x.reshape((-1, x.shape[-1]))  # one example is a batch of one
    y = y.reshape((x.shape[0], -1))  # (N, n_out)
    lr = _learning_rates(a["learning_rates"], x.dtype)
    k = _count("learning_rates", lr.shape[0], int(stacked["W1"].shape[0]))
    if any(v.shape[0] != 1 and v.shape[0] != k for v in stacked.values()):
        raise ValueError(f"params: expected a leading axis of 1 or K={k} on every array")
    if params is not None:
        _check_all_nets(stacked)
    every = _record_every(a["record_every"], steps, k, x.dtype.itemsize)
    layer_sizes = check_params(one)
    name = _choose_kernel(kernel, layer_sizes, x.shape[0])
    shapes = tuple((n, tuple(v.shape)) for n, v in one.items())

    def plan_for(nets: int, where: Any) -> _Plan:
        block = _block_size(name, nets, x.shape[0], layer_sizes, x.dtype.itemsize, where)
        return _Plan(name, shapes, steps // every, every, block, activation, head)

    with execution_context(device, precision):
        _check_start(stacked, x, y, activation, head)
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

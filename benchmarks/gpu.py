"""GPU benchmarks: large sweeps, tiny nets on GPU vs CPU, big MLPs at three precisions.

Runs only when ``jax.default_backend() == "gpu"`` (skipped with a message
otherwise). ``--pretend-gpu`` runs the same code at tiny sizes on whatever
the default device is (the CPU here): a test of this module, not a
measurement. Parts, each in its own worker subprocess:

* ``sweep``: ``jaxnet.sweep`` of worked-example nets at K = 10⁴, 10⁵, 10⁶
  against a plain all-K JAX loop (net axis last, ``lax.scan`` over steps), in
  ns per net-step; final parameters must agree (float32, ``SWEEP_TOL``).
* ``fit``: ``jaxnet.fit`` on the GPU and on ``jax.devices("cpu")[0]`` over a
  grid of network sizes × batch sizes; marginal time per step from runs of n
  and 2n steps; the crossover in work per step (batch × Σ in·out).
* ``mlp_jax`` / ``torch`` / ``torch_compile``: 784-512-512-1 (batch 1024) and
  4096-4096-4096-1 (batch 8192), one SGD step, at fp32 (jax ``"highest"``,
  torch matmul precision ``"highest"``), TF32 (jax ``"default"``, torch
  ``"high"``) and bf16 (jaxnet ``compute_dtype=bfloat16`` if
  ``make_train_step`` has it; torch autocast bf16).

Every measurement warms up, waits with ``block_until_ready`` /
``torch.cuda.synchronize`` and reports the median of its repeats. The whole
section keeps to a time budget (``BUDGET_S``): each worker gets what is left.
"""

from __future__ import annotations

import importlib.util
import inspect
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks._harness import (
    NOT_MEASURABLE,
    Ratio,
    Section,
    Stats,
    Table,
    WorkerError,
    adaptive_repeat,
    at_least,
    at_most,
    fmt_time,
    guard,
    marginal_cost,
    module_main,
    ratio,
    run_worker,
    time_once,
)

NAME = "gpu"
MODULE = "gpu"
TITLE = "GPU: sweep at large K, tiny nets on GPU vs CPU, big MLPs at three precisions"
SWEEP_TOL = 1e-4  # max |Δ| of final params, sweep vs plain loop (float32, elementwise on both sides)
ENV = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}  # jax and torch workers share the GPU one after another
PRECISIONS = ("fp32", "tf32", "bf16")
JAX_PRECISION = {"fp32": "highest", "tf32": "default", "bf16": "highest"}
TORCH_PRECISION = {"fp32": "highest", "tf32": "high", "bf16": "highest"}
PRECISION_LABEL = {
    "fp32": 'fp32 (jax "highest")',
    "tf32": 'TF32 (jax "default")',
    "bf16": "bf16 (autocast / compute_dtype)",
}

FULL = {
    "sweep": [(10_000, 1_000), (100_000, 500), (1_000_000, 100)],  # (K, steps)
    "fit_grid": [
        ((2, 3, 1), 1),
        ((2, 16, 16, 1), 64),
        ((2, 16, 16, 1), 800),
        ((30, 64, 64, 1), 512),
        ((64, 128, 128, 1), 1024),
        ((256, 256, 256, 1), 1024),
        ((256, 256, 256, 1), 8192),
        ((784, 512, 512, 1), 1024),
    ],
    "fit_steps": 200,
    "fit_steps_big": 20,
    "big_work": 1e7,
    "fit_repeat": 5,
    "fit_budget": 1.0,
    "mlp": [((784, 512, 512, 1), 1024), ((4096, 4096, 4096, 1), 8192)],
    "repeat": 20,
    "budget": 3.0,
}
QUICK = {**FULL, "sweep": [(10_000, 200), (100_000, 100), (1_000_000, 20)], "repeat": 5, "budget": 1.0}
PRETEND = {
    "sweep": [(100, 50), (1_000, 20)],
    "fit_grid": [((2, 3, 1), 1), ((2, 16, 16, 1), 64), ((16, 32, 32, 1), 256)],
    "fit_steps": 50,
    "fit_steps_big": 10,
    "big_work": 1e5,
    "fit_repeat": 3,
    "fit_budget": 0.5,
    "mlp": [((32, 16, 16, 1), 64), ((64, 32, 32, 1), 128)],
    "repeat": 3,
    "budget": 0.5,
}
BUDGET_S = {"full": 280.0, "quick": 200.0, "pretend": 240.0}  # whole section; workers share what is left
PART_LIMIT_S = {"probe": 60, "sweep": 100, "fit": 90, "mlp_jax": 60, "torch": 60, "torch_compile": 100}


# --------------------------------------------------------------------------
# Shared helpers (worker side)
# --------------------------------------------------------------------------


def work_per_step(sizes: tuple[int, ...], batch: int) -> int:
    """Multiply-adds of one forward pass: batch × Σ in·out (the crossover's x axis).

    >>> work_per_step((2, 3, 1), 1)
    9
    """
    return batch * sum(i * o for i, o in zip(sizes[:-1], sizes[1:]))


def mlp_params_numpy(sizes: tuple[int, ...], seed: int = 0) -> dict[str, np.ndarray]:
    """He-initialised float32 params (``W_l`` (out, in), zero biases), the same for jax and torch."""
    rng = np.random.default_rng(seed)
    params = {}
    for l, (i, o) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{l}"] = (rng.standard_normal((o, i)) * np.sqrt(2.0 / i)).astype(np.float32)
        params[f"b{l}"] = np.zeros(o, np.float32)
    return params


def mlp_data(n_in: int, batch: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs (batch, n_in) and 0/1 targets (batch,), float32."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch, n_in)).astype(np.float32), (rng.random(batch) < 0.5).astype(np.float32))


def accepts(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` has a parameter ``name`` (new jaxnet options are used only where they exist)."""
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def timed(call: Callable[[], Any], repeat: int, budget: float, warmup: int = 1) -> tuple[float, list[float]]:
    """(first call, repeats after ``warmup`` more untimed calls); ``call`` must wait for its result."""
    first, _ = time_once(call)
    for _ in range(warmup - 1):
        call()
    t, _ = time_once(call)
    n = adaptive_repeat(t, budget, repeat)
    return first, [time_once(call)[0] for _ in range(n)]


# --------------------------------------------------------------------------
# Part: sweep vs the plain all-K loop
# --------------------------------------------------------------------------


def plain_sweep(p: dict[str, Any], x: Any, y: Any, lr: Any, steps: int) -> dict[str, Any]:
    """K worked-example nets, net axis last, all at once, ``lax.scan`` over steps (not jaxnet).

    ``p``: W1 (3, 2, K), b1 (3, K), W2 (1, 3, K), b2 (1, K); ``lr`` (K,).
    One step: z1 = W1·x + b1, a1 = relu(z1), z2 = W2·a1 + b2,
    dz2 = σ(z2) − y, dz1 = W2ᵀ dz2 ⊙ [z1 > 0], θ ← θ − lr ∂L/∂θ.
    """
    import jax
    import jax.numpy as jnp

    def step(q: dict[str, Any], _: Any) -> tuple[dict[str, Any], None]:
        z1 = jnp.sum(q["W1"] * x[None, :, None], axis=1) + q["b1"]
        a1 = jnp.maximum(z1, 0)
        z2 = jnp.sum(q["W2"][0] * a1, axis=0) + q["b2"][0]
        dz2 = jax.nn.sigmoid(z2) - y
        dz1 = q["W2"][0] * dz2 * (z1 > 0)
        g = {"W1": dz1[:, None, :] * x[None, :, None], "b1": dz1, "W2": (dz2 * a1)[None], "b2": dz2[None]}
        return {k: q[k] - lr * g[k] for k in q}, None

    return jax.lax.scan(step, p, None, length=steps)[0]


def _sweep_one(K: int, steps: int, repeat: int, budget: float) -> dict[str, Any]:
    """Both rows at one K, and the largest difference of their final params."""
    import jax
    import jax.numpy as jnp

    import jaxnet

    params, x, y = jaxnet.seed_example(dtype=jnp.float32)
    lrs = jnp.asarray(np.linspace(0.01, 1.0, K), jnp.float32)
    out: dict[str, Any] = {"K": K, "steps": steps}

    def call_sweep() -> Any:
        res = jaxnet.sweep(x, y, steps=steps, params=params, learning_rates=lrs, record_every=steps)
        return jax.block_until_ready(res[0])  # (params, losses) or (params, losses, diverged)

    stacked = {k: jnp.broadcast_to(v[..., None], v.shape + (K,)) for k, v in params.items()}
    plain = jax.jit(plain_sweep, static_argnums=4)

    def call_plain() -> Any:
        return jax.block_until_ready(plain(stacked, x, y, lrs, steps))

    out["sweep"] = guard(lambda: dict(zip(("first", "times"), timed(call_sweep, repeat, budget))))
    out["plain"] = guard(lambda: dict(zip(("first", "times"), timed(call_plain, repeat, budget))))
    if "times" in out["sweep"] and "times" in out["plain"]:
        a, b = call_sweep(), call_plain()
        out["max_diff"] = max(float(jnp.max(jnp.abs(a[k] - jnp.moveaxis(b[k], -1, 0)))) for k in a)
    return out


def part_sweep(cfg: dict[str, Any]) -> dict[str, Any]:
    return {"rows": [guard(lambda K=K, s=s: _sweep_one(K, s, cfg["repeat"], cfg["budget"])) for K, s in cfg["sweep"]]}


# --------------------------------------------------------------------------
# Part: fit on the GPU vs on the CPU, over sizes
# --------------------------------------------------------------------------


def _fit_on(device: Any, sizes: tuple[int, ...], batch: int, steps: int, repeat: int, budget: float) -> dict:
    """Time fit at n and 2n steps on ``device`` (one compile: chunk 2n, one loss per n steps)."""
    import jax

    import jaxnet

    params = jax.device_put(mlp_params_numpy(sizes), device)
    x, y = (jax.device_put(a, device) for a in mlp_data(sizes[0], batch))
    extra = {"device": device} if accepts(jaxnet.fit, "device") else {}

    def call(n: int) -> Callable[[], Any]:
        def go() -> Any:
            with jax.default_device(device):
                out = jaxnet.fit(params, x, y, steps=n, chunk=2 * steps, record_every=steps, progress=False, **extra)
            return jax.block_until_ready(out[0])

        return go

    first, short = timed(call(steps), repeat, budget)
    _, long = timed(call(2 * steps), repeat, budget)
    placed = {str(d) for d in jax.tree_util.tree_leaves(call(steps)())[0].devices()}
    return {"first": first, "short": short, "long": long, "steps": steps, "placed": sorted(placed)}


def part_fit(cfg: dict[str, Any]) -> dict[str, Any]:
    import jax

    gpu, cpu = jax.devices()[0], jax.devices("cpu")[0]
    rows = []
    for sizes, batch in cfg["fit_grid"]:
        steps = cfg["fit_steps_big"] if work_per_step(sizes, batch) > cfg["big_work"] else cfg["fit_steps"]
        row: dict[str, Any] = {"sizes": list(sizes), "batch": batch}
        for label, dev in (("gpu", gpu), ("cpu", cpu)):
            row[label] = guard(
                lambda d=dev, s=sizes, b=batch, n=steps: _fit_on(d, s, b, n, cfg["fit_repeat"], cfg["fit_budget"])
            )
        rows.append(row)
    return {"rows": rows, "gpu_device": str(gpu), "cpu_device": str(cpu)}


# --------------------------------------------------------------------------
# Part: big MLP step, jaxnet at three precisions
# --------------------------------------------------------------------------


def _jax_step(sizes: tuple[int, ...], batch: int, precision: str, repeat: int, budget: float) -> dict:
    """make_train_step(optax.sgd(0.1)) fed its own output; ``precision`` in PRECISIONS."""
    import jax
    import jax.numpy as jnp
    import optax

    import jaxnet

    kwargs: dict[str, Any] = {}
    if precision == "bf16":
        if not accepts(jaxnet.make_train_step, "compute_dtype"):
            return {"skip": "make_train_step has no compute_dtype argument yet"}
        kwargs["compute_dtype"] = jnp.bfloat16
    jprec = JAX_PRECISION[precision]
    passed = accepts(jaxnet.make_train_step, "precision")
    if passed:
        kwargs["precision"] = jprec
    opt = optax.sgd(0.1)
    step = jaxnet.make_train_step(opt, **kwargs)
    p_np = mlp_params_numpy(sizes)

    def fresh() -> list[Any]:  # new buffers: the step may donate its inputs
        params = {k: jnp.asarray(v) for k, v in p_np.items()}
        return [params, opt.init(params)]

    x, y = (jnp.asarray(a) for a in mlp_data(sizes[0], batch))
    state = fresh()

    def call() -> Any:
        with jax.default_matmul_precision(jprec):  # the same setting where precision= does not exist yet
            p, s, loss = step(state[0], state[1], x, y)
        state[:] = [p, s]
        return jax.block_until_ready(loss)

    loss0 = float(call())
    state[:] = fresh()
    first, times = timed(call, repeat, budget)
    return {
        "first": first,
        "times": times,
        "loss0": loss0,
        "how": "precision=" if passed else "jax.default_matmul_precision",
    }


def part_mlp_jax(cfg: dict[str, Any]) -> dict[str, Any]:
    rows = {}
    for sizes, batch in cfg["mlp"]:
        for prec in PRECISIONS:
            rows[f"{_size_key(sizes, batch)} {prec}"] = guard(
                lambda s=sizes, b=batch, p=prec: _jax_step(s, b, p, cfg["repeat"], cfg["budget"])
            )
    return rows


def _size_key(sizes: Any, batch: int) -> str:
    return f"{'-'.join(map(str, sizes))} b{batch}"


# --------------------------------------------------------------------------
# Part: torch eager / torch.compile at three precisions
# --------------------------------------------------------------------------


def _torch_step(
    sizes: tuple[int, ...], batch: int, precision: str, compiled: bool, repeat: int, budget: float
) -> dict[str, Any]:
    """One SGD step of the torch twin (same init and data as jaxnet); waits with cuda.synchronize."""
    import contextlib

    import torch

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.set_float32_matmul_precision(TORCH_PRECISION[precision])
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = precision == "tf32"
    if compiled:
        torch._dynamo.reset()  # a fresh compile for each precision
    layers: list[Any] = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        lin = torch.nn.Linear(i, o)
        layers += [lin, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1]).to(dev)
    p = mlp_params_numpy(sizes)
    with torch.no_grad():
        for l, lin in enumerate(model[::2], start=1):
            lin.weight.copy_(torch.from_numpy(p[f"W{l}"]))
            lin.bias.copy_(torch.from_numpy(p[f"b{l}"]))
    x, y = (torch.from_numpy(a).to(dev) for a in mlp_data(sizes[0], batch))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    forward = torch.compile(model) if compiled else model
    bce = torch.nn.BCEWithLogitsLoss()
    autocast = (
        (lambda: torch.autocast(device_type=dev, dtype=torch.bfloat16))
        if precision == "bf16"
        else contextlib.nullcontext
    )
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)

    def step() -> Any:
        opt.zero_grad(set_to_none=True)
        with autocast():
            loss = bce(forward(x).squeeze(-1).float(), y)
        loss.backward()
        opt.step()
        sync()
        return loss

    first, loss0 = time_once(lambda: float(step()))
    _, times = timed(step, repeat, budget, warmup=3 if compiled else 1)
    return {"first": first, "times": times, "loss0": loss0, "device": dev}


def part_torch(cfg: dict[str, Any], compiled: bool) -> dict[str, Any]:
    if importlib.util.find_spec("torch") is None:
        return {"skip": "torch is not importable"}
    rows = {}
    for sizes, batch in cfg["mlp"]:  # torch_compile workers get one size each (cfg["mlp"] of length 1)
        for prec in PRECISIONS:
            rows[f"{_size_key(sizes, batch)} {prec}"] = guard(
                lambda s=sizes, b=batch, p=prec: _torch_step(s, b, p, compiled, cfg["repeat"], cfg["budget"])
            )
    return rows


def part_probe() -> dict[str, Any]:
    import jax

    dev = jax.devices()[0]
    return {
        "backend": jax.default_backend(),
        "device_kind": dev.device_kind,
        "devices": str(jax.devices()),
        "jax": jax.__version__,
    }


def worker(args: dict[str, Any]) -> dict[str, Any]:
    part, cfg = args["part"], args.get("cfg", {})
    if part == "probe":
        return part_probe()
    if part == "sweep":
        return part_sweep(cfg)
    if part == "fit":
        return part_fit(cfg)
    if part == "mlp_jax":
        return part_mlp_jax(cfg)
    if part in ("torch", "torch_compile"):
        return part_torch(cfg, compiled=part == "torch_compile")
    raise ValueError(f"part: expected probe, sweep, fit, mlp_jax, torch or torch_compile, got {part!r}")


# --------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------


def ran(section: Section) -> bool:
    """Whether the section measured anything (it has no tables when it was skipped)."""
    return bool(section.tables)


def nvidia_smi() -> str:
    """GPU name, memory and driver from nvidia-smi, or why not."""
    path = shutil.which("nvidia-smi")
    if path is None:
        return "nvidia-smi not found"
    try:
        out = subprocess.run(
            [path, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"nvidia-smi failed: {exc}"
    return out.stdout.strip().replace("\n", "; ") or f"nvidia-smi exited {out.returncode}"


def _part(part: str, cfg: dict[str, Any], deadline: float) -> dict[str, Any]:
    """Run one part in a worker with what is left of the section's budget."""
    left = deadline - time.monotonic()
    limit = min(PART_LIMIT_S[part], left)
    if limit < 10:
        return {"skip": "the gpu section's time budget is spent"}
    print(f"    gpu: {part} (up to {limit:.0f} s) ...", flush=True)
    try:
        return run_worker(MODULE, {"part": part, "cfg": cfg}, timeout=limit, env_extra=ENV)
    except WorkerError as exc:
        return {"error": str(exc)[:600]}


def _why(row: dict[str, Any]) -> str:
    return row.get("skip") or f"ERROR: {row.get('error', 'no result')}"


def _ns(seconds: float, units: int) -> str:
    return f"{seconds / units * 1e9:.3g}"


def _device_table(probe: dict[str, Any], pretend: bool) -> Table:
    table = Table("GPU device", ["item", "value"])
    table.add(
        "mode",
        "PRETEND (--pretend-gpu): tiny sizes on the default device, not a measurement" if pretend else "real GPU run",
    )
    table.add("jax default backend", probe.get("backend", "?"))
    table.add("jax device kind", probe.get("device_kind", "?"))
    table.add("jax devices", probe.get("devices", "?"))
    table.add("jax", probe.get("jax", "?"))
    table.add("nvidia-smi (name, memory, driver)", nvidia_smi())
    table.add("XLA_PYTHON_CLIENT_PREALLOCATE (workers)", ENV["XLA_PYTHON_CLIENT_PREALLOCATE"])
    return table


def _sweep_table(section: Section, res: dict[str, Any], pretend: bool) -> None:
    table = Table(
        "sweep of worked-example nets (float32) vs a plain all-K JAX loop, ns per net-step",
        [
            "K",
            "steps",
            "jaxnet `sweep`",
            "plain loop (net axis last, `lax.scan`)",
            "sweep / plain",
            "first call sweep / plain",
            "max abs Δ params",
        ],
    )
    largest = max(k for k, _ in FULL["sweep"])
    for row in res.get("rows", [{"error": _why(res)}]):
        if "K" not in row:
            table.add("—", "—", _why(row), "", "", "", "")
            section.failures.append(f"gpu sweep: {_why(row)}")
            continue
        K, steps, sw, pl = row["K"], row["steps"], row["sweep"], row["plain"]
        if "times" not in sw or "times" not in pl:
            table.add(
                f"{K:,}",
                steps,
                _why(sw) if "times" not in sw else "",
                _why(pl) if "times" not in pl else "",
                "",
                "",
                "",
            )
            section.failures.append(f"gpu sweep K={K}: {_why(sw if 'times' not in sw else pl)}")
            continue
        s, p, units = Stats(sw["times"]), Stats(pl["times"]), K * steps
        diff = row.get("max_diff")
        ok = diff is not None and diff <= SWEEP_TOL
        if not ok:
            section.failures.append(f"gpu sweep K={K}: final params differ from the plain loop by {diff} > {SWEEP_TOL}")
        table.add(
            f"{K:,}",
            steps,
            f"{_ns(s.median, units)} ({_ns(s.min, units)} – {_ns(s.max, units)})",
            f"{_ns(p.median, units)} ({_ns(p.min, units)} – {_ns(p.max, units)})",
            f"{s.median / p.median:.3g}×",
            f"{fmt_time(sw['first'])} / {fmt_time(pl['first'])}",
            f"{diff:.1e} {'ok' if ok else 'MISMATCH'}",
        )
        name = f"GPU: sweep / plain all-K loop, K = {K:,}, per net-step"
        if K == largest and not pretend:
            section.ratios.append(at_most(name, s.median / p.median, 1.5))
        else:
            section.ratios.append(Ratio(name, s.median / p.median))
    table.notes.append(
        f"Learning rates linspace(0.01, 1.0, K); every net starts from the worked-example params. "
        f"Agreement tolerance {SWEEP_TOL:g} (float32). Target: ≤ 1.5× at K = {largest:,}."
    )
    section.tables.append(table)


def _per_step(r: dict[str, Any]) -> tuple[float | None, float | None]:
    """(marginal per step or None if not measurable, whole 2n-step call per step)."""
    n = r["steps"]
    short, long = Stats(r["short"]), Stats(r["long"])
    return marginal_cost(short, n, long, 2 * n), long.median / (2 * n)


def crossover(points: list[tuple[int, float]]) -> str:
    """Where the GPU starts to win, from (work per step, GPU time / CPU time) points.

    >>> crossover([(10, 50.0), (1000, 2.0), (10**5, 0.5), (10**7, 0.1)])
    'the GPU is faster from about 1e+05 multiply-adds per step (CPU faster up to 1e+03)'
    """
    points = sorted(points)
    cpu_wins = [w for w, r in points if r >= 1]
    gpu_wins = [w for w, r in points if r < 1]
    if not gpu_wins:
        return (
            f"the CPU was faster at every size measured (up to {points[-1][0]:.0e} multiply-adds per step)"
            if points
            else "no sizes measured"
        )
    if not cpu_wins:
        return f"the GPU was faster at every size measured (from {points[0][0]:.0e} multiply-adds per step)"
    above = [w for w in gpu_wins if w > max(cpu_wins)]
    if not above:
        wins = ", ".join(f"{w:.0e}" for w in gpu_wins)
        return f"no clean crossover: CPU faster up to {max(cpu_wins):.0e}, GPU faster at {wins}"
    return (
        f"the GPU is faster from about {min(above):.0e} multiply-adds per step (CPU faster up to {max(cpu_wins):.0e})"
    )


def _step_cell(marginal: float | None, whole: float) -> str:
    return fmt_time(marginal) if marginal is not None else f"{NOT_MEASURABLE}; whole call {fmt_time(whole)}"


def _fit_table(section: Section, res: dict[str, Any], pretend: bool) -> None:
    table = Table(
        "`fit` on the GPU vs on the CPU (float32, full batch), time per step",
        [
            "net",
            "batch",
            "work / step (batch × Σ in·out)",
            "GPU per step",
            "CPU per step",
            "GPU / CPU",
            "first call GPU / CPU (compile)",
        ],
    )
    points = []
    for row in res.get("rows", []):
        sizes, batch = tuple(row["sizes"]), row["batch"]
        work = work_per_step(sizes, batch)
        g, c = row["gpu"], row["cpu"]
        net = "-".join(map(str, sizes))
        if "short" not in g or "short" not in c:
            table.add(
                net,
                batch,
                f"{work:.2g}",
                _why(g) if "short" not in g else "",
                _why(c) if "short" not in c else "",
                "",
                "",
            )
            section.failures.append(f"gpu fit {net} b{batch}: {_why(g if 'short' not in g else c)}")
            continue
        on_cpu, on_gpu = (" ".join(one.get("placed", [])).lower() for one in (c, g))
        if "cpu" not in on_cpu or (not pretend and "cpu" in on_gpu):
            section.failures.append(
                f"gpu fit {net} b{batch}: results ended on {on_cpu!r} (CPU run) and {on_gpu!r} (GPU run)"
            )
        (gm, gw), (cm, cw) = _per_step(g), _per_step(c)
        both = gm is not None and cm is not None
        r = gm / cm if both else gw / cw
        points.append((work, r))
        table.add(
            net,
            batch,
            f"{work:.2g}",
            _step_cell(gm, gw),
            _step_cell(cm, cw),
            f"{r:.3g}×{'' if both else ' (whole calls)'}",
            f"{fmt_time(g['first'])} / {fmt_time(c['first'])}",
        )
        if sizes == (2, 3, 1) and batch == 1:
            section.ratios.append(
                Ratio(
                    "GPU: fit on the worked-example net, GPU / CPU per step",
                    r,
                    note="marginal" if both else "whole calls",
                )
            )
    where = crossover(points)
    table.notes.append(f"Crossover: {where}.")
    table.notes.append(
        "Per step = marginal cost from runs of n and 2n steps (one compiled program: chunk 2n, one loss "
        "per n steps); where that is below the timing noise, the whole 2n-step call / 2n is shown. "
        f"GPU device {res.get('gpu_device')}, CPU device {res.get('cpu_device')}."
    )
    section.notes.append(f"Tiny nets: {where}.")
    section.tables.append(table)


def _mlp_table(
    section: Section,
    jx: dict[str, Any],
    eager: dict[str, Any],
    comp: dict[str, Any],
    cfg: dict[str, Any],
    pretend: bool,
) -> None:
    table = Table(
        "big MLP, one SGD step (make_train_step / torch), median per step",
        [
            "net, batch",
            "precision",
            "jaxnet step",
            "torch eager",
            "torch.compile",
            "eager / jaxnet",
            "compile / jaxnet",
            "loss at step 0: jaxnet / torch",
        ],
    )
    for sizes, batch in cfg["mlp"]:
        key0 = _size_key(sizes, batch)
        for prec in PRECISIONS:
            key = f"{key0} {prec}"
            rows = [
                src.get(key, {"skip": src.get("skip") or src.get("error") or "no result"}) for src in (jx, eager, comp)
            ]
            med = [Stats(r["times"]).median if "times" in r else None for r in rows]
            cells = [fmt_time(m) if m is not None else _why(r) for m, r in zip(med, rows)]
            losses = " / ".join(f"{r['loss0']:.6g}" if "loss0" in r else "—" for r in rows[:2])
            table.add(
                key0,
                PRECISION_LABEL[prec],
                *cells,
                fmt_ratio_or_dash(ratio(med[1], med[0])),
                fmt_ratio_or_dash(ratio(med[2], med[0])),
                losses,
            )
            if "error" in rows[0]:
                section.failures.append(f"gpu mlp jaxnet {key}: {rows[0]['error']}")
            if prec == "fp32" and "loss0" in rows[0] and "loss0" in rows[1]:
                rel = abs(rows[0]["loss0"] - rows[1]["loss0"]) / max(abs(rows[1]["loss0"]), 1e-12)
                if rel > 1e-3:
                    section.failures.append(f"gpu mlp {key}: jaxnet and torch losses at step 0 differ ({rel:.1e})")
            label = f"GPU MLP {key0} {prec}"
            if prec == "bf16":
                section.ratios.append(
                    at_least(
                        f"{label}: torch.compile (autocast) / jaxnet (speed-up)",
                        None if pretend else ratio(med[2], med[0]),
                        1.0,
                        note="pretend run" if pretend else "",
                    )
                )
            else:
                section.ratios.append(Ratio(f"{label}: torch.compile / jaxnet (speed-up)", ratio(med[2], med[0])))
            section.ratios.append(Ratio(f"{label}: torch eager / jaxnet (speed-up)", ratio(med[1], med[0])))
    table.notes.append(
        'Precisions: fp32 = jax `"highest"` / torch `set_float32_matmul_precision("highest")`, TF32 '
        'off; TF32 = jax `"default"` / torch `"high"`, TF32 on; bf16 = jaxnet '
        "`compute_dtype=bfloat16` / torch `autocast(bfloat16)`, float32 master weights. Same "
        "initial params and data in jaxnet and torch (numpy He init)."
    )
    how = {r.get("how") for r in jx.values() if isinstance(r, dict) and "how" in r}
    table.notes.append(
        f"jaxnet precision set through {', '.join(sorted(how)) or '—'}; torch.compile compiles each "
        "precision afresh (`torch._dynamo.reset()`), its first call is in the worker's time."
    )
    section.tables.append(table)


def fmt_ratio_or_dash(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}×"


def run(quick: bool = False, pretend: bool = False) -> Section:
    """The GPU section: skipped (with a message) unless jax's default backend is a GPU or ``pretend``."""
    section = Section(NAME, TITLE)
    mode = "pretend" if pretend else "quick" if quick else "full"
    deadline = time.monotonic() + BUDGET_S[mode]
    probe = _part("probe", {}, deadline)
    if "backend" not in probe:
        section.notes.append(f"GPU section skipped: could not ask jax for its backend ({_why(probe)}).")
        return section
    if probe["backend"] != "gpu" and not pretend:
        section.notes.append(
            f"GPU section skipped: jax.default_backend() is {probe['backend']!r}, not 'gpu' "
            "(`--pretend-gpu` runs it at tiny sizes on this device, as a test of the code)."
        )
        return section
    cfg = PRETEND if pretend else QUICK if quick else FULL
    section.tables.append(_device_table(probe, pretend))
    _sweep_table(section, _part("sweep", cfg, deadline), pretend)
    _fit_table(section, _part("fit", cfg, deadline), pretend)
    jx = _part("mlp_jax", cfg, deadline)
    eager = _part("torch", cfg, deadline)
    comp: dict[str, Any] = {}
    for sizes, batch in cfg["mlp"]:  # one worker per size: a compile that runs out of time loses only its size
        res = _part("torch_compile", {**cfg, "mlp": [(sizes, batch)]}, deadline)
        for prec in PRECISIONS:
            key = f"{_size_key(sizes, batch)} {prec}"
            comp[key] = res.get(key, {k: v for k, v in res.items() if k in ("skip", "error")} or {"error": "no result"})
    _mlp_table(section, jx, eager, comp, cfg, pretend)
    section.notes.append(
        f"Every time: warm-up calls, then the median of up to {cfg['repeat']} repeats (fewer where "
        f"one call is long), waiting with block_until_ready / torch.cuda.synchronize. Section "
        f"budget {BUDGET_S[mode]:.0f} s; parts past it are skipped and say so."
    )
    if pretend:
        section.notes.append(
            "PRETEND run (--pretend-gpu): tiny sizes on the default device; the numbers test the code paths only."
        )
    return section


if __name__ == "__main__":
    module_main(worker, run)

"""Benchmark 3: one training step of a big MLP, 784-512-512-1, batch 1024, float32.

Compared: the jaxnet jitted step (``make_train_step(optax.sgd(0.1))``), a
``fit`` chunk (several steps in one compiled call), PyTorch eager and
``torch.compile`` (in its own subprocess with a time limit; skipped if it
fails).  Achieved GFLOP/s counts the real matmul FLOPs of forward + backward
and is compared with a plain ``jnp.dot`` float32 peak measured in this run.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Callable
from typing import Any

from benchmarks._harness import (
    Ratio,
    Section,
    Stats,
    Table,
    WorkerError,
    at_least,
    fmt_spread,
    fmt_time,
    guard,
    module_main,
    ratio,
    run_worker,
    time_once,
)

NAME = "mlp"
MODULE = "big_mlp"
TITLE = "3. Big MLP 784-512-512-1, batch 1024, float32, one SGD step"
SIZES = (784, 512, 512, 1)
BATCH = 1024
PEAK_SIZES = (1024, 2048)
TORCH_COMPILE_TIMEOUT = 300
NO_YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type="  # diagnostic: XLA's YNNPACK fusions off


def step_flops(sizes: tuple[int, ...] = SIZES, batch: int = BATCH) -> int:
    """Matmul FLOPs of one training step (forward + backward).

    Forward: 2·N·Σ in·out.  Backward: a weight gradient (2·N·in·out) for every
    layer and an input gradient (2·N·in·out) for every layer but the first,
    whose input (the data) needs none.
    """
    layer = [2 * batch * i * o for i, o in zip(sizes[:-1], sizes[1:])]
    return sum(layer) + sum(layer) + sum(layer[1:])


# --------------------------------------------------------------------------
# Worker side
# --------------------------------------------------------------------------


def _data(seed: int = 0) -> tuple[Any, Any]:
    """Fixed random inputs (N, 784) and 0/1 targets (N,), float32 numpy."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = (rng.random(BATCH) < 0.5).astype(np.float32)
    return x, y


def _matmul_peak(repeat: int) -> dict[str, Any]:
    """Median time of a jitted float32 ``jnp.dot`` of n×n by n×n matrices."""
    import jax
    import jax.numpy as jnp

    out = {}
    for n in PEAK_SIZES:
        ka, kb = jax.random.split(jax.random.PRNGKey(n))
        a = jax.random.normal(ka, (n, n), jnp.float32)
        b = jax.random.normal(kb, (n, n), jnp.float32)
        dot = jax.jit(jnp.dot)
        dot(a, b).block_until_ready()
        times = []
        for _ in range(repeat):
            t, _ = time_once(lambda: dot(a, b).block_until_ready())
            times.append(t)
        out[str(n)] = {"times": times, "flops": 2 * n**3}
    return out


def _jaxnet_step(repeat: int, bf16: bool = False) -> dict[str, Any]:
    """The jitted train step, fed its own output each call (``bf16``: ``compute_dtype=jnp.bfloat16``)."""
    import inspect

    import jax
    import jax.numpy as jnp
    import optax

    import jaxnet

    extra: dict[str, Any] = {}
    if bf16:
        if "compute_dtype" not in inspect.signature(jaxnet.make_train_step).parameters:
            return {"skip": "skipped: make_train_step has no compute_dtype argument yet"}
        extra["compute_dtype"] = jnp.bfloat16
    x, y = (jnp.asarray(a) for a in _data())
    params = jaxnet.init_mlp(jax.random.PRNGKey(0), list(SIZES), dtype=jnp.float32)
    opt = optax.sgd(0.1)
    step = jaxnet.make_train_step(opt, **extra)
    state = [params, opt.init(params)]

    def call() -> Any:
        p, s, loss = step(state[0], state[1], x, y)
        state[:] = [p, s]
        return jax.block_until_ready(loss)

    first, loss0 = time_once(call)
    times = [time_once(call)[0] for _ in range(repeat + 2)][2:]
    return {"times": times, "first": first, "loss0": float(loss0)}


def _jaxnet_fit(repeat: int, chunk: int) -> dict[str, Any]:
    """``fit`` running ``chunk`` full-batch steps in one compiled call."""
    import jax
    import jax.numpy as jnp
    import optax

    import jaxnet

    x, y = (jnp.asarray(a) for a in _data())
    params = jaxnet.init_mlp(jax.random.PRNGKey(0), list(SIZES), dtype=jnp.float32)
    opt = optax.sgd(0.1)

    def call() -> Any:
        return jax.block_until_ready(
            jaxnet.fit(params, x, y, optimizer=opt, steps=chunk, chunk=chunk, progress=False, record_every=chunk)
        )

    first, _ = time_once(call)
    times = [time_once(call)[0] for _ in range(repeat)]
    return {"times": times, "first": first, "steps": chunk}


def _torch_model(compiled: bool, bf16: bool = False) -> tuple[Any, Callable[[], Any]]:
    """PyTorch twin of the jaxnet MLP (same init) and a function doing one step (``bf16``: under autocast)."""
    import contextlib

    import jax
    import numpy as np
    import torch

    import jaxnet

    torch.set_num_threads(os.cpu_count() or 1)
    params = jaxnet.init_mlp(jax.random.PRNGKey(0), list(SIZES), dtype=np.float32)
    layers: list[Any] = []
    for i in range(len(SIZES) - 1):
        lin = torch.nn.Linear(SIZES[i], SIZES[i + 1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.array(params[f"W{i + 1}"])))
            lin.bias.copy_(torch.from_numpy(np.array(params[f"b{i + 1}"])))
        layers += [lin, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    x, y = (torch.from_numpy(a) for a in _data())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    forward = torch.compile(model) if compiled else model
    bce = torch.nn.BCEWithLogitsLoss()
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        with autocast():
            loss = bce(forward(x).squeeze(-1).float(), y)
        loss.backward()
        opt.step()
        return float(loss)

    return model, step


def _torch(repeat: int, compiled: bool, bf16: bool = False) -> dict[str, Any]:
    _, step = _torch_model(compiled, bf16)
    first, loss0 = time_once(step)
    times = [time_once(step)[0] for _ in range(repeat + 2)][2:]
    return {"times": times, "first": first, "loss0": loss0, "threads": __import__("torch").get_num_threads()}


def _torch_matmul_peak(repeat: int) -> dict[str, Any]:
    """``torch.mm`` float32 n×n by n×n, for comparison with the jnp.dot peak."""
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    out = {}
    for n in PEAK_SIZES:
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.mm(a, b)
        out[str(n)] = {"times": [time_once(lambda: torch.mm(a, b))[0] for _ in range(repeat)], "flops": 2 * n**3}
    return out


def worker(args: dict[str, Any]) -> dict[str, Any]:
    """One part per process, so XLA's and PyTorch's thread pools never meet."""
    repeat, part = int(args["repeat"]), args["part"]
    if part in ("torch_eager", "torch_compile"):
        if importlib.util.find_spec("torch") is None:
            return {"torch": {"skip": "torch is not importable"}}
        rows = {"torch": guard(lambda: _torch(repeat, compiled=part == "torch_compile"))}
        if part == "torch_eager":
            rows["torch peak"] = guard(lambda: _torch_matmul_peak(repeat))
            rows["torch bf16"] = guard(lambda: _torch(repeat, compiled=False, bf16=True))
        return rows
    if part == "jax_diag":
        return {"step noynn": guard(lambda: _jaxnet_step(repeat))}
    rows: dict[str, Any] = {"peak": guard(lambda: _matmul_peak(repeat))}
    rows["step"] = guard(lambda: _jaxnet_step(repeat))
    rows["fit"] = guard(lambda: _jaxnet_fit(max(3, repeat // 4), int(args["chunk"])))
    rows["step bf16"] = guard(lambda: _jaxnet_step(repeat, bf16=True))
    return rows


# --------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------


def _peak(rows: dict[str, Any], table: Table, key: str = "peak", name: str = "`jnp.dot`") -> float | None:
    """Best matmul FLOP/s of ``rows[key]``, adding its table rows."""
    peak = rows.get(key, {})
    if "error" in peak or "skip" in peak:
        table.add(f"{name} peak", peak.get("skip") or f"ERROR: {peak['error']}", "", "", "", "", "")
        return None
    best = None
    for n, r in peak.items():
        st = Stats(r["times"])
        flops = r["flops"] / st.min  # a peak: best of the repeats
        best = max(best or 0.0, flops)
        table.add(
            f"{name} {n}×{n} @ {n}×{n}",
            f"{fmt_time(st.median)} (best {fmt_time(st.min)})",
            fmt_spread(st),
            "—",
            f"{flops / 1e9:.1f} (best)",
            "(reference)" if key == "peak" else "—",
            "—",
        )
    return best


def _build(rows: dict[str, Any]) -> Section:
    """The section: one table, the peak reference and the summary ratios."""
    flops = step_flops()
    section = Section(NAME, TITLE)
    table = Table(
        f"float32, batch {BATCH}; {flops / 1e9:.3f} GFLOP of matmul per training step",
        [
            "implementation",
            "per step (median)",
            "min – max",
            "first call (incl. compile)",
            "GFLOP/s",
            "% of jnp.dot peak",
            "loss at step 0",
        ],
    )
    peak = _peak(rows, table)
    med: dict[str, float] = {}
    labels = {
        "step": "jaxnet `make_train_step` jitted step",
        "step noynn": f"  diagnostic: same, XLA_FLAGS={NO_YNN_FLAG}",
        "fit": "jaxnet `fit` chunk (per step)",
        "torch": "PyTorch eager",
        "torch_compile": "PyTorch `torch.compile` (model; cold inductor cache)",
        "step bf16": "jaxnet jitted step, `compute_dtype=bfloat16`",
        "torch bf16": "PyTorch eager under `autocast(bfloat16)`",
    }
    for key, label in labels.items():
        r = rows.get(key, {"skip": "not run (see the rows above)"})
        if "times" not in r:
            table.add(label, r.get("skip") or f"ERROR: {r.get('error')}", "", "", "", "", "")
            if "error" in r:
                section.notes.append(f"{label} failed: {r['error']}")
            continue
        per = 1 / r.get("steps", 1)
        st = Stats(r["times"]).scaled(per)
        med[key] = st.median
        achieved = flops / st.median
        table.add(
            label,
            fmt_time(st.median),
            fmt_spread(st),
            fmt_time(r.get("first")),
            f"{achieved / 1e9:.1f}",
            f"{100 * achieved / peak:.0f}%" if peak else "—",
            f"{r['loss0']:.6f}" if "loss0" in r else "—",
        )
    _peak(rows, table, "torch peak", "`torch.mm` (for comparison)")
    threads = rows.get("torch", {}).get("threads")
    table.notes.append(
        f"fit chunk = {rows.get('fit', {}).get('steps', '?')} full-batch steps per compiled call; "
        f"PyTorch uses {threads} intra-op threads; XLA uses its default thread pool."
    )
    table.notes.append(
        "% of peak = achieved GFLOP/s at the median step time / the best `jnp.dot` GFLOP/s "
        "(best of its repeats, over both sizes); jax, PyTorch eager and "
        "torch.compile each run in their own subprocess."
    )
    table.notes.append(
        "FLOPs: forward 2·N·Σ in·out; backward = weight gradients of all layers + input "
        "gradients of layers 2..L (none for the data) — see `step_flops`."
    )
    section.tables.append(table)
    section.ratios.append(
        at_least(
            "big MLP: PyTorch eager / jaxnet jitted step (speed-up)", ratio(med.get("torch"), med.get("step")), 1.2
        )
    )
    if "torch_compile" in med:
        section.ratios.append(
            Ratio(
                "big MLP: torch.compile / jaxnet jitted step (speed-up)",
                ratio(med.get("torch_compile"), med.get("step")),
            )
        )
    frac = None if peak is None or "step" not in med else flops / med["step"] / peak
    section.ratios.append(
        Ratio(
            "big MLP: jaxnet step GFLOP/s / jnp.dot peak", frac, "≥ 0.9× (90%)", None if frac is None else frac >= 0.9
        )
    )
    if "fit" in med and "step" in med:
        section.ratios.append(
            Ratio("big MLP: jaxnet fit chunk per step / jitted step", ratio(med["fit"], med.get("step")))
        )
    bf16 = rows.get("step bf16", {})
    section.ratios.append(
        at_least(
            "big MLP bf16: PyTorch eager autocast bf16 / jaxnet bf16 step (speed-up)",
            ratio(med.get("torch bf16"), med.get("step bf16")),
            1.0,
            note=bf16.get("skip", ""),
        )
    )
    section.ratios.append(
        Ratio(
            "big MLP: jaxnet float32 step / jaxnet bf16 step (speed-up)", ratio(med.get("step"), med.get("step bf16"))
        )
    )
    loss32, loss16 = rows.get("step", {}).get("loss0"), bf16.get("loss0")
    if loss32 is not None and loss16 is not None:
        table.notes.append(
            f"bf16 loss at step 0 differs from float32 by {abs(loss16 - loss32) / abs(loss32):.1e} (relative)."
        )
    return section


def run(quick: bool = False) -> Section:
    """Run benchmark 3: jax, torch eager and torch.compile in separate workers."""
    repeat = 5 if quick else 20
    chunk = 3 if quick else 10
    try:
        rows = run_worker(MODULE, {"part": "jax", "repeat": repeat, "chunk": chunk}, timeout=300)
    except WorkerError as exc:
        rows = {"step": {"error": str(exc)[:600]}}
    try:
        rows.update(run_worker(MODULE, {"part": "torch_eager", "repeat": repeat}, timeout=300))
    except WorkerError as exc:
        rows["torch"] = {"error": str(exc)[:600]}
    flags = f"{os.environ.get('XLA_FLAGS', '')} {NO_YNN_FLAG}".strip()
    try:
        rows.update(
            run_worker(MODULE, {"part": "jax_diag", "repeat": repeat}, timeout=300, env_extra={"XLA_FLAGS": flags})
        )
    except WorkerError as exc:
        rows["step noynn"] = {"error": str(exc)[:300]}
    with tempfile.TemporaryDirectory(prefix="jaxnet-inductor-") as cache:  # a cold compile
        try:
            compiled = run_worker(
                MODULE,
                {"part": "torch_compile", "repeat": repeat},
                timeout=TORCH_COMPILE_TIMEOUT,
                env_extra={
                    "TORCHINDUCTOR_CACHE_DIR": cache,
                    # compile in-process: CPU use stays accountable
                    "TORCHINDUCTOR_COMPILE_THREADS": "1",
                },
            )
            rows["torch_compile"] = compiled["torch"]
        except WorkerError as exc:
            rows["torch_compile"] = {"skip": f"torch.compile did not finish: {str(exc).splitlines()[0][:200]}"}
    return _build(rows)


if __name__ == "__main__":
    module_main(worker, run)

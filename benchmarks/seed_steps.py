"""Benchmark 1: the worked-example net, 10,000 SGD steps, per-step time.

Implementations (float64 and float32): the notebook's numpy loop, plain
Python floats (float64 only), the jaxnet jitted step called from a Python
loop, jaxnet ``fit`` (scan-fused; manual and autodiff gradients; one loss
recorded vs a loss every step), PyTorch eager autograd + ``torch.optim.SGD``,
a C reference loop compiled with ``cc -O2``, and (not jaxnet) a hand-written
``jax.lax.fori_loop`` showing what XLA itself reaches for this loop.

All implementations must end at the same parameters and loss; the loss of
every implementation's final parameters is evaluated in float64 numpy and
compared with the C loop (float64: 1e-9; float32: see FLOAT32_* below).
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks._harness import (
    NOT_MEASURABLE,
    SEED_LOSS_AFTER_ONE_STEP,
    Ratio,
    Section,
    Stats,
    Table,
    WorkerError,
    at_least,
    at_most,
    compile_c,
    fmt_spread,
    fmt_time,
    guard,
    marginal_cost,
    max_param_diff,
    module_main,
    params_to_json,
    ratio,
    run_json_command,
    run_worker,
    seed_loss64,
    time_once,
)

NAME = "seed"
MODULE = "seed_steps"
TITLE = "1. Worked-example net (2-3-1), SGD steps"
FLOAT64_TOL = 1e-9  # max |Δ| of final params and of final loss vs C (float64)
FLOAT32_PARAM_TOL = 1e-4  # max |Δ| of final params vs C (float32)
FLOAT32_LOSS_RTOL = 1e-2  # relative |Δ| of final loss vs C (float32; the loss is ~5e-5)
DTYPES = ("float64", "float32")
LONG = 10  # fit and the bare loops are also timed at LONG x steps: the marginal cost per step between the two
UNROLL = 4  # the unrolled bare loop's steps per iteration (issue 17: "try unrolling to get under it")


# --------------------------------------------------------------------------
# Worker side: jaxnet and torch (runs in a subprocess per dtype)
# --------------------------------------------------------------------------


def _bench_step_loop(steps: int, repeat: int, dtype: str) -> dict[str, Any]:
    """jaxnet.make_train_step(optax.sgd(0.1)) called from a Python loop."""
    import jax
    import jax.numpy as jnp
    import optax

    import jaxnet

    params0, x, y = jaxnet.seed_example(dtype=jnp.dtype(dtype))
    opt = optax.sgd(0.1)
    step = jaxnet.make_train_step(opt)

    def fresh() -> tuple[Any, Any]:
        p = jax.tree_util.tree_map(jnp.array, params0)  # copies (step may donate)
        return p, opt.init(p)

    p, s = fresh()
    first, (p1, _, _) = time_once(lambda: jax.block_until_ready(step(p, s, x, y)))
    loss_after_1 = seed_loss64(params_to_json(p1))
    compile_s = None
    if hasattr(step, "lower"):
        p, s = fresh()
        t0 = time.perf_counter()
        step.lower(p, s, x, y).compile()
        compile_s = time.perf_counter() - t0

    def run(p: Any, s: Any) -> Any:
        for _ in range(steps):
            p, s, _loss = step(p, s, x, y)
        return jax.block_until_ready(p)

    times, final = [], None
    for _ in range(repeat):
        p, s = fresh()
        t, final = time_once(lambda: run(p, s))
        times.append(t)
    return {
        "times": times,
        "first": first,
        "compile": compile_s,
        "params": params_to_json(final),
        "loss_after_1": loss_after_1,
    }


def _bench_fit(steps: int, repeat: int, dtype: str, gradients: str, record_every: int | None) -> dict[str, Any]:
    """jaxnet.fit, the whole run as one compiled call (chunk=steps).

    ``record_every=None`` leaves both ``record_every`` and ``chunk`` at fit's
    defaults: what a user who passes neither gets.
    """
    import jax
    import jax.numpy as jnp
    import optax

    import jaxnet

    params0, x, y = jaxnet.seed_example(dtype=jnp.dtype(dtype))
    opt = optax.sgd(0.1)  # one object for all calls, so a cache keyed on it can hit

    options = {} if record_every is None else {"record_every": record_every, "chunk": steps}

    def call(optimizer: Any = opt) -> Any:
        out = jaxnet.fit(  # fit neither mutates nor donates params: no copy needed
            params0,
            x,
            y,
            optimizer=optimizer,
            steps=steps,
            progress=False,
            gradients=gradients,
            **options,
        )
        return jax.block_until_ready(out)

    first, _ = time_once(call)
    times, out = [], None
    for _ in range(repeat):
        t, out = time_once(call)
        times.append(t)
    params, _, history = out
    # Does a call with a fresh (but equal) optimizer object recompile?
    fresh_opt, _ = time_once(lambda: call(optax.sgd(0.1)))
    n_loss = len(history["loss"]) if isinstance(history, dict) and "loss" in history else None
    return {
        "times": times,
        "first": first,
        "params": params_to_json(params),
        "n_loss": n_loss,
        "fresh_optimizer_call": fresh_opt,
    }


def _bench_fit_slope(steps: int, repeat: int, dtype: str) -> dict[str, Any]:
    """fit (manual, one loss) at ``LONG * steps``: with the row at ``steps``, fixed cost vs cost per step."""
    long = _bench_fit(LONG * steps, repeat, dtype, "manual", LONG * steps)
    return {"long_steps": LONG * steps, "long_times": long["times"]}


def _bench_pure_jax(steps: int, repeat: int, dtype: str, unroll: int = 1) -> dict[str, Any]:
    """Hand-written jax.lax.fori_loop of the worked example, no jaxnet; with ``unroll > 1`` a ``lax.scan``
    of the same step unrolled that many times.

    Not a jaxnet row: it shows what XLA itself reaches for this loop, so a
    gap between it and ``fit`` is jaxnet's own overhead. Timed at ``steps``
    and ``LONG * steps``, for its marginal cost per step.
    """
    import jax
    import jax.numpy as jnp

    from benchmarks._harness import SEED_X, SEED_Y, seed_params_numpy

    x = jnp.asarray(SEED_X, dtype)
    y = jnp.asarray(SEED_Y, dtype)
    params0 = {k: jnp.asarray(v, dtype) for k, v in seed_params_numpy().items()}

    def step(p: dict[str, Any]) -> dict[str, Any]:
        z1 = p["W1"] @ x + p["b1"]
        a1 = jnp.maximum(z1, 0)
        z2 = p["W2"] @ a1 + p["b2"]
        dz2 = jax.nn.sigmoid(z2) - y
        dz1 = (p["W2"].T @ dz2) * (z1 > 0)
        g = {"W1": jnp.outer(dz1, x), "b1": dz1, "W2": jnp.outer(dz2, a1), "b2": dz2}
        return jax.tree_util.tree_map(lambda a, b: a - 0.1 * b, p, g)

    if unroll == 1:  # the step count a traced bound: one program for every count
        train = jax.jit(lambda p, n: jax.lax.fori_loop(0, n, lambda i, q: step(q), p))
    else:  # lax.scan unrolls only a static length: one program per count
        scan = lambda p, n: jax.lax.scan(lambda q, _: (step(q), None), p, length=n, unroll=unroll)[0]  # noqa: E731
        train = jax.jit(scan, static_argnums=1)

    def timed(n: int) -> tuple[list[float], Any]:
        times, out = [], None
        for _ in range(repeat):
            t, out = time_once(lambda: jax.block_until_ready(train(params0, n)))
            times.append(t)
        return times, out

    first, _ = time_once(lambda: jax.block_until_ready(train(params0, steps)))
    times, out = timed(steps)
    train(params0, LONG * steps)  # (unrolled: compiles its own program, untimed)
    one = seed_loss64(params_to_json(train(params0, 1)))
    return {
        "times": times,
        "first": first,
        "params": params_to_json(out),
        "loss_after_1": one,
        "long_steps": LONG * steps,
        "long_times": timed(LONG * steps)[0],
    }


def _bench_torch(steps: int, repeat: int, dtype: str) -> dict[str, Any]:
    """PyTorch eager autograd + torch.optim.SGD, one thread."""
    try:
        import torch
    except ImportError:
        return {"skip": "torch is not importable"}
    import numpy as np

    from benchmarks._harness import SEED_X, SEED_Y, seed_params_numpy

    torch.set_num_threads(1)
    tdtype = getattr(torch, dtype)
    x = torch.tensor(SEED_X, dtype=tdtype)
    y = torch.tensor([SEED_Y], dtype=tdtype)

    def train(n: int) -> dict[str, Any]:
        params = {
            k: torch.tensor(v, dtype=tdtype, requires_grad=True) for k, v in seed_params_numpy(np.float64).items()
        }
        opt = torch.optim.SGD(list(params.values()), lr=0.1)
        for _ in range(n):
            opt.zero_grad(set_to_none=True)
            a1 = torch.relu(params["W1"] @ x + params["b1"])
            z2 = params["W2"] @ a1 + params["b2"]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(z2, y)
            loss.backward()
            opt.step()
        return {k: v.detach().numpy() for k, v in params.items()}

    loss_after_1 = seed_loss64(train(1))
    train(100)  # warm-up
    times, final = [], None
    for _ in range(repeat):
        t, final = time_once(lambda: train(steps))
        times.append(t)
    return {
        "times": times,
        "params": params_to_json(final),
        "loss_after_1": loss_after_1,
        "threads": torch.get_num_threads(),
    }


def worker(args: dict[str, Any]) -> dict[str, Any]:
    """All jax/torch rows for one dtype (x64 is switched on before any array)."""
    steps, repeat, dtype = int(args["steps"]), int(args["repeat"]), args["dtype"]
    import jax

    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    try:
        import jaxnet  # noqa: F401

        have_jaxnet = hasattr(jaxnet, "fit")
    except ImportError:
        have_jaxnet = False
    rows: dict[str, Any] = {}
    if have_jaxnet:
        rows["step loop"] = guard(lambda: _bench_step_loop(steps, repeat, dtype))
        for grads in ("manual", "autodiff"):
            for rec in (steps, 1):
                rows[f"fit {grads} r{rec}"] = guard(lambda g=grads, r=rec: _bench_fit(steps, repeat, dtype, g, r))
        rows["fit manual default"] = guard(lambda: _bench_fit(steps, repeat, dtype, "manual", None))
        rows["fit slope"] = guard(lambda: _bench_fit_slope(steps, repeat, dtype))
    else:
        rows["jaxnet"] = {"skip": "jaxnet (with fit) is not importable yet"}
    rows["pure jax"] = guard(lambda: _bench_pure_jax(steps, repeat, dtype))
    rows["pure jax unrolled"] = guard(lambda: _bench_pure_jax(steps, repeat, dtype, UNROLL))
    rows["torch"] = guard(lambda: _bench_torch(steps, repeat, dtype))
    return rows


# --------------------------------------------------------------------------
# Parent side: C, numpy, tables
# --------------------------------------------------------------------------


def _run_c(steps: int, repeat: int, dtype: str) -> dict[str, Any]:
    """Compile seed_sgd.c with cc -O2 and run it (loop timed inside C)."""
    real = "double" if dtype == "float64" else "float"
    binary, how = compile_c("seed_sgd.c", f"seed_sgd_{dtype}", ["-O2", f"-DREAL={real}"])
    if binary is None:
        return {"skip": how}
    out = run_json_command([str(binary), str(steps), str(repeat)], timeout=120)
    one = run_json_command([str(binary), "1", "1"], timeout=60)
    return {
        "times": [ns * 1e-9 for ns in out["loop_ns"]],
        "params": {k: out[k] for k in ("W1", "b1", "W2", "b2")},
        "loss_after_1": seed_loss64(one),
        "how": how,
    }


def _collect(steps: int, repeat: int, dtype: str) -> tuple[dict[str, Any], str]:
    """Every implementation's raw result for one dtype, plus the BLAS note."""
    rows: dict[str, Any] = {}
    ref = run_worker("_reference", {"steps": steps, "repeat": repeat, "dtype": dtype}, timeout=300, drop_openblas=True)
    rows["numpy"] = ref["numpy"]
    rows["python"] = ref.get("python", {"skip": "Python floats are float64 only"})
    try:
        rows.update(run_worker(MODULE, {"steps": steps, "repeat": repeat, "dtype": dtype}, timeout=420))
    except WorkerError as exc:
        rows["jaxnet"] = {"error": str(exc)[:600]}
    rows["C"] = _run_c(steps, repeat, dtype)
    return rows, ref["blas"]


LABELS = {
    "numpy": "notebook numpy loop",
    "python": "plain Python floats",
    "step loop": "jaxnet `make_train_step` jitted step, Python loop",
    "fit manual r{S}": "jaxnet `fit`, manual grads, 1 loss recorded",
    "fit manual r1": "jaxnet `fit`, manual grads, loss every step",
    "fit autodiff r{S}": "jaxnet `fit`, autodiff, 1 loss recorded",
    "fit autodiff r1": "jaxnet `fit`, autodiff, loss every step",
    "fit manual default": "jaxnet `fit`, manual grads, default `record_every` and `chunk`",
    "pure jax": "(not jaxnet) hand-written `jax.lax.fori_loop`, manual grads",
    "pure jax unrolled": f"(not jaxnet) the same step in `jax.lax.scan(..., unroll={UNROLL})`",
    "torch": "PyTorch eager autograd + optim.SGD (1 thread)",
    "C": "C loop, `cc -O2`",
    "jaxnet": "jaxnet",
}


def _label(key: str, steps: int) -> str:
    return LABELS.get(key.replace(f"r{steps}", "r{S}"), key)


def _check(row: dict[str, Any], c_row: dict[str, Any], dtype: str) -> tuple[str, bool | None]:
    """Agreement of a row's final params/loss with the C loop."""
    if "params" not in row or "params" not in c_row:
        return "—", None
    dp = max_param_diff(row["params"], c_row["params"])
    loss, c_loss = seed_loss64(row["params"]), seed_loss64(c_row["params"])
    dl = abs(loss - c_loss)
    if dtype == "float64":
        ok = dp <= FLOAT64_TOL and dl <= FLOAT64_TOL
    else:
        ok = dp <= FLOAT32_PARAM_TOL and dl <= FLOAT32_LOSS_RTOL * abs(c_loss)
    return f"{dp:.1e} / {dl:.1e} {'ok' if ok else 'MISMATCH'}", ok


def _table(dtype: str, rows: dict[str, Any], steps: int) -> tuple[Table, dict[str, float], list[str]]:
    """Table for one dtype; also the per-step medians and failed checks."""
    table = Table(
        f"{dtype}: {steps:,} SGD steps from the worked-example parameters",
        [
            "implementation",
            "per step (median)",
            "per step min – max",
            "first call (incl. compile)",
            "whole run (median)",
            "final loss",
            "max abs Δ params / loss vs C",
        ],
    )
    medians: dict[str, float] = {}
    failures: list[str] = []
    c_row = rows.get("C", {})
    for key, row in rows.items():
        if key == "fit slope":  # not a row: used in the notes
            continue
        label = _label(key, steps)
        if "skip" in row or "error" in row:
            why = row.get("skip") or f"ERROR: {row['error']}"
            table.add(label, why, "", "", "", "", "")
            if "error" in row:
                failures.append(f"{dtype} {label}: {row['error']}")
            continue
        stats = Stats(row["times"])
        medians[key] = stats.median / steps
        check, ok = _check(row, c_row, dtype) if key != "C" else ("(reference)", True)
        if ok is False:
            failures.append(f"{dtype} {label}: final params/loss differ from C ({check})")
        one = row.get("loss_after_1")
        if one is not None and abs(one - SEED_LOSS_AFTER_ONE_STEP) > (1e-12 if dtype == "float64" else 1e-6):
            failures.append(f"{dtype} {label}: loss after 1 step {one!r} != {SEED_LOSS_AFTER_ONE_STEP!r}")
        first = row.get("first")
        table.add(
            label,
            fmt_time(stats.median / steps),
            fmt_spread(stats, 1 / steps),
            fmt_time(first) if first is not None else "—",
            fmt_time(stats.median),
            f"{seed_loss64(row['params']):.17g}",
            check,
        )
    return table, medians, failures


def _recompile_notes(dtype: str, rows: dict[str, Any], steps: int, slopes: dict[str, float | None]) -> list[str]:
    """Notes on fit calls with a fresh optimizer object / the default optimizer, and on the marginal costs
    ``slopes`` (:func:`_marginals`) of the rows timed at two counts."""
    notes = []
    for key, row in rows.items():
        if key.startswith("fit") and "fresh_optimizer_call" in row:
            med = Stats(row["times"]).median
            notes.append(
                f"{dtype} {_label(key, steps)}: call with the same optimizer object {fmt_time(med)}; "
                f"with a fresh `optax.sgd(0.1)` {fmt_time(row['fresh_optimizer_call'])}; "
                f"history['loss'] has {row['n_loss']} entries"
            )
    for key, (short, long, n_short, n_long) in _timings_at_two_counts(rows, steps).items():
        slope = slopes[key]
        if slope is None:
            cost = f"marginal cost {NOT_MEASURABLE} (the difference is <= 0 or below the timing noise)"
        else:
            cost = (
                f"marginal cost {fmt_time(slope)} per step, fixed cost per call "
                f"≈ {fmt_time(short.median - slope * n_short)}"
            )
        notes.append(
            f"{dtype} {_SLOPE_LABELS[key]} at {n_short:,} steps {fmt_time(short.median)}, at {n_long:,} steps "
            f"{fmt_time(long.median)}: {cost}"
        )
    step = rows.get("step loop", {})
    if step.get("compile") is not None:
        notes.append(f"{dtype} jitted step: AOT `step.lower(...).compile()` takes {fmt_time(step['compile'])}")
    return notes


_SLOPE_LABELS = {
    "fit": "fit (manual, 1 loss)",
    "pure jax": "fori_loop (not jaxnet)",
    "pure jax unrolled": f"lax.scan unroll={UNROLL} (not jaxnet)",
}


def _timings_at_two_counts(rows: dict[str, Any], steps: int) -> dict[str, tuple[Stats, Stats, int, int]]:
    """``{key: (times at steps, times at the long count, steps, the long count)}`` of the rows timed at both
    counts (fit's long run is a row of its own, "fit slope")."""
    pairs = {"fit": (rows.get(f"fit manual r{steps}", {}), rows.get("fit slope", {}))}
    pairs.update({key: (rows.get(key, {}),) * 2 for key in ("pure jax", "pure jax unrolled")})
    return {
        key: (Stats(short["times"]), Stats(long["long_times"]), steps, long["long_steps"])
        for key, (short, long) in pairs.items()
        if "times" in short and "long_times" in long
    }


def _marginals(rows: dict[str, Any], steps: int) -> dict[str, float | None]:
    """Marginal cost per step (:func:`marginal_cost`) of fit and the bare loops: the fixed cost per call apart."""
    return {
        key: marginal_cost(short, n_short, long, n_long)
        for key, (short, long, n_short, n_long) in _timings_at_two_counts(rows, steps).items()
    }


def _marginal_ratios(dtype: str, slopes: dict[str, float | None], c: float | None) -> list[Ratio]:
    """Issue 17's per-step targets on the marginal cost per step (what a step adds, the call's fixed cost apart)."""
    fit, fori = slopes.get("fit"), slopes.get("pure jax")
    return [
        at_most(
            f"{dtype}: fit (manual) / fori_loop, marginal cost per step",
            ratio(fit, fori),
            1.1,
            note="per-step overhead; the fixed cost per call is in the notes",
        ),
        at_most(f"{dtype}: fit (manual) marginal cost per step / C -O2", ratio(fit, c), 1.5),
        Ratio(
            f"{dtype}: lax.scan unroll={UNROLL} / fori_loop, marginal cost per step (not jaxnet)",
            ratio(slopes.get("pure jax unrolled"), fori),
            note="what unrolling gives XLA:CPU",
        ),
    ]


def _ratios(dtype: str, med: dict[str, float], steps: int) -> list[Ratio]:
    """Summary lines for one dtype (time ratios; speed-ups vs numpy)."""
    c, numpy = med.get("C"), med.get("numpy")
    out = []
    for grads in ("manual", "autodiff"):
        fit = med.get(f"fit {grads} r{steps}")
        out.append(at_most(f"{dtype}: fit ({grads}) per step / C -O2", ratio(fit, c), 1.5))
        out.append(at_least(f"{dtype}: numpy loop / fit ({grads}) per step", ratio(numpy, fit), 200))
    out.append(
        at_most(
            f"{dtype}: fit (autodiff) / fit (manual, hand-derived) per step",
            ratio(med.get(f"fit autodiff r{steps}"), med.get(f"fit manual r{steps}")),
            1.1,
        )
    )
    out.append(
        Ratio(
            f"{dtype}: fit (manual, loss every step) / fit (manual, 1 loss)",
            ratio(med.get("fit manual r1"), med.get(f"fit manual r{steps}")),
            note="cost of recording the loss every step",
        )
    )
    out.append(
        at_most(
            f"{dtype}: fit (manual, default record_every) / fit (manual, 1 loss)",
            ratio(med.get("fit manual default"), med.get(f"fit manual r{steps}")),
            1.1,
            note="the default must cost ≤ 10%",
        )
    )
    out.append(
        Ratio(
            f"{dtype}: fit (manual, loss every step) / fit (manual, default record_every)",
            ratio(med.get("fit manual r1"), med.get("fit manual default")),
        )
    )
    out.append(
        Ratio(
            f"{dtype}: jitted step in Python loop / C -O2",
            ratio(med.get("step loop"), c),
            note="dispatch overhead per call",
        )
    )
    out.append(
        Ratio(
            f"{dtype}: fit (manual) / hand-written fori_loop (no jaxnet), whole call",
            ratio(med.get(f"fit manual r{steps}"), med.get("pure jax")),
            note="jaxnet's overhead over XLA, its fixed cost per call included",
        )
    )
    out.append(Ratio(f"{dtype}: PyTorch eager / C -O2", ratio(med.get("torch"), c)))
    return out


def run(quick: bool = False) -> Section:
    """Run benchmark 1 for both dtypes and build its section."""
    steps, repeat = (1_000, 3) if quick else (10_000, 5)
    section = Section(NAME, TITLE)
    for dtype in DTYPES:
        rows, blas = _collect(steps, repeat, dtype)
        table, medians, failures = _table(dtype, rows, steps)
        table.notes.append(
            f"numpy loop run in a subprocess with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset; BLAS: {blas}"
        )
        slopes = _marginals(rows, steps)
        table.notes.extend(_recompile_notes(dtype, rows, steps, slopes))
        section.tables.append(table)
        section.ratios.extend(_ratios(dtype, medians, steps))
        section.ratios.extend(_marginal_ratios(dtype, slopes, medians.get("C")))
        section.failures.extend(failures)
    section.notes.append(
        "Final loss = BCE of the worked-example sample at each implementation's final parameters, "
        "evaluated in float64 numpy. Tolerances vs C: float64 1e-9 (params and loss); "
        f"float32 {FLOAT32_PARAM_TOL:g} abs on params and {FLOAT32_LOSS_RTOL:g} relative on the loss. "
        f"Each implementation's loss after 1 step is also checked against {SEED_LOSS_AFTER_ONE_STEP}."
    )
    section.notes.append(
        f"Per step = whole-run time / {steps:,}; median of {repeat} repeats after a warm-up call "
        "(jax results waited for with `block_until_ready`); C times its loop itself with clock_gettime."
    )
    return section


if __name__ == "__main__":
    module_main(worker, run)

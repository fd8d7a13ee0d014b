"""Benchmark 2: a learning-rate sweep of K worked-example nets.

K = 10,000 copies of the worked-example net (same start, same sample), net k
trained with SGD at learning rate ``linspace(0.01, 1.0, K)[k]`` for 1,000
steps.  Compared, in ns per net-step:

* ``jaxnet.sweep`` — all K nets in one compiled program;
* K separate ``jaxnet.fit`` calls — a few are timed and the total is
  extrapolated to K (each call gets its own ``optax.sgd(lr)``);
* a vectorised C loop (``c/sweep_sgd.c``, ``gcc -O3 -march=native``,
  structure-of-arrays, net index innermost), on 1 thread and on all cores.

The final losses of jaxnet and C are checked to agree for every net.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._harness import (
    Ratio,
    Section,
    Stats,
    Table,
    WorkerError,
    at_most,
    compile_c,
    fmt_spread,
    fmt_time,
    guard,
    module_main,
    ratio,
    run_json_command,
    run_worker,
    time_once,
)

NAME = "sweep"
MODULE = "sweep"
TITLE = "2. Learning-rate sweep: K worked-example nets trained at once"
LR_RANGE = (0.01, 1.0)
TOL = {"float64": 1e-9, "float32": 1e-4}  # max |Δ| of final params and losses vs C
DTYPES = ("float64", "float32")
# XLA:CPU (jax 0.10) routes small reductions through YNNPACK fusions; this
# turns them off, to show how much of the sweep's time they cost.
NO_YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type="
X, Y = np.array([0.5, 0.8]), 1.0


# --------------------------------------------------------------------------
# Parameters as 13 rows of K (the C program's layout) and their losses
# --------------------------------------------------------------------------


def rows_from_params(params: dict[str, Any]) -> np.ndarray:
    """Stack a params dict with leading K axis into a (13, K) float64 array."""
    parts = [np.asarray(params[k], np.float64).reshape(np.shape(params[k])[0], -1) for k in ("W1", "b1", "W2", "b2")]
    return np.concatenate(parts, axis=1).T


def losses_from_rows(rows: np.ndarray) -> np.ndarray:
    """Loss of the worked-example sample for each of the K nets, in float64."""
    W1 = rows[0:6].T.reshape(-1, 3, 2)
    b1, W2, b2 = rows[6:9].T, rows[9:12].T, rows[12]
    z1 = W1 @ X + b1
    z2 = np.sum(W2 * np.maximum(z1, 0.0), axis=1) + b2
    return np.logaddexp(0.0, z2) - Y * z2


def learning_rates(K: int) -> np.ndarray:
    return np.linspace(*LR_RANGE, K)


# --------------------------------------------------------------------------
# Worker side (one subprocess per dtype)
# --------------------------------------------------------------------------


def _bench_sweep(K: int, steps: int, repeat: int, dtype: str, out_dir: Path, tag: str = "") -> dict[str, Any]:
    """jaxnet.sweep on K nets sharing the worked-example start."""
    import jax
    import jax.numpy as jnp

    import jaxnet

    params, x, y = jaxnet.seed_example(dtype=jnp.dtype(dtype))
    lrs = learning_rates(K).astype(dtype)

    def call() -> Any:
        return jax.block_until_ready(
            jaxnet.sweep(x, y, steps=steps, params=params, learning_rates=lrs, record_every=steps)
        )

    first, _ = time_once(call)
    times, out = [], None
    for _ in range(repeat):
        t, out = time_once(call)
        times.append(t)
    final, losses = out[0], out[1]  # (params, losses) or (params, losses, diverged)
    np.save(out_dir / f"sweep{tag}_{dtype}.npy", rows_from_params(final))
    return {"times": times, "first": first, "loss_shape": list(np.shape(losses))}


def _bench_fits(K: int, steps: int, n_calls: int, dtype: str, out_dir: Path) -> dict[str, Any]:
    """A few separate jaxnet.fit calls of the sweep, for extrapolation to K."""
    import jax
    import jax.numpy as jnp
    import optax

    import jaxnet

    params0, x, y = jaxnet.seed_example(dtype=jnp.dtype(dtype))
    lrs = learning_rates(K)
    picks = np.linspace(0, K - 1, n_calls).round().astype(int)

    def call(opt: Any) -> Any:
        return jax.block_until_ready(
            jaxnet.fit(  # fit neither mutates nor donates params
                params0,
                x,
                y,
                optimizer=opt,
                steps=steps,
                chunk=steps,
                progress=False,
                gradients="manual",
                record_every=steps,
            )
        )

    warm_opt = optax.sgd(float(lrs[0]))
    call(warm_opt)  # warm up everything that does not depend on the optimizer
    times, finals = [], []
    for k in picks:
        t, (p, _, _) = time_once(lambda: call(optax.sgd(float(lrs[k]))))
        times.append(t)
        finals.append(p)
    # The same optimizer object again: what a call costs without recompiling.
    cached = [time_once(lambda: call(warm_opt))[0] for _ in range(3)]
    stacked = {k: np.stack([np.asarray(f[k]) for f in finals]) for k in ("W1", "b1", "W2", "b2")}
    np.save(out_dir / f"fits_{dtype}.npy", rows_from_params(stacked))
    return {"times": times, "cached": cached, "picks": picks.tolist()}


def worker(args: dict[str, Any]) -> dict[str, Any]:
    K, steps, repeat, n_calls = (int(args[k]) for k in ("K", "steps", "repeat", "fit_calls"))
    dtype, out_dir = args["dtype"], Path(args["out_dir"])
    import jax

    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    import jaxnet

    rows: dict[str, Any] = {}
    tag = args.get("tag", "")
    if hasattr(jaxnet, "sweep"):
        rows["sweep"] = guard(lambda: _bench_sweep(K, steps, repeat, dtype, out_dir, tag))
    else:
        rows["sweep"] = {"error": "jaxnet.sweep does not exist"}
    if not tag:
        rows["fits"] = guard(lambda: _bench_fits(K, steps, n_calls, dtype, out_dir))
    return rows


# --------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------


def _run_c(K: int, steps: int, repeat: int, dtype: str, out_dir: Path, threads: int) -> dict[str, Any]:
    """Compile and run the vectorised C sweep; its final params go to out_dir."""
    real = "double" if dtype == "float64" else "float"
    flags = ["-O3", "-march=native", "-fno-math-errno", "-fopenmp", f"-DREAL={real}"]
    binary, how = compile_c("sweep_sgd.c", f"sweep_sgd_{dtype}", flags, compiler="gcc")
    if binary is None:
        return {"skip": how}
    lr_file = out_dir / "lr.bin"
    learning_rates(K).astype(np.float64).tofile(lr_file)
    out_file = out_dir / f"c_{dtype}_{threads}.bin"
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        out = run_json_command([str(binary), str(K), str(steps), str(repeat), str(lr_file), str(out_file)], timeout=300)
    finally:
        os.environ.pop("OMP_NUM_THREADS", None)
    np.save(out_dir / f"c_{dtype}_{threads}.npy", np.fromfile(out_file).reshape(13, K))
    return {"times": [ns * 1e-9 for ns in out["loop_ns"]], "how": how, "threads": out["threads"]}


def _agreement(out_dir: Path, dtype: str, name: str, ref: str, picks: list[int] | None = None) -> str:
    """max |Δ| of final params and losses between saved results ``name`` and ``ref``."""
    a_path, b_path = out_dir / f"{name}.npy", out_dir / f"{ref}.npy"
    if not a_path.exists() or not b_path.exists():
        return "—"
    a, b = np.load(a_path), np.load(b_path)
    if picks is not None:
        b = b[:, picks]
    dp = float(np.max(np.abs(a - b)))
    dl = float(np.max(np.abs(losses_from_rows(a) - losses_from_rows(b))))
    ok = dp <= TOL[dtype] and dl <= TOL[dtype]
    return f"{dp:.1e} / {dl:.1e} {'ok' if ok else 'MISMATCH'}"


def _dtype_table(
    dtype: str, rows: dict[str, Any], K: int, steps: int, out_dir: Path, cores: int
) -> tuple[Table, dict[str, float], list[str]]:
    """Table of ns per net-step for one dtype, plus medians and failed checks."""
    net_steps = K * steps
    table = Table(
        f"{dtype}: K = {K:,} nets × {steps:,} steps, ns per net-step",
        [
            "implementation",
            "ns / net-step (median)",
            "min – max",
            "whole sweep (median)",
            "first call (incl. compile)",
            "max abs Δ params / loss vs C 1 thread",
        ],
    )
    med: dict[str, float] = {}
    failures: list[str] = []

    def add_measured(key: str, label: str, stats: Stats, first: float | None, check: str) -> None:
        med[key] = stats.median / net_steps
        table.add(
            label,
            f"{stats.median / net_steps * 1e9:.3g}",
            f"{stats.min / net_steps * 1e9:.3g} – {stats.max / net_steps * 1e9:.3g}",
            fmt_time(stats.median),
            fmt_time(first),
            check,
        )
        if "MISMATCH" in check:
            failures.append(f"{dtype} {label}: {check}")

    ref = f"c_{dtype}_1"
    sw = rows.get("sweep", {})
    if "times" in sw:
        add_measured(
            "sweep",
            "jaxnet `sweep` (one compiled program)",
            Stats(sw["times"]),
            sw["first"],
            _agreement(out_dir, dtype, f"sweep_{dtype}", ref),
        )
    else:
        table.add("jaxnet `sweep`", f"ERROR: {sw.get('error')}", "", "", "", "")
        failures.append(f"{dtype} jaxnet.sweep: {sw.get('error')}")
    diag = rows.get("sweep noynn", {})
    if "times" in diag:
        add_measured(
            "sweep noynn",
            f"  diagnostic: jaxnet `sweep` with XLA_FLAGS={NO_YNN_FLAG}",
            Stats(diag["times"]),
            diag["first"],
            _agreement(out_dir, dtype, f"sweep_noynn_{dtype}", ref),
        )
    elif diag:
        table.add("  diagnostic: sweep without YNN fusion", f"ERROR: {diag.get('error')}", "", "", "", "")
    fits = rows.get("fits", {})
    if "times" in fits:
        per_call = Stats(fits["times"])
        n = len(fits["times"])
        add_measured(
            "fits",
            f"{K:,} separate `fit` calls (EXTRAPOLATED from {n} timed calls × {K:,})",
            per_call.scaled(K),
            None,
            _agreement(out_dir, dtype, f"fits_{dtype}", ref, fits["picks"]),
        )
        cached = Stats(fits["cached"])
        med["fits cached"] = cached.median * K / net_steps
        table.add(
            "  … same, if no call recompiled (same optimizer object; extrapolated)",
            f"{cached.median * K / net_steps * 1e9:.3g}",
            "",
            fmt_time(cached.median * K),
            "—",
            "—",
        )
        table.notes.append(
            f"separate fit calls: median {fmt_time(per_call.median)} per call with a new `optax.sgd(lr)` "
            f"(range {fmt_spread(per_call)}), {fmt_time(cached.median)} when the optimizer object is reused"
        )
    else:
        table.add("separate `fit` calls", f"ERROR: {fits.get('error')}", "", "", "", "")
        failures.append(f"{dtype} separate fit calls: {fits.get('error')}")
    for threads in sorted({1, cores}):
        c = rows.get(f"C {threads}", {})
        label = f"C `gcc -O3 -march=native`, {threads} thread{'s' if threads > 1 else ''}"
        if "times" in c:
            check = "(reference)" if threads == 1 else _agreement(out_dir, dtype, f"c_{dtype}_{threads}", ref)
            add_measured(f"C {threads}", label, Stats(c["times"]), None, check)
        else:
            table.add(label, c.get("skip", "skipped"), "", "", "", "")
    return table, med, failures


def run(quick: bool = False) -> Section:
    """Run benchmark 2 for both dtypes and build its section."""
    K, steps, repeat, fit_calls = (1_000, 200, 3, 3) if quick else (10_000, 1_000, 5, 8)
    cores = os.cpu_count() or 1
    section = Section(NAME, TITLE)
    with tempfile.TemporaryDirectory(prefix="jaxnet-sweep-") as tmp:
        out_dir = Path(tmp)
        for dtype in DTYPES:
            args = {
                "K": K,
                "steps": steps,
                "repeat": repeat,
                "fit_calls": fit_calls,
                "dtype": dtype,
                "out_dir": str(out_dir),
            }
            try:
                rows = run_worker(MODULE, args, timeout=400)
            except WorkerError as exc:
                rows = {"sweep": {"error": str(exc)[:600]}, "fits": {"error": "worker failed"}}
            flags = f"{os.environ.get('XLA_FLAGS', '')} {NO_YNN_FLAG}".strip()
            try:
                rows["sweep noynn"] = run_worker(
                    MODULE, {**args, "tag": "_noynn"}, timeout=300, env_extra={"XLA_FLAGS": flags}
                )["sweep"]
            except WorkerError as exc:
                rows["sweep noynn"] = {"error": str(exc)[:300]}
            for threads in sorted({1, cores}):
                rows[f"C {threads}"] = _run_c(K, steps, repeat, dtype, out_dir, threads)
            table, med, failures = _dtype_table(dtype, rows, K, steps, out_dir, cores)
            section.tables.append(table)
            limit = 3.0 if dtype == "float64" else 1.5
            section.ratios.append(
                at_most(
                    f"{dtype}: sweep / vectorised C (1 thread), per net-step",
                    ratio(med.get("sweep"), med.get("C 1")),
                    limit,
                )
            )
            if cores > 1:
                section.ratios.append(
                    Ratio(
                        f"{dtype}: sweep / vectorised C ({cores} threads), per net-step",
                        ratio(med.get("sweep"), med.get(f"C {cores}")),
                        note="same core count as XLA may use",
                    )
                )
            section.ratios.append(
                Ratio(
                    f"{dtype}: sweep with YNN fusion off / vectorised C (1 thread)",
                    ratio(med.get("sweep noynn"), med.get("C 1")),
                    note=f"diagnostic, XLA_FLAGS={NO_YNN_FLAG}",
                )
            )
            section.ratios.append(
                Ratio(
                    f"{dtype}: {K:,} separate fit calls / sweep",
                    ratio(med.get("fits"), med.get("sweep")),
                    note=f"extrapolated from {fit_calls} calls",
                )
            )
            section.failures.extend(failures)
    section.notes.append(
        f"Learning rates linspace{LR_RANGE} over K; every net starts from the worked-example parameters. "
        "Agreement: max |Δ| over all nets of final params and of the float64-evaluated final loss, "
        f"tolerance {TOL['float64']:g} (float64) and {TOL['float32']:g} (float32). The separate fit calls "
        "are compared with the same nets of the C sweep."
    )
    section.notes.append(
        "C: `gcc -O3 -march=native -fno-math-errno -fopenmp`; -fno-math-errno lets GCC vectorise exp() "
        "via glibc libmvec (no -ffast-math); nets in blocks of 128 (all steps per block), "
        "OMP_NUM_THREADS=1 is the reference row."
    )
    return section


if __name__ == "__main__":
    module_main(worker, run)

"""Benchmark: ``jaxnet.sweep`` against K separate compiled-once ``fit`` calls.

The question a user asks before reaching for ``sweep``: is one program
training K nets (one learning rate each) faster than calling ``fit`` K times?
The separate calls are the best a user can do without ``sweep``: one
optimizer ``optax.inject_hyperparams(optax.sgd)`` compiled once, its learning
rate changed between calls through ``opt_state.hyperparams`` (no recompile).

Problems (float32, full-batch SGD, every net from the same start):

* the worked example, 2-3-1, one row;
* two moons, 800 × 2 (``sklearn.datasets.make_moons`` if scikit-learn is
  installed, else a numpy generator of the same shape), 2-16-16-1;
* breast cancer (``jaxnet.data.load_breast_cancer``, standardized), 30-16-16-1.

Target: sweep ≤ 1.0× the K separate fits, at every problem.
Both must compute the same nets: every net's final loss from ``sweep`` and
from its own ``fit`` agree to ``LOSS_RTOL`` in a float64 run of the same
problem (a second worker, untimed). The timed float32 runs are two programs
summing in different orders; at high learning rates 500 steps amplify that
rounding (moons, lr 0.45: 2e-2 relative, while the median net agrees to 1e-7
and the float64 run to 1e-13), so their largest difference is shown, and only the median net's is checked
(``MEDIAN_RTOL32``), which catches a bug in the float32 programs alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks._harness import (
    Section,
    Stats,
    Table,
    WorkerError,
    adaptive_repeat,
    at_most,
    fmt_spread,
    fmt_time,
    guard,
    module_main,
    ratio,
    run_worker,
    time_once,
)

NAME = "sweep_vs_fit"
MODULE = "sweep_vs_fit"
TITLE = "Sweep vs K separate compiled-once fit calls"
PROBLEMS = ("worked example", "moons", "breast cancer")
LR_RANGE = {"worked example": (0.01, 1.0), "moons": (0.01, 0.5), "breast cancer": (0.01, 0.5)}
LOSS_RTOL = 1e-9  # |Δ final loss| / max(loss, 1e-6), float64: the same arithmetic in two programs
MEDIAN_RTOL32 = 1e-4  # the timed float32 runs: the median net's relative difference (a float32-only bug)
FULL = {"K": 100, "steps": 500, "budget": 30.0, "most": 5}
QUICK = {"K": 10, "steps": 50, "budget": 2.0, "most": 3}


# --------------------------------------------------------------------------
# Data (numpy float32)
# --------------------------------------------------------------------------


def two_moons(n: int = 800, noise: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """Two interleaved half circles, (n, 2) float32 and labels (n,) in {0, 1}.

    scikit-learn's ``make_moons`` when installed, else the same construction
    in numpy (outer moon ``(cos t, sin t)``, inner ``(1 - cos t, 0.5 - sin t)``,
    ``t`` evenly spaced in [0, π], plus Gaussian noise).

    >>> x, y, how = two_moons(10)
    >>> x.shape, y.shape, sorted(set(y.tolist()))
    ((10, 2), (10,), [0.0, 1.0])
    """
    try:
        from sklearn.datasets import make_moons

        x, y = make_moons(n_samples=n, noise=noise, random_state=seed)
        how = "sklearn.datasets.make_moons"
    except ImportError:
        rng = np.random.default_rng(seed)
        n_out = n // 2
        t_out, t_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n - n_out)
        x = np.concatenate(
            [np.stack([np.cos(t_out), np.sin(t_out)], 1), np.stack([1 - np.cos(t_in), 0.5 - np.sin(t_in)], 1)]
        )
        x = x + noise * rng.standard_normal(x.shape)
        y = np.concatenate([np.zeros(n_out), np.ones(n - n_out)])
        how = "numpy two-moons generator (scikit-learn not installed)"
    return x.astype(np.float32), y.astype(np.float32), how


def problem(name: str) -> tuple[dict[str, Any], Any, Any, str]:
    """(initial params, x, y, description) of one problem, float32."""
    import jax
    import jax.numpy as jnp

    import jaxnet

    if name == "worked example":
        params, x, y = jaxnet.seed_example(dtype=jnp.float32)
        return params, x, y, "2-3-1, 1 row"
    if name == "moons":
        x, y, how = two_moons()
        sizes = (2, 16, 16, 1)
    elif name == "breast cancer":
        x, y = jaxnet.data.load_breast_cancer()[:2]
        x = np.asarray(x, np.float64)
        x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
        y, how, sizes = np.asarray(y, np.float32), "jaxnet.data.load_breast_cancer, standardized", (30, 16, 16, 1)
    else:
        raise ValueError(f"problem: expected one of {PROBLEMS}, got {name!r}")
    params = jaxnet.init_mlp(jax.random.PRNGKey(0), sizes, dtype=jnp.float32)
    return params, x, y, f"{'-'.join(map(str, sizes))}, {x.shape[0]} rows ({how})"


# --------------------------------------------------------------------------
# Worker side (one subprocess per problem)
# --------------------------------------------------------------------------


def sweep_params_losses(out: Any) -> tuple[Any, Any]:
    """``(params, losses)`` of a sweep result: ``(params, losses)`` or ``(params, losses, diverged)``."""
    return out[0], out[1]


def final_losses(params_list: list[dict[str, Any]], x: Any, y: Any) -> np.ndarray:
    """The loss of each net's final parameters on (x, y), float64 on the host."""
    import jaxnet

    return np.array([float(jaxnet.loss(p, x, y)) for p in params_list], np.float64)


def _time_rows(call: Any, budget: float, most: int) -> tuple[float, list[float], Any]:
    """(first call, timed repeats, last result): repeats fit the time budget."""
    first, out = time_once(call)
    t, out = time_once(call)
    times = [t] + [time_once(call)[0] for _ in range(adaptive_repeat(t, budget, most) - 1)]
    return first, times, out


def _bench_sweep(params: Any, x: Any, y: Any, lrs: np.ndarray, steps: int, budget: float, most: int) -> dict:
    import jax

    import jaxnet

    def call() -> Any:
        out = jaxnet.sweep(x, y, steps=steps, params=params, learning_rates=lrs, record_every=steps)
        return jax.block_until_ready(sweep_params_losses(out)[0])

    first, times, final = _time_rows(call, budget, most)
    nets = [{k: v[i] for k, v in final.items()} for i in range(len(lrs))]
    return {"first": first, "times": times, "losses": final_losses(nets, x, y).tolist()}


def _bench_fits(params: Any, x: Any, y: Any, lrs: np.ndarray, steps: int, budget: float, most: int) -> dict:
    """K fit calls with one inject_hyperparams optimizer: compiled once, lr set per call."""
    import jax
    import jax.numpy as jnp
    import optax

    import jaxnet

    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=float(lrs[0]))
    state0 = opt.init(params)
    lr_dtype = jnp.asarray(state0.hyperparams["learning_rate"]).dtype

    def one(lr: float) -> Any:
        state = state0._replace(hyperparams={**state0.hyperparams, "learning_rate": jnp.asarray(lr, lr_dtype)})
        p, _, _ = jaxnet.fit(
            params,
            x,
            y,
            optimizer=opt,
            opt_state=state,
            steps=steps,
            chunk=steps,
            record_every=steps,
            progress=False,
            gradients="manual",
        )
        return p

    def call() -> list[Any]:
        return jax.block_until_ready([one(float(lr)) for lr in lrs])

    first_fit, _ = time_once(lambda: jax.block_until_ready(one(float(lrs[0]))))  # the one compile
    _, times, finals = _time_rows(call, budget, most)
    return {"first": first_fit, "times": times, "losses": final_losses(finals, x, y).tolist()}


def worker(args: dict[str, Any]) -> dict[str, Any]:
    """Both rows of one problem: timed in float32, or (``float64``) run once for the agreement check."""
    name, K, steps = args["problem"], int(args["K"]), int(args["steps"])
    budget, most = float(args["budget"]), int(args["most"])
    if args.get("float64"):
        return _agreement64(name, K, steps)
    params, x, y, desc = problem(name)
    lrs = np.linspace(*LR_RANGE[name], K).astype(np.float32)
    return {
        "desc": desc,
        "sweep": guard(lambda: _bench_sweep(params, x, y, lrs, steps, budget, most)),
        "fits": guard(lambda: _bench_fits(params, x, y, lrs, steps, budget, most)),
    }


def _agreement64(name: str, K: int, steps: int) -> dict[str, Any]:
    """Final losses of the sweep and of the K fits, the same problem in float64 (untimed: no repeats)."""
    import jax

    jax.config.update("jax_enable_x64", True)  # this worker's own process: the timed float32 one is apart
    params, x, y, _ = problem(name)
    params = {k: np.asarray(v, np.float64) for k, v in params.items()}
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    lrs = np.linspace(*LR_RANGE[name], K)
    sweep = guard(lambda: _bench_sweep(params, x, y, lrs, steps, 0.0, 1))
    fits = guard(lambda: _bench_fits(params, x, y, lrs, steps, 0.0, 1))
    return {"sweep": sweep, "fits": fits}


# --------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------


def agreement(a: list[float], b: list[float]) -> tuple[float, bool]:
    """Largest relative difference of two lists of final losses, and whether it is within LOSS_RTOL."""
    a_, b_ = np.asarray(a), np.asarray(b)
    if a_.shape != b_.shape or not (np.all(np.isfinite(a_)) and np.all(np.isfinite(b_))):
        return float("inf"), False
    rel = float(np.max(np.abs(a_ - b_) / np.maximum(np.abs(b_), 1e-6)))
    return rel, rel <= LOSS_RTOL


def _median_rel(a: list[float], b: list[float]) -> float:
    """The median net's relative difference of two lists of final losses (inf if they cannot be compared)."""
    a_, b_ = np.asarray(a), np.asarray(b)
    if a_.shape != b_.shape or not (np.all(np.isfinite(a_)) and np.all(np.isfinite(b_))):
        return float("inf")
    return float(np.median(np.abs(a_ - b_) / np.maximum(np.abs(b_), 1e-6)))


def _add_problem(
    section: Section, table: Table, name: str, rows: dict[str, Any], check: dict[str, Any], K: int, steps: int
) -> None:
    """One table row and one ratio line for a problem (``check``: the float64 run of the agreement check)."""
    sw, fits = rows.get("sweep", {}), rows.get("fits", {})
    desc = rows.get("desc", "")
    for key, label in (("sweep", "sweep"), ("fits", "separate fits")):
        r = rows.get(key, {})
        if "error" in r:
            section.failures.append(f"{name}: {label}: {r['error']}")
    if "times" not in sw or "times" not in fits:
        why = sw.get("error") or fits.get("error") or "no result"
        table.add(name, desc, f"{K} × {steps}", f"ERROR: {why}", "", "", "", "", "", "")
        section.ratios.append(at_most(f"sweep / {K} separate fits: {name}", None, 1.0))
        return
    s, f = Stats(sw["times"]), Stats(fits["times"])
    rel32 = agreement(sw["losses"], fits["losses"])[0]
    median32 = _median_rel(sw["losses"], fits["losses"])
    if not median32 <= MEDIAN_RTOL32:
        section.failures.append(
            f"{name}: float32 median net's final losses differ by {median32:.2e} > {MEDIAN_RTOL32:g}"
        )
    c_sw, c_fits = check.get("sweep", {}), check.get("fits", {})
    rel, ok = agreement(c_sw.get("losses", []), c_fits.get("losses", [None]))
    if not ok:
        why = c_sw.get("error") or c_fits.get("error") or f"max relative {rel:.2e} > {LOSS_RTOL:g}"
        section.failures.append(f"{name}: final losses of sweep and separate fits differ in float64 ({why})")
    net_steps = K * steps
    table.add(
        name,
        desc,
        f"{K} × {steps}",
        f"{fmt_time(s.median)} ({fmt_spread(s)})",
        f"{fmt_time(f.median)} ({fmt_spread(f)})",
        f"{s.median / f.median:.3g}×",
        f"{s.median / net_steps * 1e9:.3g} / {f.median / net_steps * 1e9:.3g}",
        f"{fmt_time(sw['first'])} / {fmt_time(fits['first'])}",
        f"{rel32:.1e} (median {median32:.1e})",
        f"{rel:.1e} {'ok' if ok else 'MISMATCH'}",
    )
    section.ratios.append(
        at_most(f"sweep / {K} separate fits: {name}", ratio(s.median, f.median), 1.0, note=f"{K} nets × {steps} steps")
    )


def run(quick: bool = False) -> Section:
    """One worker per problem; one table, one ratio line per problem."""
    cfg = QUICK if quick else FULL
    K, steps = cfg["K"], cfg["steps"]
    section = Section(NAME, TITLE)
    table = Table(
        f"float32, K = {K} nets (learning rates evenly spaced), {steps} full-batch SGD steps each",
        [
            "problem",
            "net, data",
            "K × steps",
            "sweep (median, min – max)",
            f"{K} separate fits (median, min – max)",
            "sweep / fits",
            "ns per net-step sweep / fits",
            "first call: sweep / one fit (compile)",
            "max rel. Δ final loss, float32 (median checked)",
            "max rel. Δ final loss, float64 (checked)",
        ],
    )
    for name in PROBLEMS:
        try:
            rows = run_worker(MODULE, {"problem": name, **cfg}, timeout=180 if quick else 900)
        except WorkerError as exc:
            rows = {"sweep": {"error": str(exc)[:600]}, "fits": {"error": "worker failed"}}
        try:
            check = run_worker(MODULE, {"problem": name, **cfg, "float64": True}, timeout=180 if quick else 600)
        except WorkerError as exc:
            check = {"sweep": {"error": str(exc)[:600]}, "fits": {"error": "worker failed"}}
        _add_problem(section, table, name, rows, check, K, steps)
    table.notes.append(
        "Separate fits: one `optax.inject_hyperparams(optax.sgd)` optimizer, compiled once (its compile is the "
        "'one fit' first call, not in the timed rows); each call sets `opt_state.hyperparams['learning_rate']`, "
        "`chunk=steps`, `record_every=steps`, `gradients='manual'`. Sweep: `record_every=steps`."
    )
    table.notes.append(
        f"Each row's time: median of up to {cfg['most']} repeats after a warm-up call (fewer when one call is "
        f"long: about {cfg['budget']:g} s of repeats per row). Learning rates: "
        + "; ".join(f"{n} linspace{LR_RANGE[n]}" for n in PROBLEMS)
        + f". Agreement, checked: every net's final loss of a float64 run of the same problem (untimed), "
        f"relative tolerance {LOSS_RTOL:g}. The float32 difference is shown: the two programs sum in different "
        "orders, and high learning rates amplify that rounding over the steps; its median net must agree to "
        f"{MEDIAN_RTOL32:g}."
    )
    section.tables.append(table)
    return section


if __name__ == "__main__":
    module_main(worker, run)

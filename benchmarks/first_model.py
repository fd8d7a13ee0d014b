"""Benchmark: time to first model (issue 17) — jaxnet against scikit-learn's MLPClassifier, data to score.

Breast cancer, an 80/20 split (``random_state=0``, 455 training rows), standardised with the training
rows' mean and std (numpy); ``hidden_layer_sizes=(100,)``, ``max_iter=200`` epochs, adam
``learning_rate_init=1e-3``, ``batch_size=200``, ``random_state=0`` on both sides. Each measurement runs
in a fresh process (imports not timed) and reports:

* ``fit`` + ``score``, with an empty persistent compilation cache, then in a second process that finds
  the cache the first one left;
* the same fit with another learning rate (1e-2) in the same process;
* a grid search, 4 learning rates x 3 folds, in one fresh process (empty cache);
* ``import jaxnet`` against ``import jax`` (``python -X importtime``, cumulative);
* a compile-time table per public function: the first call of a process against the steady state.

jaxnet uses ``jaxnet.MLPClassifier`` when it exists; before that, the functional equivalent
(``init_mlp`` + ``fit(optax.adam, batch_size=200, 200 epochs of N // 200 steps)`` + ``accuracy``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from benchmarks._harness import REPO, Ratio, Section, Table, at_most, child_env, fmt_time

NAME = "first_model"
TITLE = "Time to first model: jaxnet vs scikit-learn, data to score (issue 17)"
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 1e-2)

_PRELUDE = """
import json, sys, time, warnings
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split, StratifiedKFold
warnings.filterwarnings("ignore")
x, y = load_breast_cancer(return_X_y=True)
xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
ARGS = dict(hidden_layer_sizes=(100,), max_iter=200, learning_rate_init=1e-3, batch_size=200, random_state=0)
out = {}
WORK = []  # each fit's epochs (n_iter_), so the two sides' work can be compared
def timed(name, fn):
    t = time.perf_counter(); value = fn(); out[name] = time.perf_counter() - t; return value
"""

_JAXNET = """
t = time.perf_counter(); import jax, optax, jaxnet; out["import"] = time.perf_counter() - t
import jax.monitoring
EVENTS = {}  # jax's compile-phase durations (s), summed by name: where a first fit's time goes
jax.monitoring.register_event_duration_secs_listener(
    lambda name, seconds, **_: EVENTS.__setitem__(name, EVENTS.get(name, 0.0) + seconds))
xtr, xte, ytr, yte = (np.asarray(a, np.float32) for a in (xtr, xte, ytr, yte))
ESTIMATOR = out["estimator"] = hasattr(jaxnet, "MLPClassifier")
def fit_score(lr, xa, ya, xb, yb):
    if ESTIMATOR:
        est = jaxnet.MLPClassifier(**dict(ARGS, learning_rate_init=lr)).fit(xa, ya)
        WORK.append(est.n_iter_)
        return float(est.score(xb, yb))
    params = jaxnet.init_mlp(0, (xa.shape[1], 100, 1))
    steps = ARGS["max_iter"] * (xa.shape[0] // ARGS["batch_size"])
    params, _, _ = jaxnet.fit(params, xa, ya, steps=steps, optimizer=optax.adam(lr), batch_size=200, key=0,
                              progress=False)
    WORK.append(ARGS["max_iter"])
    return float(jaxnet.accuracy(params, xb, yb))
"""

_SKLEARN = """
from sklearn.neural_network import MLPClassifier
def fit_score(lr, xa, ya, xb, yb):
    est = MLPClassifier(**dict(ARGS, learning_rate_init=lr)).fit(xa, ya)
    WORK.append(est.n_iter_)
    return float(est.score(xb, yb))
"""

_FIRST = """
out["score"] = timed("first", lambda: fit_score(1e-3, xtr, ytr, xte, yte))
out["phases"] = dict(globals().get("EVENTS", {}))  # jaxnet's side only
out["epochs"] = WORK[-1]
timed("other_lr", lambda: fit_score(1e-2, xtr, ytr, xte, yte))
timed("again", lambda: fit_score(1e-3, xtr, ytr, xte, yte))  # the first fit once more: nothing left to compile
"""

_GRID = """
def grid():  # what GridSearchCV(cv=3) does: every learning rate on every fold, scored on the held-out fold
    folds = list(StratifiedKFold(3).split(xtr, ytr))
    return {lr: np.mean([fit_score(lr, xtr[a], ytr[a], xtr[b], ytr[b]) for a, b in folds]) for lr in LRS}
WORK.clear()
timed("grid", grid)
out["grid_epochs"] = sum(WORK)
""".replace("LRS", repr(LEARNING_RATES))

_FUNCTIONS = """
calls = {  # the lambdas read `params` when called
    "init_mlp": lambda: jaxnet.init_mlp(0, (30, 100, 1)),
    "train_test_split": lambda: jaxnet.data.train_test_split(xtr, ytr, test_fraction=0.2, seed=0),
    "standardize": lambda: jaxnet.data.standardize(xtr, xte),
    "fit (adam, 20 steps)": lambda: jaxnet.fit(params, xtr, ytr, steps=20, optimizer=optax.adam(1e-3), progress=False),
    "loss": lambda: jaxnet.loss(params, xtr, ytr),
    "grads": lambda: jaxnet.grads(params, xtr, ytr),
    "predict": lambda: jaxnet.predict(params, xte),
    "predict_proba": lambda: jaxnet.predict_proba(params, xte),
    "accuracy": lambda: jaxnet.accuracy(params, xte, yte),
    "evaluate": lambda: jaxnet.evaluate(params, xte, yte),
}
table = {}
t = time.perf_counter(); params = jax.block_until_ready(calls["init_mlp"]()); first_init = time.perf_counter() - t
for name, fn in calls.items():
    t = time.perf_counter(); jax.block_until_ready(fn()); first = time.perf_counter() - t
    first = first_init if name == "init_mlp" else first
    steady = []
    for _ in range(3):
        t = time.perf_counter(); jax.block_until_ready(fn()); steady.append(time.perf_counter() - t)
    table[name] = (first, sorted(steady)[1])
out["functions"] = table
"""


_COMPILE = """
from jaxnet import _engine as S, _hyper, steps
from jaxnet._padding import pad_rows
xs, ys = np.asarray(xtr[:455], np.float32), np.asarray(ytr[:455], np.float32)[:, None]
params = jaxnet.init_mlp(0, (30, 100, 1)); opt = optax.adam(1e-3); st = opt.init(params)
skel, hyper = _hyper.lifted(opt, params, st)
rows = (jax.numpy.asarray(xs), jax.numpy.asarray(ys), None)
vg = steps.gradient_fn("manual", None, "relu", "sigmoid", None)
key = jax.random.key(0)
def best(f):
    times = []
    for _ in range(REPEAT):
        jax.clear_caches(); t = time.perf_counter(); f(); times.append(time.perf_counter() - t)
    return min(times)
out["compile"] = {}
cases = (("full batch", None), ("minibatch 200", S.Batches(200, None)),
         ("minibatch 200, drop_last=False", S.Batches(200, None, True)))
for name, batches in cases:
    data, n = pad_rows(rows, np.float32, 200 if batches is not None and batches.last else 1)  # as fit pads
    cfg = S.Config(skel, vg, 1, 10000, batches)
    data = data if batches is None else (*data[:2], None)  # as fit runs it: minibatches carry no weights
    size = data[0].shape[0]
    cur = None if batches is None else S.Cursor(np.int32(0), np.arange(size, dtype=np.int32), np.int32(n))
    carry = (S.State(params, st), cur)
    def bare(carry, hyper):
        o = _hyper.build(skel, hyper)
        step = lambda c, _: (S._step(cfg, o, key, data, c, False)[0], None)
        return jax.lax.scan(step, carry, length=400)[0]
    full = best(lambda: S.run_steps.lower(cfg, carry, data, key, np.int32(5), np.float32(np.inf), hyper).compile())
    plain = best(lambda: jax.jit(bare).lower(carry, hyper).compile())
    out["compile"][name] = (full, plain)
"""


def _run(code: str, env: dict[str, str]) -> dict:
    script = _PRELUDE + code + "\nprint('@@' + json.dumps(out))\n"
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    if proc.returncode != 0:
        raise RuntimeError(f"exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@")][-1]
    return json.loads(line[2:])


def import_ratio() -> tuple[float, float]:
    """Cumulative import time (s) of ``jax`` and of ``jaxnet`` (which includes jax) in one process."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import jaxnet"],
        cwd=REPO,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    cumulative = {}
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[2].strip() in ("jax", "jaxnet"):
            cumulative[parts[2].strip()] = int(parts[1]) / 1e6
    return cumulative["jax"], cumulative["jaxnet"]


def measure(repeat: int) -> dict:
    """Every number of the section (medians over ``repeat`` rounds of fresh processes)."""
    rounds = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="jaxnet-first-model-") as folder:
            env = child_env(extra={"JAXNET_CACHE": "1", "JAXNET_CACHE_DIR": folder})
            cold = _run(_JAXNET + _FIRST, env)
            warm = _run(_JAXNET + _FIRST, env)
        with tempfile.TemporaryDirectory(prefix="jaxnet-first-model-") as folder:
            grid = _run(_JAXNET + _GRID, child_env(extra={"JAXNET_CACHE": "1", "JAXNET_CACHE_DIR": folder}))
        sk = _run(_SKLEARN + _FIRST + _GRID, child_env())
        rounds.append({"cold": cold, "warm": warm, "grid": grid["grid"], "grid_epochs": grid["grid_epochs"], "sk": sk})
    functions = _run(_JAXNET + _FUNCTIONS, child_env(extra={"JAXNET_CACHE": "0"}))["functions"]
    code = _JAXNET + _COMPILE.replace("REPEAT", str(max(2, repeat)))
    compiles = _run(code, child_env(extra={"JAXNET_CACHE": "0"}))["compile"]
    jax_s, jaxnet_s = import_ratio()
    return {"rounds": rounds, "functions": functions, "import": (jax_s, jaxnet_s), "compile": compiles}


def _median(values: list[float]) -> float:
    v = sorted(values)
    return v[len(v) // 2]


def _work_note(r: dict) -> str:
    """The epochs each side ran, which must match for the times to compare (one round: both are deterministic).
    Before ``jaxnet.MLPClassifier`` the functional fit's epoch is ``N // 200`` full minibatches, no stopping rule."""
    estimator = r["cold"]["estimator"]
    return (
        f"The work done, which must match for the times to compare: the first fit ran {r['cold']['epochs']} "
        f"epochs in jaxnet, {r['sk']['epochs']} in scikit-learn ("
        + (
            "each epoch every row once, minibatches of 200 and the remainder"
            if estimator
            else "jaxnet's epochs N // 200 full minibatches, the rest of the rows left out"
        )
        + f"); the grid's 12 fits {r['grid_epochs']} and {r['sk']['grid_epochs']} epochs in all ("
        + (
            "scikit-learn's stopping rule, n_iter_no_change=10, tol=1e-4, on both sides"
            if estimator
            else "jaxnet's max_iter each, no stopping rule"
        )
        + ")."
    )


_PHASES = {
    "trace": "/jax/core/compile/jaxpr_trace_duration",
    "lower": "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "load": "/jax/compilation_cache/cache_retrieval_time_sec",
}


def _warm_note(phases: list[dict], warm: float, sk: float, again: float) -> str:
    """Where the warm first fit's time goes (jax's own compile-phase events, medians over the rounds), against
    the target's 0.5x scikit-learn; empty where this jax does not report the phases."""
    if not phases or any(name not in p for p in phases for name in _PHASES.values()):
        return ""
    t = {key: _median([p[name] for p in phases]) for key, name in _PHASES.items()}
    return (
        f"Of the warm fit + score ({fmt_time(warm)}), jax traced the programs for {fmt_time(t['trace'])}, lowered "
        f"them for {fmt_time(t['lower'])} (its cache key is a hash of the lowered program) and read the cache for "
        f"{fmt_time(t['load'])}; the same fit + score once more, nothing left to compile, takes {fmt_time(again)}. "
        f"Those alone are {(t['trace'] + t['lower'] + t['load'] + again) / sk:.2f}× scikit-learn, against the 0.5× "
        "bound."
    )


def _functions_table(functions: dict) -> Table:
    """First call of a process against the steady state, per public function."""
    table = Table(
        "first call of a process vs steady state (no persistent cache), breast cancer, 30-100-1",
        ["function", "first call", "steady state", "first / steady"],
    )
    for name, (first, steady) in functions.items():
        table.add(name, fmt_time(first), fmt_time(steady), f"{first / max(steady, 1e-9):.0f}×")
    return table


def _compile_table(compiles: dict, sk: float, again: float) -> Table:
    """fit's program against a bare lax.scan of the same step (compile time), and the cold row's floor: the bare
    scan's trace, lowering and compile plus the fit + score once compiled (``again``) against scikit-learn's
    whole fit + score (``sk``)."""
    program = Table(
        "compile time (trace, lower and XLA, best of a few, caches cleared) of fit's program vs a bare lax.scan of "
        "the same step (400 steps), breast cancer 30-100-1, adam",
        ["case", "fit's run_steps", "bare lax.scan", "ratio"],
    )
    for name, (full, plain) in compiles.items():
        program.add(name, fmt_time(full), fmt_time(plain), f"{full / plain:.2f}×")
    program.notes.append(
        "run_steps adds the while loop over blocks, the first step of each block with its loss, the loss "
        "buffer, the divergence test and the final state's loss and finiteness check."
    )
    bare = compiles.get("minibatch 200, drop_last=False", (None, None))[1]  # the estimator's epochs
    if bare is not None:
        program.notes.append(
            f"The bare lax.scan of the estimator's step (drop_last=False) takes {fmt_time(bare)} to trace, lower and "
            f"compile: {bare / sk:.2f}× scikit-learn's whole fit + score ({fmt_time(sk)}, the table above), and "
            f"{(bare + again) / sk:.2f}× with the fit + score itself once compiled ({fmt_time(again)}, the warm "
            "processes' second fit), before any of jaxnet's own costs (its checks, the while loop, the divergence "
            "test). That is the cold row's floor on this machine."
        )
    return program


def run(quick: bool = False) -> Section:
    """Run the benchmark and build its section."""
    repeat = 1 if quick else 3
    section = Section(NAME, TITLE)
    try:
        m = measure(repeat)
    except (RuntimeError, subprocess.TimeoutExpired, KeyError, IndexError) as exc:
        section.notes.append(f"first_model failed: {exc}")
        return section
    r = m["rounds"]

    def med(side: str, key: str) -> float:
        return _median([x[side][key] for x in r])

    cold, warm, other = med("cold", "first"), med("warm", "first"), med("cold", "other_lr")
    grid = _median([x["grid"] for x in r])
    sk, sk_other, sk_grid = med("sk", "first"), med("sk", "other_lr"), med("sk", "grid")
    table = Table(
        f"breast cancer 30-100-1, adam 1e-3, batch 200, 200 epochs; median of {repeat} round(s) of fresh processes",
        ["measurement", "jaxnet", "scikit-learn", "jaxnet / sklearn", "target"],
    )
    rows = [
        ("fit + score, fresh process, empty compilation cache", cold, sk, "≤ 1.0× (at most 2×)"),
        ("fit + score, fresh process, cache left by the previous one", warm, sk, "≤ 0.3× (at most 0.5×)"),
        ("the same fit with another learning rate (1e-2)", other, sk_other, "no compilation"),
        ("grid search 4 learning rates × 3 folds, one process", grid, sk_grid, "≤ 0.3× (at most 1.0×)"),
    ]
    for label, a, b, target in rows:
        table.add(label, fmt_time(a), fmt_time(b), f"{a / b:.2f}×", target)
    jax_s, jaxnet_s = m["import"]
    table.add(
        "import (cumulative, -X importtime)",
        fmt_time(jaxnet_s),
        f"jax: {fmt_time(jax_s)}",
        f"{jaxnet_s / jax_s:.2f}× jax",
        "≤ 1.2× jax",
    )
    table.notes.append(_work_note(r[0]))
    again = med("warm", "again")
    warm_note = _warm_note([x["warm"].get("phases", {}) for x in r], warm, sk, again)
    if warm_note:
        table.notes.append(warm_note)
    table.notes.append(
        f"Test accuracy: jaxnet {r[0]['cold']['score']:.4f}, scikit-learn {r[0]['sk']['score']:.4f}. jaxnet "
        + (
            "uses jaxnet.MLPClassifier."
            if r[0]["cold"]["estimator"]
            else "runs the functional equivalent (init_mlp + fit + accuracy; no MLPClassifier yet)."
        )
    )
    section.tables.append(table)
    section.tables += [_functions_table(m["functions"]), _compile_table(m["compile"], sk, again)]
    section.ratios += [
        at_most("first model (fit + score, empty cache) / scikit-learn", cold / sk, 1.0),
        at_most("first model, warm compilation cache / scikit-learn", warm / sk, 0.3),
        at_most("grid search 4 lr × 3 folds / scikit-learn", grid / sk_grid, 0.3),
        at_most("import jaxnet / import jax", jaxnet_s / jax_s, 1.2),
        Ratio("another learning rate / first fit (same process)", other / cold),
    ]
    return section


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(REPO))
    print(run(quick="--quick" in sys.argv).to_markdown())

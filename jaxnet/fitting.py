"""``fit``: train for many steps as a few calls of one compiled program.

The steps run inside :func:`jaxnet._engine.run_steps` (``lax.scan`` blocks in a
``lax.while_loop`` with a traced trip count). Python only runs between
chunks: it updates the ``tqdm`` bar, records the history, evaluates the
validation set at the steps the user chose (``eval_every``), applies early
stopping and calls ``callback``. Chunks end on every evaluation step and last
at most about a quarter of a second, so Ctrl-C is honoured quickly and nothing
depends on the machine's speed.

What is kept when things go wrong:

* **divergence** (the loss or parameters become NaN/inf, or the loss exceeds
  ``1e3 * max(initial loss, 1)``): ``fit`` returns the last state whose loss
  and parameters were finite, with a :class:`DivergenceWarning` (or raises
  :class:`DivergenceError` carrying it); ``history`` ends at that state;
* **Ctrl-C** at any moment (the argument checks, compiling, a chunk, an
  evaluation, the divergence replay, the end): :class:`TrainingInterrupted`
  (a ``KeyboardInterrupt``) carrying the state of the last completed chunk;
  before the first, the initial ``params`` and ``opt_state`` with
  ``history["steps_done"] == 0`` (during the argument checks, ``params`` and
  ``opt_state`` as given). Its ``history["stopped"]`` is ``"interrupted"``;
* **a callback that raises**: :class:`CallbackError` carrying that state,
  raised from the callback's exception;
* **overflow at the start** (finite inputs whose initial loss is NaN/inf,
  e.g. identity targets of 1e30 in float32, weights of 1e19, or
  ``compute_dtype=jnp.float16`` with ``|x| > 65504``): a ``ValueError``
  naming the input, as :func:`jaxnet.loss` gives, and no training. A
  validation set whose initial loss overflows is refused the same way;
* **a validation loss that becomes NaN/inf** later: a
  :class:`DivergenceWarning` per such evaluation; it never counts as an
  improvement for early stopping, and early stopping only stops once a
  finite best exists (whose parameters it returns).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from typing import Any, Literal, TypeVar, cast

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnet._engine import Batches, Config, Cursor, State, run_steps
from jaxnet._hyper import lifted
from jaxnet._options import check_compute_dtype, execution_context, resolve_gradients
from jaxnet._padding import pad_rows
from jaxnet._validate import Params, as_key, overflow_error, positive_int, prepare, resolve_spec
from jaxnet.cache import use_default_cache
from jaxnet.distributed import agree, sigint_as_flag, spans_processes, to_local
from jaxnet.errors import (
    DIVERGENCE_FACTOR,
    CallbackError,
    DivergenceError,
    DivergenceWarning,
    PeerStopped,
    TrainingInterrupted,
    _CarriesState,
)
from jaxnet.metrics import padded, scores
from jaxnet.network import HEADS, ActivationName, HeadName, multiply_adds
from jaxnet.parallel import check_mesh, place
from jaxnet.spec import Model
from jaxnet.steps import LossFn, gradient_fn

P = TypeVar("P", Params, Model)  # fit returns what it was given

__all__ = [
    "fit",
    "DivergenceError",
    "DivergenceWarning",
    "TrainingInterrupted",
    "CallbackError",
    "PeerStopped",
    "DEFAULT_OPTIMIZER",
]

DEFAULT_OPTIMIZER = optax.sgd(0.1)
"""``optax.sgd(0.1)``, the worked example's update; one object, so repeated ``fit`` calls reuse its compilation."""

_BUFFER = 10_000  # recorded losses per compiled call at most
_TARGET_SECONDS = 0.25  # a chunk lasts about this long (progress, callbacks and Ctrl-C between chunks)
_RECORDED_POINTS = 100  # record_every="auto" keeps at least about this many losses per long run


def auto_record_every(steps: int, eval_every: int | None, step_seconds: float) -> int:
    """``record_every="auto"``: 1 for runs of at most 10,000 steps and for steps of 10 us or more (there the
    loss, one ``softplus`` per output, is noise); else the largest divisor of ``gcd(steps, eval_every)`` at
    most ``steps // 100`` (at least ~100 recorded losses).

    Why: on a tiny net (the 2-3-1 worked example on a CPU) recording every step is a visible share of the
    step, and a block of ``record_every > 1`` steps adds a fixed cost (an inner loop), so blocks of >= 100
    steps are what keeps the default within its 10% target, while blocks of 10 cost more than recording
    every step. The measured ratios and per-step times are in ``benchmarks/RESULTS.md``, "Ratios measured
    in this run" and section 1, "Worked-example net (2-3-1), SGD steps" (``benchmarks/seed_steps.py``).
    ``step_seconds`` is a pessimistic estimate of one step's time (see ``_first_blocks``).

    >>> auto_record_every(500, None, 1e-6), auto_record_every(20_000, None, 1e-6), auto_record_every(20_000, 150, 1e-6)
    (1, 200, 50)
    >>> auto_record_every(10**6, None, 1e-3)  # a big network: every loss is cheap next to the step
    1
    """
    if steps <= 10_000 or step_seconds >= 1e-5:
        return 1
    g = math.gcd(steps, eval_every or steps)
    return _largest_divisor_at_most(g, min(g, steps // _RECORDED_POINTS))


def _largest_divisor_at_most(n: int, m: int) -> int:
    """The largest divisor of ``n`` that is at most ``m >= 1``: trial division up to ``sqrt(n)``, each ``d``
    giving the pair ``(d, n // d)`` (at most 46,341 tries for ``n < 2**31``).

    >>> _largest_divisor_at_most(2**31 - 1, 21_474_836), _largest_divisor_at_most(20_000, 200)
    (1, 200)
    >>> _largest_divisor_at_most(10**6, 30)  # m below sqrt(n): pairs with both members over m are skipped
    25
    """
    best = 1
    for d in range(1, math.isqrt(n) + 1):
        if n % d == 0:
            best = max([best] + [v for v in (d, n // d) if v <= m])
    return best


def fit(
    params: P,
    x: Any,
    y: Any,
    *,
    steps: int,
    optimizer: optax.GradientTransformation | None = DEFAULT_OPTIMIZER,
    batch_size: int | None = None,
    key: Any = None,
    chunk: int | None = None,
    progress: bool | Literal["auto"] = "auto",
    callback: Callable[[int, Params, dict], Any] | None = None,
    gradients: Literal["auto", "manual", "autodiff"] = "auto",
    loss_fn: LossFn | None = None,
    record_every: int | Literal["auto"] = "auto",
    opt_state: Any = None,
    sample_weight: Any = None,
    validation: tuple[Any, Any] | None = None,
    validation_split: float | None = None,
    eval_every: int | None = None,
    early_stopping: int | None = None,
    on_divergence: Literal["warn", "raise"] = "warn",
    mesh: jax.sharding.Mesh | None = None,
    local_rows: bool = False,
    activation: ActivationName | None = None,
    head: HeadName | None = None,
    device: jax.Device | None = None,
    precision: str | None = None,
    compute_dtype: Any = None,
) -> tuple[P, Any, dict]:
    """Train ``params`` on ``(x, y)`` for ``steps`` optimizer steps.

    Each step is ``g = dL/dtheta`` (:func:`jaxnet.loss` for ``activation`` and
    ``head``, or ``loss_fn``), then ``optimizer.update``. The steps run as one
    compiled ``lax.scan``/``while_loop`` program, a chunk at a time; it is
    compiled once per (shapes, dtypes, kind of optimizer, options; not per learning rate) and reused.
    With the built-in loss, the rows are padded to a bucket (:func:`jaxnet.steps.bucket`) with zero
    rows of weight 0, so neighbouring row counts (cross-validation folds) share one program.

    **Arguments:**

    - ``steps``: number of optimizer steps (at most 2**31 - 1).
    - ``optimizer``: any ``optax.GradientTransformation`` (default, or ``None``:
      ``optax.sgd(0.1)``). Its numbers (learning rate, momentum, weight decay,
      schedule constants) are runtime inputs of the compiled program, not
      constants in it: ``optax.adam(1e-2)`` after ``optax.adam(1e-3)``, or an
      ``optax.inject_hyperparams`` optimizer with other values, compiles nothing
      (``jaxnet._hyper``). What it cannot read (an object's attributes, a bound
      method's object) is compared by identity, so is never confused.
    - ``batch_size``, ``key``: minibatches of ``batch_size`` rows, reshuffled
      every epoch (``N // batch_size`` steps) from ``key`` (a ``jax.random``
      key or an int seed), inside the compiled loop. ``None``: full batch.
    - ``chunk``: at most this many steps per compiled call (default: about a
      quarter second per call, whatever ``chunk``).
    - ``progress``: a ``tqdm`` bar; ``"auto"`` shows it only for runs expected
      to last over a second. It appears after the first (compiling) chunk.
    - ``callback(step, params, history)`` runs after every chunk; returning
      ``True`` (or ``np.bool_``/a 0-d bool array such as ``jnp.asarray(True)``)
      stops training, ``None``/``False`` goes on; any other return value is
      refused (:class:`CallbackError`).
    - ``gradients``: ``"manual"`` (the hand-derived pass), ``"autodiff"`` or
      ``"auto"`` (manual unless ``loss_fn`` is given);
      ``loss_fn(params, x, y, sample_weight) -> scalar`` a custom loss.
    - ``record_every``: record the loss every this many steps; ``"auto"``:
      every step for runs of up to 10,000 steps and for big networks, else at
      least ~100 points (:func:`auto_record_every`, which gives the measured
      costs). Divergence is checked at every recorded loss.
    - ``opt_state``: resume from this optimizer state (default ``optimizer.init``).
    - ``validation``: ``(x_val, y_val)``, or ``validation_split`` (a fraction of
      ``(x, y)`` held out, stratified for classifier heads, drawn from ``key``
      or seed 0). It is evaluated every ``eval_every`` steps (default about
      20 times per run): ``history["val_loss"]`` (and ``"val_accuracy"`` for
      classifiers) at exactly the steps ``history["val_step"]``.
    - ``early_stopping``: stop after this many evaluations without a lower
      validation loss, and return the parameters of the best evaluation
      (``history["best_step"]``, ``history["stopped"] == "early_stopping"``).
    - ``on_divergence``: see the module docstring: ``"warn"`` or ``"raise"``.
    - ``mesh``: a ``jax.sharding.Mesh`` with a ``"data"`` axis (see
      :func:`jaxnet.data_parallel_mesh`), possibly over several processes
      (``jax.distributed``: see :mod:`jaxnet.distributed`); ``local_rows=True``:
      each process passes only its own rows of ``x``, ``y`` and
      ``sample_weight`` (``x[jaxnet.distributed.local_rows(n, mesh)]``), which
      gives the same result as every process passing all ``n``;
      ``device``: run on this
      ``jax.Device`` (e.g. ``jax.devices("cpu")[0]`` for tiny nets on a GPU
      machine); ``precision``: ``"default"``, ``"high"`` or ``"highest"``
      matmul precision (``jax.default_matmul_precision``; on GPUs ``"default"``
      float32 matmuls use TF32); ``compute_dtype=jnp.bfloat16``: matmuls in
      bfloat16 with float32 accumulation, parameters stay float32.

    ``params`` (and every other argument) is neither modified nor donated. It
    is a dict or a :class:`~jaxnet.Model`, whose activation and head are then
    used (``activation``/``head`` default to the model's, or ``"relu"``/
    ``"sigmoid"`` for a dict); ``callback`` and ``loss_fn`` get the dict.

    **Returns:** ``(params, opt_state, history)`` (``params`` a Model when given one); ``history`` has ``"loss"``
    (the loss before steps ``history["step"]``), ``"val_loss"``, ``"val_step"``,
    ``"val_accuracy"``, ``"diverged"``, ``"steps_done"``, ``"stopped"``
    (``"completed"``, ``"early_stopping"``, ``"callback"`` or ``"diverged"``; and
    ``"interrupted"`` in a :class:`TrainingInterrupted`'s history) and
    ``"best_step"``.

    **Raises:** ``ValueError``/``TypeError`` naming the argument, before any
    step (including finite inputs whose first loss overflows, as
    :func:`jaxnet.loss` refuses them); :class:`TrainingInterrupted` on Ctrl-C
    at any moment; see the module docstring for divergence and callbacks.

    >>> import jaxnet
    >>> params, x, y = jaxnet.seed_example()
    >>> params, state, history = jaxnet.fit(params, x, y, steps=100, progress=False)
    >>> bool(history["loss"][-1] < history["loss"][0]), history["stopped"]
    (True, 'completed')
    """
    use_default_cache()  # the persistent compilation cache, unless turned off (jaxnet.cache)
    given = params
    try:
        params, spec = resolve_spec(given, activation, head)  # the dict from here on
        activation, head = spec.activation, spec.head
        run = _check(locals())
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            "fit: interrupted while checking the arguments, before any step; the exception carries the params "
            "and opt_state as given (e.params, e.opt_state) and an empty history",
            params.params if isinstance(params, Model) else params,  # the dict, also of a Model
            opt_state,
            _empty_history(head),
        ) from None
    if not spans_processes(run["mesh"]):
        trained, opt_state, history = _train(run)
    else:
        try:  # on every process, results as ordinary single-device arrays
            trained, opt_state, history = to_local(_train(run))
        except _CarriesState as e:
            e.params, e.opt_state = to_local((e.params, e.opt_state))
            raise
    return cast(P, Model(trained, spec) if isinstance(given, Model) else trained), opt_state, history


def _empty_history(head: Any) -> dict[str, Any]:
    """The history of a run interrupted before its first step."""
    out: dict[str, Any] = {
        "loss": np.zeros((0,)),
        "step": np.zeros((0,), int),
        "val_loss": np.zeros((0,)),
        "val_step": np.zeros((0,), int),
        "diverged": False,
        "steps_done": 0,
        "stopped": "interrupted",
        "best_step": None,
    }
    if not (isinstance(head, str) and head in HEADS and not HEADS[head].classifier):
        out["val_accuracy"] = np.zeros((0,))
    return out


def _check(a: dict[str, Any]) -> dict[str, Any]:
    """Every argument of :func:`fit` checked and resolved before any work starts."""
    activation, head = a["activation"], a["head"]
    params, x, y, w = prepare(a["params"], a["x"], a["y"], a["sample_weight"], activation=activation, head=head)
    r: dict[str, Any] = {"activation": activation, "head": head, "steps": positive_int("steps", a["steps"])}
    optimizer = DEFAULT_OPTIMIZER if a["optimizer"] is None else a["optimizer"]
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"optimizer: expected an optax.GradientTransformation, got {type(optimizer).__name__}")
    r["optimizer"] = optimizer
    r["gradients"] = resolve_gradients(a["gradients"], a["loss_fn"])
    r["loss_fn"] = a["loss_fn"]
    if a["loss_fn"] is not None:
        _check_loss_fn(a["loss_fn"], params, x, y, w)
        if a["compute_dtype"] is not None:
            raise ValueError("compute_dtype: applies to the built-in loss; a loss_fn casts its own matmuls")
    r["context"] = execution_context(a["device"], a["precision"])
    r["compute_dtype"] = check_compute_dtype(a["compute_dtype"])
    if r["compute_dtype"] is not None:
        _check_fits(r["compute_dtype"], params, x)
    for name, value, allowed in (
        ("on_divergence", a["on_divergence"], ("warn", "raise")),
        ("progress", a["progress"], (True, False, "auto")),
    ):
        if not any(value is v or (isinstance(v, str) and value == v) for v in allowed):
            raise ValueError(f"{name}: expected one of {list(allowed)}, got {value!r}")
        r[name] = value
    if a["callback"] is not None and not callable(a["callback"]):
        raise TypeError(
            f"callback: expected a function (step, params, history) or None, got {type(a['callback']).__name__}"
        )
    r["callback"] = a["callback"]
    r["device"] = a["device"]
    r["key"] = None if a["key"] is None else as_key(a["key"])
    r["local_rows"] = _check_local_rows(a)
    x, y, w, r["validation"] = _validation_data(a, params, x, y, w, r["key"])
    r["params"], r["data"] = params, (x, y, w)
    r.update(_check_batches(a, x, r["key"]))
    if a["loss_fn"] is None and r["mesh"] is None and x.ndim == 2:  # one program for neighbouring row counts
        r["data"], _ = pad_rows(r["data"], params["W1"].dtype)
    step_seconds = _step_seconds(r["params"], r["data"][0], r["batches"].size if r["batches"] else None)
    r.update(_check_schedule(a, r["steps"], r["validation"] is not None, step_seconds))
    r["opt_state"] = _check_opt_state(a["opt_state"], optimizer, params)
    r["skeleton"], r["hyper"] = lifted(optimizer, params, r["opt_state"])  # numbers are inputs, not constants
    return r


def _check_local_rows(a: dict[str, Any]) -> bool:
    local = a["local_rows"]
    if not isinstance(local, (bool, np.bool_)):
        raise TypeError(f"local_rows: expected True or False, got {type(local).__name__}")
    if local and a["mesh"] is None:
        raise ValueError("local_rows: True needs mesh= (the rows of every process form the global batch), got no mesh")
    if local and a["validation_split"] is not None:
        raise ValueError(
            "validation_split: with local_rows=True each process holds different rows; pass "
            "validation=(x_val, y_val), the same on every process"
        )
    return bool(local)


def _validation_data(a: dict[str, Any], params: Params, x: Any, y: Any, w: Any, key: Any) -> tuple:
    """``(x, y, w, (x_val, y_val) or None)`` from ``validation=`` or ``validation_split=``."""
    validation, split, head = a["validation"], a["validation_split"], a["head"]
    if validation is not None and split is not None:
        raise ValueError("validation_split: give validation=(x_val, y_val) or validation_split=, not both")
    if validation is not None:
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            what = (
                f"a {type(validation).__name__} of length {len(validation)}"
                if isinstance(validation, (tuple, list))
                else type(validation).__name__
            )
            raise TypeError(f"validation: expected a pair (x_val, y_val), got {what}")
        names = ("validation[0] (x_val)", "validation[1] (y_val)", "sample_weight")
        _, xv, yv, _ = prepare(params, *validation, activation=a["activation"], head=head, names=names)
        held = padded(xv, yv, None)  # padded once, like the training rows: one program per bucket of sizes
        if not np.isfinite(float(scores(params, *held[0], a["activation"], head, held[1])["loss"])):
            raise overflow_error(params, xv, yv, names[:2])  # finite values whose loss overflows: refused up front
        return x, y, w, held
    if split is None:
        return x, y, w, None
    if isinstance(split, bool) or not isinstance(split, (float, int, np.floating)) or not 0 < split < 1:
        raise ValueError(f"validation_split: expected a fraction strictly between 0 and 1, got {split!r}")
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"validation_split: needs a batch x of shape (N, in) with N >= 2, got {tuple(x.shape)}")
    from jaxnet.data import train_test_split  # numpy only; imported where used
    from jaxnet.tabular import stratified

    yh = np.asarray(y)
    hard = stratified(head, yh)  # the one stratification rule, as the estimators' and the CLI's splits
    seed = 0 if key is None else int(jax.random.randint(key, (), 0, 2**31 - 1))
    rows = np.arange(x.shape[0])[:, None]
    try:
        tr, va, _, _ = train_test_split(rows, yh, test_fraction=float(split), seed=seed, stratify=hard)
    except ValueError as e:
        raise ValueError(f"validation_split: {split} of {x.shape[0]} examples cannot be split ({e})") from None
    train, val = jnp.asarray(tr[:, 0]), jnp.asarray(va[:, 0])
    if w is not None and not bool(jnp.any(w[train] > 0)):
        raise ValueError(
            f"validation_split: every example left for training has sample_weight 0 ({split} of {x.shape[0]} held "
            "out); use another key or split"
        )
    return x[train], y[train], None if w is None else w[train], padded(x[val], y[val], None)


def _check_batches(a: dict[str, Any], x: Any, key: Any) -> dict[str, Any]:
    n = x.shape[0] if x.ndim == 2 else 1
    batch_size, mesh = a["batch_size"], a["mesh"]
    if mesh is not None and (not isinstance(mesh, jax.sharding.Mesh) or "data" not in mesh.axis_names):
        raise TypeError(f"mesh: expected a jax.sharding.Mesh with a 'data' axis, got {mesh!r}")
    if mesh is not None and a["device"] is not None:
        raise ValueError("device: give a mesh (its devices) or one device, not both")
    if x.ndim == 1 and (batch_size is not None or mesh is not None):
        raise ValueError(
            f"x: batch_size and mesh need a batch of shape (N, {x.shape[0]}), got one example {tuple(x.shape)}"
        )
    if batch_size is not None:
        batch_size = positive_int("batch_size", batch_size)
        if batch_size > n:
            raise ValueError(f"batch_size: expected at most the number of examples {n}, got {batch_size}")
        if key is None:
            raise ValueError("key: required with batch_size (minibatches are drawn from it), got None")
    if mesh is not None and a["local_rows"]:  # the global row count: every process holds as many rows per device
        mine = sum(d.process_index == jax.process_index() for d in mesh.devices.flat)
        if not mine or n % mine:
            raise ValueError(
                f"x: with local_rows=True this process's {n} rows must split evenly over its {mine} mesh device(s)"
            )
        n = n // mine * int(mesh.devices.size)
    if mesh is not None:
        check_mesh(mesh, n, batch_size)
    return {"batches": None if batch_size is None else Batches(batch_size, mesh), "mesh": mesh, "n": n}


def _check_schedule(a: dict[str, Any], steps: int, validating: bool, step_seconds: float) -> dict[str, Any]:
    """``record_every``, ``eval_every``, ``early_stopping`` and ``chunk``, consistent with each other."""
    eval_every, patience, record_every = a["eval_every"], a["early_stopping"], a["record_every"]
    if not validating and (eval_every is not None or patience is not None):
        what = "eval_every" if eval_every is not None else "early_stopping"
        raise ValueError(f"{what}: needs a validation set (validation=(x_val, y_val) or validation_split=)")
    if eval_every is not None:
        eval_every = positive_int("eval_every", eval_every)
    if patience is not None:
        patience = positive_int("early_stopping", patience)
    if isinstance(record_every, str) and record_every == "auto":
        if validating and eval_every is None:
            eval_every = max(1, steps // 20)
        record_every = auto_record_every(steps, eval_every, step_seconds)
    else:
        record_every = positive_int("record_every", record_every)
        if steps % record_every:
            raise ValueError(f"steps: expected a multiple of record_every={record_every}, got {steps}")
        if validating and eval_every is None:
            eval_every = record_every * max(1, steps // 20 // record_every)
    if eval_every is not None and eval_every > steps:
        raise ValueError(f"eval_every: expected at most steps={steps} (no evaluation would run), got {eval_every}")
    if eval_every is not None and eval_every % record_every:
        raise ValueError(f"eval_every: expected a multiple of record_every={record_every}, got {eval_every}")
    chunk = a["chunk"]
    if chunk is not None and positive_int("chunk", chunk) < record_every:
        raise ValueError(f"chunk: expected at least record_every={record_every} steps (one block), got {chunk}")
    blocks = _BUFFER if chunk is None else min(_BUFFER, chunk // record_every)
    return {"record_every": record_every, "eval_every": eval_every, "patience": patience, "max_blocks": blocks}


def _check_fits(dtype: Any, params: Params, x: Any) -> None:
    """Refuse ``x`` or weights beyond the largest finite value of ``compute_dtype`` (65504 for float16)."""
    big = float(jnp.finfo(dtype).max)
    for name, v in (("x", x), *((f"params['{k}']", p) for k, p in params.items())):
        m = float(jnp.max(jnp.abs(v)))
        if m > big:
            raise ValueError(
                f"{name}: values up to {m:.4g} overflow compute_dtype={jnp.dtype(dtype).name} (largest finite "
                f"{big:.6g}); standardise the data, or use compute_dtype=jnp.bfloat16 or None"
            )


def _check_loss_fn(loss_fn: Any, params: Params, x: Any, y: Any, w: Any) -> None:
    """``loss_fn(params, x, y, sample_weight)`` must trace and return a real scalar (checked by ``jax.eval_shape``)."""
    what = "loss_fn: expected a function (params, x, y, sample_weight) -> a real scalar"
    try:
        out = jax.eval_shape(loss_fn, params, x, y, w)
    except Exception as e:  # whatever the user's function raised while being traced
        raise TypeError(f"{what}; calling it raised {type(e).__name__}: {e}") from e
    if not (hasattr(out, "shape") and out.shape == () and jnp.issubdtype(out.dtype, jnp.floating)):
        got = f"shape {out.shape}, dtype {out.dtype}" if hasattr(out, "shape") else type(out).__name__
        raise TypeError(f"{what}; it returned {got}")


def _check_opt_state(opt_state: Any, optimizer: optax.GradientTransformation, params: Params) -> Any:
    """``optimizer.init(params)``, or the given state if it has the same structure, shapes and dtypes."""
    if opt_state is None:
        return optimizer.init(params)
    expected = jax.eval_shape(optimizer.init, params)
    try:
        got = jax.eval_shape(lambda s: s, opt_state)
        same = jax.tree.structure(got) == jax.tree.structure(expected) and all(  # type: ignore[operator]
            (a.shape, a.dtype) == (b.shape, b.dtype) for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected))
        )
    except (TypeError, ValueError, OverflowError):
        same = False
    if not same:
        raise TypeError(
            f"opt_state: expected the state of this optimizer for these params (optimizer.init(params)), "
            f"got {type(opt_state).__name__} with a different structure, shapes or dtypes"
        )
    return opt_state


def _train(r: dict[str, Any]) -> tuple[Params, Any, dict]:
    """The chunk loop: compiled chunks, then history, evaluation, early stopping, callback, in Python.

    ``run["carry"]`` always holds the last completed state (the initial one
    before the first chunk), so a Ctrl-C at any moment hands that back.
    """
    run: dict[str, Any] = {
        "carry": (State(r["params"], r["opt_state"]), None),
        "limit": math.inf,
        "done": 0,
        "good_step": 0,
        "stopped": "completed",
        "best": None,
        "wait": 0,
        "bar": None,
    }
    hist: dict[str, list] = {"loss": [], "step": [], "val_loss": [], "val_step": [], "val_accuracy": []}
    try:
        cfg = Config(
            r["skeleton"],
            gradient_fn(r["gradients"], r["loss_fn"], r["activation"], r["head"], r["compute_dtype"]),
            r["record_every"],
            r["max_blocks"],
            r["batches"],
        )
        # padded (pad_rows): the first r["n"] rows are real; with local_rows, r["n"] is the global count (no padding)
        n = r["n"] if r["local_rows"] else r["data"][0].shape[0]
        cursor = None if r["batches"] is None else Cursor(np.int32(0), np.arange(n, dtype=np.int32), np.int32(r["n"]))
        placed, data, key = place(
            r["mesh"], r["device"], (run["carry"][0], cursor), r["data"], r["key"], r["local_rows"]
        )
        run["carry"], run["blocks"] = placed, _first_blocks(r, cfg)
        with r["context"], sigint_as_flag(spans_processes(r["mesh"])) as sigint:
            while run["done"] < r["steps"] and run["stopped"] == "completed":
                _run_chunk_everywhere(r, cfg, run, hist, (data, key), sigint)
        return _finish(r, run, hist)
    except KeyboardInterrupt:
        state = run["carry"][0]
        history = {**_history(hist, run, r), "stopped": "interrupted"}
        raise TrainingInterrupted(
            f"fit: interrupted after {history['steps_done']} steps; the exception carries the parameters, optimizer "
            "state and history of that step (e.params, e.opt_state, e.history)",
            state.params,
            state.opt_state,
            history,
        ) from None
    finally:
        if run["bar"] is not None:
            run["bar"].close()


def _step_seconds(params: Params, x: Any, batch_size: int | None) -> float:
    """A pessimistic guess of one step's time before anything is measured: 1 us plus 2 ns a multiply-add."""
    sizes = [params["W1"].shape[1]] + [params[f"W{l}"].shape[0] for l in range(1, len(params) // 2 + 1)]
    return 1e-6 + 2e-9 * multiply_adds(sizes, batch_size or (x.shape[0] if len(x.shape) == 2 else 1))


def _first_blocks(r: dict[str, Any], cfg: Config) -> int:
    """Blocks in the first chunk: about 0.1 s at :func:`_step_seconds`, so that Ctrl-C is honoured soon even
    before anything has been measured."""
    step = _step_seconds(r["params"], r["data"][0], r["batches"].size if r["batches"] else None)
    return int(max(1, min(cfg.buffer, 0.1 / (step * r["record_every"]))))


_STOPS = ("completed", "callback", "early_stopping", "diverged")


def _run_chunk_everywhere(
    r: dict[str, Any], cfg: Config, run: dict[str, Any], hist: dict[str, list], inputs: tuple, sigint: list[bool]
) -> None:
    """One chunk; on a mesh over several processes, then one all-gather of every process's wishes.

    Every process must run the same chunks, so they agree after each one: the
    next chunk's length (the smallest proposed; each process times its own),
    and whether to stop. A process interrupted by Ctrl-C (``sigint``, a flag
    set by the signal handler) or whose callback raised raises its own error
    (as does the ValueError of a first loss that overflows, raised on every
    process); the others raise :class:`PeerStopped` at the same step; a callback's or
    early stopping's stop on any process stops all.
    """
    if not spans_processes(r["mesh"]):
        _run_chunk(r, cfg, run, hist, *inputs)
        return
    error: Exception | None = None
    try:
        try:
            _run_chunk(r, cfg, run, hist, *inputs)
        except (CallbackError, ValueError) as e:  # this process's own: a callback's, or a start that overflows
            error = e  # (_initial_overflow: the loss is global, so every process refuses it), not a dead peer's
        wish = [int(sigint[0]), int(error is not None), _STOPS.index(run["stopped"]), run["blocks"]]
        every = agree(r["mesh"], wish)
    except Exception as e:  # a collective that failed: what the others see when a process dies
        what = f"saw a collective operation fail ({type(e).__name__}: {e}); a process has probably died or been killed"
        raise _peer_stopped(r, run, hist, what) from e
    if error is not None:
        raise error
    if sigint[0]:
        raise KeyboardInterrupt
    for column, what in ((0, "was interrupted (Ctrl-C)"), (1, "had a callback that raised")):
        if every[:, column].any():
            first = sorted({d.process_index for d in r["mesh"].devices.flat})[int(np.argmax(every[:, column]))]
            raise _peer_stopped(r, run, hist, f"found that process {first} {what}")
    if run["stopped"] == "completed" and every[:, 2].any():
        run["stopped"] = _STOPS[int(every[every[:, 2] > 0, 2][0])]
    run["blocks"] = int(every[:, 3].min())


def _peer_stopped(r: dict[str, Any], run: dict[str, Any], hist: dict[str, list], what: str) -> PeerStopped:
    state = run["carry"][0]
    processes = len({d.process_index for d in r["mesh"].devices.flat})
    return PeerStopped(
        f"fit: process {jax.process_index()} of {processes} {what} after step {run['done']}; stopping there (the "
        "exception carries the parameters, optimizer state and history of that step: e.params, e.opt_state, e.history)",
        state.params,
        state.opt_state,
        _history(hist, run, r),
    )


def _run_chunk(
    r: dict[str, Any], cfg: Config, run: dict[str, Any], hist: dict[str, list], data: tuple, key: Any
) -> None:
    """One compiled chunk, then the Python work between chunks."""
    re, done = r["record_every"], run["done"]
    n = min(run["blocks"], cfg.buffer, (r["steps"] - done) // re)
    if r["eval_every"]:
        n = min(n, (r["eval_every"] - done % r["eval_every"]) // re)  # chunks end on evaluation steps
    start, dtype = time.perf_counter(), r["params"]["W1"].dtype
    first = run["carry"]
    limit = np.asarray(min(run["limit"], float(jnp.finfo(dtype).max)), dtype)  # a limit past the dtype's range: max
    carry, losses, blocks, ok, final = run_steps(cfg, first, data, key, np.int32(n), limit, r["hyper"])
    losses, blocks, ok, final = jax.device_get((losses, blocks, ok, final))
    seconds = time.perf_counter() - start
    losses = losses[:blocks]
    if done == 0 and blocks and not np.isfinite(losses[0]):  # finite inputs (checked) whose first loss overflowed
        raise _initial_overflow(r)
    if math.isinf(run["limit"]) and blocks and np.isfinite(losses[0]):  # the run's first loss sets the rule
        run["limit"] = DIVERGENCE_FACTOR * max(float(losses[0]), 1.0)
    bad = np.flatnonzero(~np.isfinite(losses) | (losses.astype(np.float64) > run["limit"]))  # (no float32 cast)
    ok = ok and bool(np.isfinite(final) and float(final) <= run["limit"])
    if bad.size or not ok:  # the first unacceptable loss, or a final state whose parameters or loss are not
        _keep_last_good(r, cfg, run, hist, (data, key), first, losses, int(bad[0]) if bad.size else n)
        return
    hist["loss"].append(losses)
    hist["step"].append(done + re * np.arange(n))
    run["previous"], run["carry"], run["done"] = (first, n, done), carry, done + n * re
    if done == 0:  # the first chunk compiled: grow 4x, then aim at _TARGET_SECONDS a chunk
        run["blocks"] = 4 * n
    else:
        run["blocks"] = int(max(1, min(4 * run["blocks"], _TARGET_SECONDS * n / max(seconds, 1e-9))))
    _progress(r, run, n * re, seconds / n, losses[-1])
    if r["eval_every"] and (run["done"] % r["eval_every"] == 0 or run["done"] == r["steps"]):
        _evaluate(r, run, hist)  # on the schedule, and the final state
    if r["callback"] is not None and run["stopped"] == "completed":
        state = run["carry"][0]
        try:
            stop = r["callback"](run["done"], state.params, _history(hist, run, r))
        except Exception as e:
            raise CallbackError(
                f"fit: the callback raised {type(e).__name__} at step {run['done']}; the exception "
                "carries the state it was called with",
                state.params,
                state.opt_state,
                _history(hist, run, r),
            ) from e
        if _callback_says_stop(stop, run, state, _history(hist, run, r)):
            run["stopped"] = "callback"


def _callback_says_stop(stop: Any, run: dict[str, Any], state: State, history: dict) -> bool:
    """Whether the callback's return value stops training: a true bool (Python, numpy, or a 0-d bool array such
    as ``jnp.asarray(True)``); ``None`` and false go on.

    Anything else (an array of another shape or dtype, a number, a string) is
    refused: a :class:`CallbackError` carrying the state, from a ``TypeError``
    naming ``callback``.
    """
    if stop is None or isinstance(stop, (bool, np.bool_)):
        return bool(stop)
    if isinstance(stop, (np.ndarray, jax.Array)) and stop.shape == () and stop.dtype == np.bool_:
        return bool(stop)
    what = (
        f"an array of shape {tuple(stop.shape)} and dtype {stop.dtype}"
        if isinstance(stop, (np.ndarray, np.generic, jax.Array))
        else f"{type(stop).__name__} {stop!r}"[:80]
    )
    err = TypeError(f"callback: expected it to return None or a bool (True stops training), got {what}")
    raise CallbackError(
        f"callback: returned {what} at step {run['done']}, not None or a bool (True stops training); the "
        "exception carries the state it was called with",
        state.params,
        state.opt_state,
        history,
    ) from err


def _initial_overflow(r: dict[str, Any]) -> ValueError:
    """The error for finite inputs whose very first loss is NaN/inf: nothing was trained, the input is named."""
    params, (x, y, _) = r["params"], r["data"]
    if r["loss_fn"] is not None:
        return ValueError(
            "loss_fn: returned NaN/inf at the initial parameters, whose inputs are finite; fix the loss, or "
            "standardise the data"
        )
    err = overflow_error(params, x, y)
    if r["compute_dtype"] is not None:
        return ValueError(f"{err} (the matmuls run in compute_dtype={np.dtype(r['compute_dtype']).name})")
    return err


def _keep_last_good(
    r: dict[str, Any],
    cfg: Config,
    run: dict[str, Any],
    hist: dict[str, list],
    inputs: tuple,
    first: tuple,
    losses: np.ndarray,
    k: int,
) -> None:
    """Divergence at block ``k`` of the chunk that started from ``first``: keep the state of block ``k - 1``.

    Its loss is the last acceptable one recorded, so the history ends there. The
    state is recovered by running the same program again from a copy of the start.
    """
    re, done = r["record_every"], run["done"]
    start, blocks, at = (first, k - 1, done) if k else run.get("previous", (first, 0, done))
    if not k and "previous" in run:
        blocks -= 1  # the previous chunk's last block start: its loss is the history's last entry
    if blocks > 0:  # the replay; a Ctrl-C here leaves run and hist at the last completed chunk
        limit = np.asarray(np.inf, r["params"]["W1"].dtype)
        start = run_steps(cfg, start, *inputs, np.int32(blocks), limit, r["hyper"])[0]
    hist["loss"].append(losses[:k])
    hist["step"].append(done + re * np.arange(k))
    run["good_step"] = at + blocks * re
    run["carry"], run["stopped"] = start, "diverged"


def _progress(r: dict[str, Any], run: dict[str, Any], steps_run: int, per_block: float, loss: float) -> None:
    """The bar appears after the first (compiling) chunk, for ``"auto"`` only if the rest takes over a second."""
    if run["bar"] is None:
        run["chunks"] = run.get("chunks", 0) + 1  # the first chunk's time includes compiling: no estimate from it
        left = (r["steps"] - run["done"]) / r["record_every"] * per_block
        if r["progress"] is True or (r["progress"] == "auto" and run["chunks"] > 1 and left > 1.0):
            from tqdm.auto import tqdm  # imported when a bar is first shown: ~0.1 s off `import jaxnet`

            run["bar"] = tqdm(total=r["steps"], initial=run["done"], unit="step", dynamic_ncols=True)
        return
    run["bar"].update(steps_run)
    run["bar"].set_postfix(loss=f"{loss:.4g}", refresh=False)


def _evaluate(r: dict[str, Any], run: dict[str, Any], hist: dict[str, list]) -> None:
    """Validation scores at this step; early stopping keeps the best state."""
    state = run["carry"][0]
    (xv, yv, wv), n = r["validation"]  # metrics.padded
    s = jax.device_get(scores(state.params, xv, yv, wv, r["activation"], r["head"], n))
    value = float(s["loss"])
    hist["val_loss"].append(value)
    hist["val_step"].append(run["done"])
    if "accuracy" in s:
        hist["val_accuracy"].append(float(s["accuracy"]))
    if not math.isfinite(value):  # the start was checked: the network's outputs on x_val overflow now
        warnings.warn(
            f"fit: the validation loss at step {run['done']} is {value} (the network's outputs on the validation "
            "set overflow); it never counts as an improvement for early stopping",
            DivergenceWarning,
            stacklevel=5,
        )
    if r["patience"] is None:
        return
    if math.isfinite(value) and (run["best"] is None or value < run["best"][0]):
        run["best"], run["wait"] = (value, state, run["done"]), 0
    elif run["best"] is not None:  # early stopping needs a finite best to return
        run["wait"] += 1
        if run["wait"] >= r["patience"]:
            run["stopped"] = "early_stopping"


def _history(hist: dict[str, list], run: dict[str, Any], r: dict[str, Any]) -> dict[str, Any]:
    """The history as arrays; nothing past the state being returned."""
    last = run["good_step"] if run["stopped"] == "diverged" else run["done"]
    step = np.concatenate(hist["step"]) if hist["step"] else np.zeros((0,), int)
    loss = np.concatenate(hist["loss"]) if hist["loss"] else np.zeros((0,))
    loss, step = loss[step <= last], step[step <= last]  # (a chunk interrupted while being recorded)
    val_step = np.asarray(hist["val_step"], dtype=int)
    keep = val_step <= last
    out = {
        "loss": loss,
        "step": step,
        "val_loss": np.asarray(hist["val_loss"])[keep],
        "val_step": val_step[keep],
        "diverged": run["stopped"] == "diverged",
        "steps_done": int(last),
        "stopped": run["stopped"],
        "best_step": None if run["best"] is None else run["best"][2],
    }
    if HEADS[r["head"]].classifier:
        out["val_accuracy"] = np.asarray(hist["val_accuracy"])[keep]
    return out


def _finish(r: dict[str, Any], run: dict[str, Any], hist: dict[str, list]) -> tuple[Params, Any, dict]:
    history = _history(hist, run, r)
    state = run["carry"][0]
    if run["stopped"] == "early_stopping":
        state = run["best"][1]
    if run["stopped"] != "diverged":
        return state.params, state.opt_state, history
    if history["loss"].size and history["step"][-1] > history["steps_done"]:  # pragma: no cover - invariant
        raise AssertionError("fit: history runs past the returned state")
    if run["best"] is not None and run["best"][2] <= history["steps_done"]:  # early stopping had a best state
        state, step = run["best"][1], run["best"][2]
        message = (
            f"fit: training diverged after step {history['steps_done']}; returning the parameters of step {step}, the "
            f"best validation loss ({run['best'][0]:.6g}), as early stopping would. Try a smaller learning rate."
        )
    else:  # the history holds the initial loss at least: a NaN/inf one is refused first (_initial_overflow)
        message = (
            f"fit: training diverged (the loss became NaN/inf or exceeded {DIVERGENCE_FACTOR:g} x max(initial loss, 1)) "
            f"after step {history['steps_done']}; returning the parameters of step {history['steps_done']}, whose loss "
            f"{history['loss'][-1]:.6g} is the last in the history. Try a smaller learning rate."
        )
    if r["on_divergence"] == "raise":
        raise DivergenceError(message, state.params, state.opt_state, history)
    warnings.warn(message, DivergenceWarning, stacklevel=4)
    return state.params, state.opt_state, history

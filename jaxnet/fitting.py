"""``fit``: train for many steps as a few calls of one compiled program.

The steps run inside :func:`jaxnet._engine.run_steps` (``lax.scan`` blocks in a
``lax.while_loop`` with a traced trip count). Python only runs between
chunks (``jaxnet._fit_loop``, after the checks of ``jaxnet._fit_args``): it
updates the ``tqdm`` bar, records the history, evaluates the validation set
at the steps the user chose (``eval_every``), applies early stopping and
calls ``callback``. Chunks end on every evaluation step and last
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

from collections.abc import Callable
from typing import Any, Literal, TypeVar, cast

import jax
import optax

from jaxnet._fit_args import Execution, Gradients, Recording, Training, Validation, check
from jaxnet._fit_loop import train
from jaxnet._fit_state import empty_history
from jaxnet._validate import resolve_spec
from jaxnet.cache import use_default_cache
from jaxnet.errors import (
    CallbackError,
    DivergenceError,
    DivergenceWarning,
    PeerStopped,
    TrainingInterrupted,
)
from jaxnet.network import ActivationName, HeadName
from jaxnet.spec import Model, Params
from jaxnet.steps import LossFn

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


def fit(
    params: P,
    x: Any,
    y: Any,
    *,
    steps: int,
    optimizer: optax.GradientTransformation | None = DEFAULT_OPTIMIZER,
    batch_size: int | None = None,
    key: Any = None,
    drop_last: bool = True,
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
    With the built-in loss, the rows are padded to a bucket (:func:`jaxnet._padding.bucket`) with zero
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
      every epoch (its steps: ``drop_last``) from ``key`` (a ``jax.random``
      key or an int seed), inside the compiled loop. ``None``: full batch.
    - ``drop_last``: ``True``: an epoch is ``N // batch_size`` full minibatches,
      the ``N % batch_size`` rows left over wait for a later epoch's shuffle;
      ``False``: ``ceil(N / batch_size)`` minibatches, every row once an epoch,
      the last one holding the remainder (its loss the mean over its rows, as
      scikit-learn's and PyTorch's ``drop_last=False`` epochs). It is padded
      with rows of weight 0, so it needs the built-in loss and no ``mesh``.
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
      least ~100 points (:func:`jaxnet._recording.fit_record_every`, which gives
      the measured costs). Divergence is checked at every recorded loss.
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
    spec = None
    try:
        params_dict, spec = resolve_spec(params, activation, head)  # the dict from here on
        run = check(
            params_dict, x, y, sample_weight, spec,
            Training(steps, DEFAULT_OPTIMIZER if optimizer is None else optimizer, batch_size, key, opt_state,
                     on_divergence, drop_last),
            Gradients(gradients, loss_fn),
            Validation(validation, validation_split, eval_every, early_stopping),
            Recording(record_every, chunk, progress, callback),
            Execution(mesh, local_rows, device, precision, compute_dtype),
        )  # fmt: skip
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            "fit: interrupted while checking the arguments, before any step; the exception carries the params "
            "and opt_state as given (e.params, e.opt_state) and an empty history",
            params.params if isinstance(params, Model) else params,  # the dict, also of a Model
            opt_state,
            empty_history(head if spec is None else spec.head),
        ) from None
    trained, opt_state, history = train(run)
    return cast(P, Model(trained, spec) if isinstance(params, Model) else trained), opt_state, history

"""How an estimator trains: scikit-learn's epochs and stopping rule over :func:`jaxnet.fit`.

The functions take the estimator (``MLPClassifier``/``MLPRegressor``) and set
its fitted attributes as scikit-learn's ``MLP*`` do: ``params_``,
``opt_state_``, ``loss_curve_``, ``n_iter_``, ``best_loss_``,
``validation_scores_``, ``best_validation_score_``. An epoch is
``ceil(n / batch_size)`` steps of ``fit(drop_last=False)``, every row once, the
last minibatch the remainder (``n // batch_size`` on a mesh); the stopping rule after each epoch is
scikit-learn's: stop when the loss (or the validation score, with
``early_stopping``) has not improved by ``tol`` for ``n_iter_no_change``
epochs. Epochs run in blocks of one ``fit`` call (:func:`epochs`), and where
the rule stops inside a block, that epoch's state is run again (:func:`_block`).

>>> import numpy as np, jaxnet
>>> x = np.random.default_rng(0).normal(size=(40, 3))
>>> clf = jaxnet.MLPClassifier((4,), max_iter=50, n_iter_no_change=1, tol=10.0).fit(x, x[:, 0] > 0)
>>> clf.n_iter_  # the first epoch sets the best loss; the next two do not improve it by tol=10
3
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import jax
import numpy as np

from jaxnet import tabular
from jaxnet._estimator_parts import (
    _epoch_key,
    _init_state,
    _initial_params,
    _optimizer,
    _set_hyperparams,
    _split_evenly,
)
from jaxnet._padding import pad_rows
from jaxnet.errors import DivergenceError, PeerStopped, TrainingInterrupted
from jaxnet.fitting import fit

try:  # scikit-learn's warning class when it is installed, so that its filters apply
    from sklearn.exceptions import ConvergenceWarning
except ImportError:  # pragma: no cover - exercised in a subprocess test
    from jaxnet._estimator_base import ConvergenceWarning


def hold_out(est: Any, xs: np.ndarray, t: np.ndarray, w: Any, y: np.ndarray) -> tuple:
    rows = np.arange(len(xs))[:, None]
    head = est._tabular.head
    strat = t if tabular.stratified(head, t) else np.zeros(len(t))
    try:
        tr, va, _, _ = tabular.split(rows, strat, head, float(est.validation_fraction), est._seed)
    except ValueError as e:
        raise ValueError(f"validation_fraction: {est.validation_fraction} of {len(xs)} rows: {e}") from None
    tr, va = tr[:, 0], va[:, 0]
    return xs[tr], xs[va], t[tr], y[va], None if w is None else w[tr]


def start(est: Any, n_in: int, n_out: int) -> None:
    """Fresh parameters, optimizer state and records."""
    sizes = (n_in, *est._hidden(), n_out)
    est.params_ = _initial_params(est._seed, sizes)  # numpy: fit moves them
    est.opt_state_ = _init_state(est.optimizer, est.params_)  # numpy fills it in: no program
    est.loss_curve_ = []
    est.n_iter_ = 0
    est.best_loss_ = np.inf
    est.validation_scores_ = [] if est.early_stopping else None
    est.best_validation_score_ = -np.inf if est.early_stopping else None
    est._no_improvement = 0
    est._best_params = None


_BLOCK_STEPS = 256
"""Steps a block may run past the epoch where the stopping rule could first stop (then that epoch is run again)."""


def epochs(est: Any, x: np.ndarray, t: np.ndarray, w: Any, epochs: int, validation: Any, incremental: bool) -> None:
    """Up to ``epochs`` epochs, in blocks of one ``fit`` call each (:func:`_block`).

    A block is at least the epochs before the stopping rule could first stop, and twice the previous block up
    to :data:`_BLOCK_STEPS` steps: ~1 ms of each call is its checks and set-up, so a 200-epoch fit of 2 steps
    an epoch is 5 calls (11, 22, 44, 88, 35 epochs), not 19, and a block that goes past where the rule stops
    runs at most ~2 x 256 steps again. One epoch at a time with validation (its score) and for ``partial_fit``.
    The blocks depend only on the rule's state and the data's shape, so the fit is the same on every machine.
    """
    n = x.shape[0]
    batch = min(200, n) if isinstance(est.batch_size, str) else min(int(est.batch_size), n)
    sizes = _batch_sizes(n, batch, est.mesh is None)
    if batch == n:  # full batch: padded here as fit pads (_padding.pad_rows), so fit's checks see the bucket too
        x, t, w = (np.asarray(a) for a in pad_rows((x, t, w), np.float32)[0])
    if est.mesh is not None:  # fit does not pad on a mesh: the rows must split over its devices
        x, t, w = _split_evenly(est.mesh, x, t, w, None if batch == n else batch)
    # x, t, w stay host data: each fit call checks them with numpy and pads their rows before moving them (on a
    # GPU machine, data already there was checked by a program per shape, then read back to be padded)
    run = functools.partial(_run, est, _optimizer(est.optimizer), x, t, w, batch=batch if batch < n else None)
    est.opt_state_ = _set_hyperparams(est.opt_state_, est.learning_rate_init, est.alpha / batch)
    done = block = 0
    while done < epochs:
        if validation is not None or incremental:
            block = 1
        else:  # the rule cannot stop before the end of `first` epochs (1: it stopped before, in partial_fit)
            first = max(1, est.n_iter_no_change + 1 - est._no_improvement)
            block = min(epochs - done, max(first, min(2 * block, _BLOCK_STEPS // len(sizes))))  # doubling
        recorded, stop = _block(est, run, sizes, block, validation)
        done += recorded
        if stop and not incremental:
            if validation is not None and est._best_params is not None:
                est.params_ = est._best_params
            if est.verbose:
                print(f"stopped after epoch {est.n_iter_}: no improvement in {est.n_iter_no_change} epochs")
            return
    if not incremental and not est.early_stopping:
        warnings.warn(
            f"{type(est).__name__}: max_iter ({est.max_iter}) epochs reached and the optimization hasn't "
            "converged yet.",
            ConvergenceWarning,
            stacklevel=4,
        )


def _block(est: Any, run: Any, sizes: np.ndarray, block: int, validation: Any) -> tuple[int, bool]:
    """``block`` epochs from the current state, recorded epoch by epoch until the stopping rule stops;
    ``(epochs recorded, stopped)``.

    Where the rule stops before the block's end, the state of that epoch is run again from the block's
    start: the same key and the same steps give the same state (``fit`` is deterministic, whatever its
    chunks). A block that diverges (``DivergenceError``) still records its whole epochs before the divergence;
    if the rule stops in them, that epoch's state is kept and nothing is raised, else the error is. One
    interrupted (Ctrl-C, or a peer process stopped) records the whole epochs it ran, so ``n_iter_`` and
    ``loss_curve_`` stay within an epoch of the state it carries, and is raised: nothing more is run.
    """
    start = (est.params_, est.opt_state_, est.n_iter_)
    error = None
    try:
        losses = run(steps=block * len(sizes), epoch=est.n_iter_)
    except (DivergenceError, TrainingInterrupted, PeerStopped) as e:  # the state it carries is kept (by _run)
        losses, error = np.asarray(e.history.get("loss", ()), np.float64), e
    # an epoch is whole where the state after its last step was checked: by fit at the block's (or the
    # interrupted chunk's) end, else by the next step's loss (a DivergenceError's last loss is that of the state
    # it carries; the step after it diverged)
    checked = len(losses) - 1 if isinstance(error, DivergenceError) else len(losses)
    whole = block if error is None else min(block, max(checked, 0) // len(sizes))
    recorded, stop = 0, False
    for loss in losses[: whole * len(sizes)].reshape(whole, len(sizes)) @ (sizes / sizes.sum()):  # rows' mean
        recorded += 1
        stop = _record(est, float(loss), validation)
        if stop:
            break
    if isinstance(error, (TrainingInterrupted, PeerStopped)):
        raise error
    if stop and (recorded < block or error is not None):  # that epoch's state: the block's start, run again
        est.params_, est.opt_state_ = start[:2]
        run(steps=recorded * len(sizes), epoch=start[2])
        return recorded, True
    if error is not None:
        raise error
    return recorded, stop


def _batch_sizes(n: int, batch: int, whole: bool) -> np.ndarray:
    """The rows of each minibatch of an epoch: scikit-learn's ``batch, ..., batch, n % batch`` when ``whole`` (every
    row once, ``fit(drop_last=False)``), else ``n // batch`` full ones (on a mesh, where rows are not padded).

    >>> _batch_sizes(455, 200, True).tolist(), _batch_sizes(455, 200, False).tolist(), _batch_sizes(400, 200, True).tolist()
    ([200.0, 200.0, 55.0], [200.0, 200.0], [200.0, 200.0])
    """
    full, rest = divmod(n, batch)
    return np.asarray([batch] * full + ([rest] if whole and rest else []), np.float64)


def _run(est: Any, optimizer: Any, x: Any, t: Any, w: Any, *, batch: int | None, steps: int, epoch: int) -> np.ndarray:
    """``jaxnet.fit`` for ``steps`` steps from the current state, shuffling from epoch ``epoch``'s key; the
    per-step losses."""
    key = None
    if batch is not None:
        key = _epoch_key(est._seed, epoch if est.shuffle else 0)
    try:  # optax's adam mixes its int32 count with Python floats: standard promotion whatever the user's
        with jax.numpy_dtype_promotion("standard"):
            est.params_, est.opt_state_, history = fit(
                est.params_, x, t, steps=steps, optimizer=optimizer, batch_size=batch, key=key,
                drop_last=est.mesh is not None, opt_state=est.opt_state_, sample_weight=w, activation=est.activation,
                head=est._tabular.head,
                progress="auto" if est.verbose else False, record_every=1, on_divergence="raise",
                device=est.device, compute_dtype=est.compute_dtype, mesh=est.mesh,
            )  # fmt: skip
    except (DivergenceError, TrainingInterrupted, PeerStopped) as e:  # the state they carry is kept
        est.params_, est.opt_state_ = e.params, e.opt_state
        raise
    return np.asarray(history["loss"], np.float64)


def _record(est: Any, loss: float, validation: Any) -> bool:
    """scikit-learn's stopping rule after one epoch of mean loss ``loss``; True to stop."""
    est.n_iter_ += 1
    est.loss_curve_.append(loss)
    if validation is not None:
        score = float(est.score(*validation))
        est.validation_scores_.append(score)
        best = est.best_validation_score_
        est._no_improvement = est._no_improvement + 1 if score < best + est.tol else 0
        if score > best:
            est.best_validation_score_ = score
            est._best_params = est.params_
        est.best_loss_ = None
    else:
        best = np.inf if est.best_loss_ is None else est.best_loss_
        est._no_improvement = est._no_improvement + 1 if loss > best - est.tol else 0
        est.best_loss_ = min(best, loss)
    return est._no_improvement > est.n_iter_no_change

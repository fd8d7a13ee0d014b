"""The estimators' building blocks: argument checks, the input table (DataFrame columns by name), the
optimizer with runtime learning rate and L2 weight, the initial weights, prediction blocks and the rows for a
mesh (see :mod:`jaxnet.estimators`).

>>> sorted((k, v.shape) for k, v in _initial_params(0, (3, 4, 1)).items())
[('W1', (4, 3)), ('W2', (1, 4)), ('b1', (4,)), ('b2', (1,))]
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnet import _host_eval as host_eval
from jaxnet._checks import count, number, refuse
from jaxnet._hyper import initial_state
from jaxnet.cache import use_default_cache
from jaxnet.model import outputs_or_nan

__all__: list[str] = []


def _with_l2(factory: Any, learning_rate: Any, weight_decay: Any) -> optax.GradientTransformation:
    """``factory(learning_rate)`` after adding ``weight_decay * W`` to the gradient of every weight matrix."""
    return optax.chain(optax.add_decayed_weights(weight_decay, mask=_weights_only), factory(learning_rate))


def _weights_only(params: dict) -> dict:
    return {k: k.startswith("W") for k in params}


_FACTORIES = {"adam": optax.adam, "sgd": optax.sgd}


def _factory(optimizer: Any) -> Any:
    if isinstance(optimizer, str) and optimizer in _FACTORIES:
        return _FACTORIES[optimizer]
    if callable(optimizer) and not isinstance(optimizer, optax.GradientTransformation):
        return optimizer
    raise ValueError(
        f"optimizer: expected 'adam', 'sgd' or an optax optimizer factory such as optax.adamw "
        f"(called with learning_rate), got {optimizer!r}"
    )


def _optimizer(optimizer: Any) -> optax.GradientTransformation:
    """The training optimizer: learning rate and L2 weight live in the state (values set per fit)."""
    build = functools.partial(_with_l2, _factory(optimizer))
    return optax.inject_hyperparams(build)(learning_rate=1e-3, weight_decay=0.0)


def _init_state(optimizer: Any, params: dict) -> Any:
    """``_optimizer(optimizer).init(params)`` by :func:`jaxnet._hyper.initial_state`: the state of the eager
    ``init``, filled in by numpy (optax's inits only build constants: :mod:`jaxnet._host_init`), where optax's
    ``init`` run op by op compiles ~10 one-op programs on a new shape; the learning rate and ``alpha`` are set
    into the state afterwards."""
    return initial_state(_optimizer(optimizer), params)


def _set_hyperparams(opt_state: Any, learning_rate: float, weight_decay: float) -> Any:
    hp = dict(opt_state.hyperparams)
    for name, value in (("learning_rate", learning_rate), ("weight_decay", weight_decay)):
        hp[name] = jax.device_put(np.asarray(value, np.dtype(hp[name].dtype)))  # compiles nothing
    return opt_state._replace(hyperparams=hp)


def as_value_error(check: Any, *args: Any, **kwargs: Any) -> Any:
    """``check(*args, **kwargs)`` (from :mod:`jaxnet._checks`) with a TypeError raised as a ValueError, the
    message kept: scikit-learn raises ValueError for every bad constructor argument."""
    try:
        return check(*args, **kwargs)
    except TypeError as e:
        raise ValueError(str(e)) from None


def _positive(name: str, value: Any, kind: type = float, zero: bool = False) -> Any:
    """``value`` as a positive (``zero``: non-negative) finite ``kind``; an int may be given as a whole float."""
    v = as_value_error(number, name, value, low=0.0, low_open=not zero)
    if kind is int and (v != int(v) or v < 1):
        raise refuse(name, "a positive whole number", repr(value))
    return int(value) if kind is int else v


def _seed(random_state: Any) -> int:
    """An int seed from scikit-learn's ``random_state`` (None: a fresh random one; an int in scikit-learn's
    range ``[0, 2**32)``, used as it is; a RandomState).

    An int is not reduced modulo anything: ``random_state=2**31 - 1`` must not train the net of ``0``.
    """
    if random_state is None:
        return int(np.random.default_rng().integers(2**31 - 1))
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return count("random_state", random_state, low=0, high=2**32 - 1)  # scikit-learn's range
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    raise ValueError(f"random_state: expected None, an int or a numpy RandomState, got {random_state!r}")


def _columns(est: Any, X: Any, reset: bool) -> Any:
    """A DataFrame's columns, by name: recorded on ``reset``, else reordered to the training order or refused."""
    cols = getattr(X, "columns", None)
    names = [str(c) for c in cols] if cols is not None and all(isinstance(c, str) for c in cols) else None
    if reset:
        if names is not None:
            est.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(est, "feature_names_in_"):
            del est.feature_names_in_
        return X
    fitted = getattr(est, "feature_names_in_", None)
    if fitted is None or names is None or names == list(fitted):
        if fitted is not None and names is None:
            warnings.warn(
                f"X does not have valid feature names, but {type(est).__name__} was fitted with feature names",
                stacklevel=4,
            )
        return X
    unseen, missing = sorted(set(names) - set(fitted)), sorted(set(fitted) - set(names))
    if not unseen and not missing:
        return X[list(fitted)]  # the same columns in another order: read by name
    message = "X: The feature names should match those that were passed during fit.\n"
    for title, group in (("unseen at fit time", unseen), ("seen at fit time, yet now missing", missing)):
        if group:
            message += (
                f"Feature names {title}:\n" + "".join(f"- {n}\n" for n in group[:5]) + ("- ...\n" * (len(group) > 5))
            )
    raise ValueError(message)


def _inputs(est: Any, X: Any, reset: bool) -> np.ndarray:
    """``X`` as a finite float64 (N, F) array with ``n_features_in_`` features (recorded on ``reset``).

    Every ``fit``/``partial_fit`` and prediction starts here, before anything compiles: the persistent
    compilation cache is turned on here (:func:`jaxnet.cache.use_default_cache`)."""
    use_default_cache()
    X = _columns(est, X, reset)
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise TypeError("X: sparse input is not supported; pass a dense array (X.toarray())")
    x = np.asarray(X)
    if x.dtype.kind == "c":
        raise ValueError("X: Complex data not supported; got complex numbers")
    try:
        x = x.astype(np.float64)
    except TypeError as e:
        raise TypeError(f"X: expected numbers: {e}") from None
    except ValueError as e:
        raise ValueError(f"X: expected numbers: {e}") from None
    if x.ndim != 2:
        raise ValueError(
            f"X: Expected 2D array, got {x.ndim}D array of shape {x.shape} instead. Reshape your data "
            "(x.reshape(-1, 1) for one feature, x.reshape(1, -1) for one sample)"
        )
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"X: Found array with {x.shape[0]} sample(s) and {x.shape[1]} feature(s) (shape={x.shape})"
                         " while a minimum of 1 is required.")  # fmt: skip
    if not np.isfinite(x).all():
        raise ValueError("X: Input contains NaN or infinity")
    if reset:
        est.n_features_in_ = x.shape[1]
    elif x.shape[1] != est.n_features_in_:
        raise ValueError(
            f"X: X has {x.shape[1]} features, but {type(est).__name__} is expecting {est.n_features_in_} features "
            "as input"
        )
    return x


def _initial_params(seed: int, sizes: tuple[int, ...]) -> dict[str, np.ndarray]:
    """He-normal weights ``W_l ~ N(0, 2 / fan_in)`` and zero biases, float32 numpy arrays drawn from ``seed``
    (``fit`` moves them to the device).

    The scheme of :func:`jaxnet.init_mlp` (its default ``"he"``), from numpy's generator: on host-sized
    networks that is instant, where ``init_mlp``'s program costs a compilation (0.7 s in a fresh process).
    """
    rng = np.random.default_rng(seed)
    params = {}
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False), start=1):
        w = rng.standard_normal((n_out, n_in)) * math.sqrt(2.0 / n_in)
        params[f"W{l}"], params[f"b{l}"] = w.astype(np.float32), np.zeros(n_out, np.float32)
    return params


def _epoch_key(seed: int, epoch: int) -> jax.Array:
    """The ``jax.random`` key of a training block, from ``(seed, epoch)`` by numpy (no program compiled)."""
    data = np.random.SeedSequence([seed, epoch]).generate_state(2, np.uint32)
    return jax.random.wrap_key_data(jnp.asarray(data, jnp.uint32))


@functools.partial(jax.jit, static_argnames=("activation", "head"))
def _forward(params: dict, x: jax.Array, activation: str, head: str) -> jax.Array:
    """The network's outputs: :func:`jaxnet.forward`'s arithmetic without its checks (the estimator made
    them: finite inputs and params), so the prediction program is just the forward pass; NaN in a row where
    a layer overflowed (:func:`jaxnet.model.outputs_or_nan`), which the caller refuses."""
    return outputs_or_nan(params, x, activation, head)


PREDICT_ROWS = 512
"""Predictions run in blocks of exactly this many rows (the last one padded with zero rows)."""


def _block_outputs(params: dict, x: np.ndarray, activation: str, head: str) -> np.ndarray:
    """:func:`_forward` on ``x`` in blocks of :data:`PREDICT_ROWS` rows, as float64.

    One shape serves every row count (cross-validation folds, single rows), and a row's output is the same
    whichever rows share its block or its call: every block takes the same path. numpy, where a block is a
    small problem, the params are the host's and the default device is the CPU (:mod:`jaxnet._host_eval`:
    nothing compiled, the usual case); else one compiled program, where the params are (XLA:CPU chooses
    its matmul blocking from the shapes, so programs of different row counts may round differently in the
    last bit).
    """
    out = []
    for start in range(0, len(x), PREDICT_ROWS):
        block = x[start : start + PREDICT_ROWS]
        padded = np.concatenate([block, np.zeros((PREDICT_ROWS - len(block), *x.shape[1:]), x.dtype)])
        y_hat = host_eval.run(_forward, params, padded, activation=activation, head=head)
        out.append(np.asarray(y_hat, np.float64)[: len(block)])
    return np.concatenate(out)


def _check_mesh(mesh: Any, device: Any) -> None:
    """``mesh``: None or a ``jax.sharding.Mesh`` with a ``"data"`` axis (:func:`jaxnet.data_parallel_mesh`)."""
    if mesh is None:
        return
    if not isinstance(mesh, jax.sharding.Mesh) or "data" not in mesh.axis_names:
        raise TypeError(f"mesh: expected None or a jax.sharding.Mesh with a 'data' axis, got {mesh!r}")
    if device is not None:
        raise ValueError(f"mesh: give a mesh (its devices) or one device, not both; got device={device!r} too")


def _split_evenly(mesh: Any, x: np.ndarray, t: np.ndarray, w: Any, batch: int | None) -> tuple:
    """The training rows for ``fit(..., mesh=mesh)``, whose batch must split evenly over the ``"data"`` devices.

    Full batch (``batch`` None): zero rows of weight 0 appended up to a multiple of the device count (a row of weight 0
    changes neither the loss nor the gradient). Minibatches: the rows are drawn as they are, so
    ``batch`` and the row count must already be multiples (a ValueError naming ``batch_size`` or ``X``).
    """
    d, n = int(mesh.shape["data"]), len(x)
    if batch is None:
        extra = -n % d
        w = np.ones(n, np.float32) if w is None else w
        grow = lambda a: np.concatenate([a, np.zeros((extra, *a.shape[1:]), a.dtype)])  # noqa: E731
        return grow(x), grow(t), grow(w)
    if batch % d:
        raise ValueError(
            f"batch_size: {batch} rows per minibatch do not split evenly over the mesh's {d} 'data' devices; "
            f"use a multiple of {d}"
        )
    if n % d:
        raise ValueError(
            f"X: {n} training rows do not split evenly over the mesh's {d} 'data' devices (minibatches draw "
            f"every row); pass a multiple of {d} rows, or train full batch (rows are then padded)"
        )
    return x, t, w


def _check_fitted(est: Any) -> None:
    if not hasattr(est, "params_"):
        try:
            from sklearn.exceptions import NotFittedError
        except ImportError:  # pragma: no cover
            NotFittedError = AttributeError  # noqa: N806
        raise NotFittedError(
            f"This {type(est).__name__} instance is not fitted yet. Call 'fit' with appropriate arguments first."
        )

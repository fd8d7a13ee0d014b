"""The estimators' building blocks: argument checks, the input table (DataFrame columns by name), the
optimizer with runtime learning rate and L2 weight, and row padding (see :mod:`jaxnet.estimators`)."""

from __future__ import annotations

import functools
import warnings
from typing import Any

import jax.numpy as jnp
import numpy as np
import optax

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


def _set_hyperparams(opt_state: Any, learning_rate: float, weight_decay: float) -> Any:
    hp = dict(opt_state.hyperparams)
    for name, value in (("learning_rate", learning_rate), ("weight_decay", weight_decay)):
        hp[name] = jnp.asarray(value, dtype=jnp.asarray(hp[name]).dtype)
    return opt_state._replace(hyperparams=hp)


def _positive(name: str, value: Any, kind: type = float, zero: bool = False) -> Any:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if kind is int:
        ok = ok and float(value) == int(value)
    if not ok or not (value >= 0 if zero else value > 0) or not np.isfinite(value):
        raise ValueError(f"{name}: expected a {'non-negative' if zero else 'positive'} {kind.__name__}, got {value!r}")
    return kind(value)


def _seed(random_state: Any) -> int:
    """An int seed from scikit-learn's ``random_state`` (None: a fresh random one; an int; a RandomState)."""
    if random_state is None:
        return int(np.random.default_rng().integers(2**31 - 1))
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return int(random_state) % (2**31 - 1)
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
    """``X`` as a finite float64 (N, F) array with ``n_features_in_`` features (recorded on ``reset``)."""
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


def _pad_rows(x: np.ndarray) -> np.ndarray:
    """``x`` with zero rows appended up to the next power of two (at least 16): one compiled program per
    size class instead of per row count. Each row's output depends on that row alone."""
    n = max(16, 1 << (len(x) - 1).bit_length())
    return np.concatenate([x, np.zeros((n - len(x), *x.shape[1:]), x.dtype)]) if n > len(x) else x


def _check_fitted(est: Any) -> None:
    if not hasattr(est, "params_"):
        try:
            from sklearn.exceptions import NotFittedError
        except ImportError:  # pragma: no cover
            NotFittedError = AttributeError  # noqa: N806
        raise NotFittedError(
            f"This {type(est).__name__} instance is not fitted yet. Call 'fit' with appropriate arguments first."
        )

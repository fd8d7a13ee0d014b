"""scikit-learn estimators: :class:`MLPClassifier` and :class:`MLPRegressor`, trained by :func:`jaxnet.fit`.

The names and meanings are scikit-learn's (``sklearn.neural_network``), so
swapping the import is enough; what jaxnet adds: any optax optimizer
(``optimizer=``), ``class_weight``, ``compute_dtype``, ``device``, ``mesh``
and input standardisation (``standardize=True``, recorded with the model). The
fitted network, its scaling, classes, feature names and optimizer state go to
one checkpoint with ``est.save(path)`` and come back with :func:`load_model`.

``mesh``: a ``jax.sharding.Mesh`` with a ``"data"`` axis
(:func:`jaxnet.data_parallel_mesh`, possibly over several processes): the
rows are split over its devices (``fit(..., mesh=)``). Full batch, rows of
weight 0 are appended up to a multiple of the device count, which changes
nothing; minibatches need ``batch_size`` and the row count to be multiples
(a ValueError naming ``batch_size`` or ``X`` otherwise). ``sklearn.clone``
shares the mesh (and ``device``); ``pickle`` refuses both (JAX devices cannot
be pickled) and ``save`` does not record them.

Training is epoch-wise as scikit-learn's: an epoch is ``ceil(n / batch_size)``
minibatches, every row once, the last one holding the ``n % batch_size`` left
over (reshuffled each epoch when ``shuffle``; ``batch_size="auto"`` is
``min(200, n)``, and ``n <= 200`` rows train full batch; on a ``mesh``, whose
rows are not padded, ``n // batch_size`` full ones). ``loss_curve_[i]`` is
the mean loss of epoch ``i``'s rows (the data loss, without the L2 term;
for the regressor in units of the scaled target). Training stops after
``n_iter_no_change`` epochs without a loss lower than ``best_loss_ - tol``
(or, with ``early_stopping``, a validation score higher than
``best_validation_score_ + tol``, and then the best epoch's parameters are
kept), or after ``max_iter`` epochs. ``alpha`` is scikit-learn's L2 penalty
``alpha / (2 batch) sum ||W||^2`` on the weights (not the biases), added to the
gradient as ``alpha / batch W`` (also for the last, smaller minibatch, where
scikit-learn divides by its rows). The learning rate and the L2 weight are
runtime values in ``opt_state_`` (``optax.inject_hyperparams``): changing them
does not recompile.

>>> import numpy as np, jaxnet
>>> x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 8)
>>> y = np.array(["no", "yes", "yes", "yes"] * 8)
>>> clf = jaxnet.MLPClassifier((8,), learning_rate_init=0.05, max_iter=100, random_state=0).fit(x, y)
>>> clf.predict(x[:4]).tolist(), clf.classes_.tolist()
(['no', 'yes', 'yes', 'yes'], ['no', 'yes'])
"""

from __future__ import annotations

import os
import warnings
from typing import Any, cast

import numpy as np

from jaxnet import _estimator_train as train
from jaxnet import tabular
from jaxnet._checks import count, number
from jaxnet._estimator_parts import (
    _block_outputs,
    _check_fitted,
    _check_mesh,
    _factory,
    _inputs,
    _positive,
    _seed,
    as_value_error,
)
from jaxnet.network import activation_named

__all__ = ["MLPClassifier", "MLPRegressor", "load_model"]

try:  # scikit-learn is optional: without it the estimators keep working (no Pipeline, no GridSearchCV)
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import DataConversionWarning
except ImportError:  # pragma: no cover - exercised in a subprocess test
    from jaxnet._estimator_base import (
        BaseEstimator,
        ClassifierMixin,
        DataConversionWarning,
        RegressorMixin,
    )


class _MLP(BaseEstimator):
    """What the classifier and the regressor share: arguments, the epoch loop, prediction and saving."""

    _kind = ""

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        alpha: float = 1e-4,
        batch_size: Any = "auto",
        learning_rate_init: float = 1e-3,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        optimizer: Any = "adam",
        compute_dtype: Any = None,
        device: Any = None,
        standardize: bool = True,
        mesh: Any = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.optimizer = optimizer
        self.compute_dtype = compute_dtype
        self.device = device
        self.standardize = standardize
        self.mesh = mesh

    # ------------------------------------------------------------ checks
    def _hidden(self) -> tuple[int, ...]:
        h = self.hidden_layer_sizes
        sizes = (h,) if isinstance(h, (int, np.integer)) else h
        try:
            sizes = tuple(sizes)
        except TypeError:
            sizes = (None,)
        return tuple(as_value_error(count, "hidden_layer_sizes", s) for s in sizes)

    def _check_params(self) -> None:
        activation_named(self.activation)
        _positive("learning_rate_init", self.learning_rate_init)
        _positive("alpha", self.alpha, zero=True)
        _positive("max_iter", self.max_iter, int)
        _positive("n_iter_no_change", self.n_iter_no_change, int)
        _positive("tol", self.tol, zero=True)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            _positive("batch_size", self.batch_size, int)
        as_value_error(
            number, "validation_fraction", self.validation_fraction, low=0, high=1, low_open=True, high_open=True
        )
        _factory(self.optimizer)
        _check_mesh(self.mesh, self.device)

    # ------------------------------------------------------------ training
    def _fit(self, X: Any, y: Any, *, incremental: bool, classes: Any = None) -> Any:
        self._check_params()
        reset = not ((incremental or self.warm_start) and hasattr(self, "params_"))
        if y is None:
            raise ValueError(f"y: {type(self).__name__} requires y to be passed, but the target y is None")
        x = _inputs(self, X, reset)
        y = self._column_vector(np.asarray(y))
        if y.shape[:1] != x.shape[:1]:
            raise ValueError(f"y: expected {x.shape[0]} labels (one per row of X), got shape {y.shape}")
        if reset:
            self._tabular = self._fit_tabular(x, y, classes)
            self._seed = _seed(self.random_state)
        targets, weight = self._targets(y)
        tab = self._tabular
        xs = tab.inputs(x, np.float32)
        validation = None
        if self.early_stopping and not incremental:
            xs, xv, targets, yv, weight = train.hold_out(self, xs, targets, weight, y)
            validation = (xv, yv)
        if reset:
            train.start(self, xs.shape[1], tab.n_outputs)
        epochs = 1 if incremental else int(self.max_iter)
        train.epochs(self, xs, targets, weight, epochs, validation, incremental)
        return self

    def _column_vector(self, y: np.ndarray) -> np.ndarray:
        return y

    # ------------------------------------------------------------ prediction
    def _outputs(self, X: Any) -> np.ndarray:
        """The network's outputs (N, k) on ``X``, in blocks of one shape (:func:`_block_outputs`: numpy, or
        one program)."""
        _check_fitted(self)
        x = self._tabular.inputs(_inputs(self, X, reset=False), np.float32)
        activation, head = cast(Any, self.activation), self._tabular.head
        out = _block_outputs(self.params_, x, activation, head)
        if not np.isfinite(out).all():  # X and the params are finite: the arithmetic overflowed
            raise ValueError(
                f"X: the network's outputs overflow for {int((~np.isfinite(out)).any(axis=1).sum())} row(s); "
                f"the largest input is {float(np.max(np.abs(x))):.3g} after scaling"
            )
        return out

    # ------------------------------------------------------------ saving
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model to ``path`` (safetensors with a SHA-256; see :func:`load_model`).

        The main tensors are the network as the CLI and :func:`jaxnet.load` use it (for the regressor,
        outputs in the target's units); the optimizer state and the training-scale output layer are extra
        tensors; scaling, classes, feature names and the arguments are metadata.
        """
        _check_fitted(self)
        from jaxnet import _estimator_io

        _estimator_io.save(self, path)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "params_")

    def __getstate__(self) -> Any:
        """pickle's state; a ``device`` or ``mesh`` (JAX devices cannot be pickled) is refused by name."""
        for name in ("device", "mesh"):
            if getattr(self, name, None) is not None:
                raise TypeError(
                    f"{name}: a pickled estimator cannot hold JAX devices (got {getattr(self, name)!r}); "
                    f"set_params({name}=None) before pickling, or save it with est.save(path)"
                )
        return super().__getstate__()

    def __sklearn_clone__(self) -> Any:
        """scikit-learn's ``clone``, with ``device`` and ``mesh`` shared rather than deep-copied (a
        ``jax.Device`` cannot be copied; the clone runs on the same devices)."""
        from sklearn.base import clone

        params = self.get_params(deep=False)
        shared = {k: params.pop(k) for k in ("device", "mesh")}
        return type(self)(**{k: clone(v, safe=False) for k, v in params.items()}, **shared)


class MLPClassifier(ClassifierMixin, _MLP):
    """A multi-layer perceptron classifier: scikit-learn's ``MLPClassifier`` arguments, trained by jaxnet.

    Labels of any type (``classes_``: the sorted distinct labels); two classes train one sigmoid output,
    more a softmax; a 2-D 0/1 ``y`` is multi-label (one sigmoid per column, ``classes_ = [0, ..., k-1]``).
    ``class_weight``: ``None``, ``"balanced"`` (``n / (k count_c)``) or ``{label: weight}``, applied as
    sample weights. See :mod:`jaxnet.estimators` for training and stopping.
    """

    _kind = "classifier"

    def __init__(self, hidden_layer_sizes: Any = (100,), activation: str = "relu", *, alpha: float = 1e-4,
                 batch_size: Any = "auto", learning_rate_init: float = 1e-3, max_iter: int = 200,
                 shuffle: bool = True, random_state: Any = None, tol: float = 1e-4, verbose: bool = False,
                 warm_start: bool = False, early_stopping: bool = False, validation_fraction: float = 0.1,
                 n_iter_no_change: int = 10, optimizer: Any = "adam", class_weight: Any = None,
                 compute_dtype: Any = None, device: Any = None, standardize: bool = True,
                 mesh: Any = None) -> None:  # fmt: skip
        super().__init__(
            hidden_layer_sizes, activation, alpha=alpha, batch_size=batch_size, learning_rate_init=learning_rate_init,
            max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, early_stopping=early_stopping, validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change, optimizer=optimizer, compute_dtype=compute_dtype, device=device,
            standardize=standardize, mesh=mesh,
        )  # fmt: skip
        self.class_weight = class_weight

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        """Train on ``X`` (N, F) and labels ``y`` (N,) of any type (or a 0/1 (N, k) multi-label matrix)."""
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """One epoch on ``(X, y)``, from the current state; ``classes`` (all labels) is required the first time."""
        if not hasattr(self, "params_") and classes is None:
            raise ValueError("classes: required on the first call to partial_fit (every label y may take)")
        if hasattr(self, "params_") and classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes: {np.unique(classes).tolist()} differ from classes_ {self.classes_.tolist()}")
        return self._fit(X, y, incremental=True, classes=classes)

    def _column_vector(self, y: np.ndarray) -> np.ndarray:
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected. Please change the shape of y to "
                "(n_samples,), for example using ravel().",
                DataConversionWarning,
                stacklevel=4,
            )
            return y[:, 0]
        return y

    def _fit_tabular(self, x: np.ndarray, y: np.ndarray, classes: Any) -> tabular.Tabular:
        mean, std = tabular.fit_scaling(x) if self.standardize else (None, None)
        if y.ndim == 2 and y.shape[1] > 1:
            if not np.isin(y, (0, 1)).all():
                raise ValueError("y: a 2-D y is multi-label and must hold only 0 and 1")
            self.classes_ = np.arange(y.shape[1])
            return tabular.Tabular("sigmoid", y.shape[1], None, mean, std)
        y = y.reshape(len(y))
        if y.dtype.kind == "f" and not np.all(y == np.round(y)):
            raise ValueError("y: Unknown label type: continuous values; a classifier needs class labels")
        self.classes_, _ = tabular.encode_classes(y if classes is None else np.asarray(classes))
        head = "sigmoid" if self.classes_.size == 2 else "softmax"
        return tabular.Tabular(
            head, 1 if self.classes_.size == 2 else int(self.classes_.size), self.classes_, mean, std
        )

    def _targets(self, y: np.ndarray) -> tuple[np.ndarray, Any]:
        tab = self._tabular
        if tab.classes is None:
            return np.asarray(y, np.float32).reshape(len(y), -1), None
        y = y.reshape(len(y))
        index = np.searchsorted(tab.classes, y)
        index = np.clip(index, 0, tab.classes.size - 1)
        unseen = tab.classes[index] != y
        if unseen.any():
            raise ValueError(
                f"y: label(s) {np.unique(y[unseen]).tolist()[:5]} not among classes_ {tab.classes.tolist()}"
            )
        _, targets = tabular.class_targets(index, tab.classes.size)
        return targets, self._weights(index)

    def _weights(self, index: np.ndarray) -> np.ndarray | None:
        cw, classes = self.class_weight, self._tabular.classes
        if cw is None:
            return None
        if isinstance(cw, str) and cw == "balanced":
            counts = np.bincount(index, minlength=classes.size)
            per_class = len(index) / (classes.size * np.maximum(counts, 1))
        elif isinstance(cw, dict):
            per_class = np.array([float(cw.get(c, 1.0)) for c in classes.tolist()])
        else:
            raise ValueError(f"class_weight: expected None, 'balanced' or a dict label -> weight, got {cw!r}")
        return per_class[index].astype(np.float32)

    def predict(self, X: Any) -> np.ndarray:
        """The predicted labels (values of ``classes_``)."""
        return tabular.classes_from_outputs(self._outputs(X), self._tabular.head, self._tabular.classes)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (N, len(classes_)), in the order of ``classes_``."""
        out = self._outputs(X)
        if self._tabular.classes is not None and out.shape[1] == 1:
            return np.hstack([1.0 - out, out])
        return out

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log(predict_proba(X))``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))


class MLPRegressor(RegressorMixin, _MLP):
    """A multi-layer perceptron regressor: scikit-learn's ``MLPRegressor`` arguments, trained by jaxnet.

    The target is scaled to mean 0 and std 1 per column inside (recorded) and the predictions are in its
    own units; a 1-D ``y`` gives 1-D predictions. See :mod:`jaxnet.estimators` for training and stopping.
    """

    _kind = "regressor"

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X: Any, y: Any) -> MLPRegressor:
        """Train on ``X`` (N, F) and targets ``y`` (N,) or (N, k)."""
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X: Any, y: Any) -> MLPRegressor:
        """One epoch on ``(X, y)`` from the current state (the scaling of the first call is kept)."""
        return self._fit(X, y, incremental=True)

    def _fit_tabular(self, x: np.ndarray, y: np.ndarray, classes: Any) -> tabular.Tabular:
        y = self._values(y)
        mean, std = tabular.fit_scaling(x) if self.standardize else (None, None)
        self._one_d = y.ndim == 1
        ym, ys = tabular.fit_scaling(y)
        return tabular.Tabular("identity", ym.size, None, mean, std, ym, ys)

    @staticmethod
    def _values(y: np.ndarray) -> np.ndarray:
        try:
            y = np.asarray(y, np.float64)
        except (TypeError, ValueError) as e:
            raise ValueError(f"y: expected numbers, got {e}") from None
        if not np.isfinite(y).all():
            raise ValueError("y: Input contains NaN or infinity")
        if y.ndim not in (1, 2):
            raise ValueError(f"y: expected shape (N,) or (N, k), got {y.shape}")
        return y

    def _targets(self, y: np.ndarray) -> tuple[np.ndarray, Any]:
        tab = self._tabular
        y = self._values(y).reshape(len(y), -1)
        if y.shape[1] != tab.n_outputs:
            raise ValueError(f"y: expected {tab.n_outputs} target column(s) as in the first fit, got {y.shape[1]}")
        return ((y - tab.y_mean) / tab.y_std).astype(np.float32), None

    def predict(self, X: Any) -> np.ndarray:
        """The predicted values, in the target's units: (N,) for a 1-D training target, else (N, k)."""
        out = self._outputs(X)
        out = self._tabular.targets(out)
        return out[:, 0] if self._one_d else out


def load_model(path: str | os.PathLike) -> MLPClassifier | MLPRegressor:
    """The fitted estimator saved by ``est.save(path)``: ready to predict, score and continue training.

    Refuses (:class:`jaxnet.CheckpointError`) a file that does not record what the estimator needs
    (written by ``jaxnet.save`` or ``jaxnet train``: load those with :func:`jaxnet.load`).
    """
    from jaxnet import _estimator_io

    return _estimator_io.load(path, {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor})

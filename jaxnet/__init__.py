"""jaxnet: a small, exact, fast neural-network library written the JAX way.

Parameters are a plain dict ``{"W1", "b1", ..., "WL", "bL"}`` (``W_l`` is
``(out, in)``); every function is pure. A :class:`Model` (from
:func:`init_model`) carries the params with their :class:`Spec` (activation
and head), so that no call can use another one. See the README for the tour.

>>> import jaxnet
>>> params, x, y = jaxnet.seed_example()
>>> round(float(jaxnet.loss(params, x, y)), 4)
0.6573
"""

from typing import TYPE_CHECKING

from jaxnet import distributed
from jaxnet._validate import validate
from jaxnet._version import __version__
from jaxnet.checkpoints import CheckpointError, CheckpointWarning, load, save
from jaxnet.data import (
    DataError,
    apply_standardize,
    fit_standardize,
    infer_head,
    leaky_columns,
    load_breast_cancer,
    load_csv,
    standardize,
    train_test_split,
)
from jaxnet.fitting import (
    DEFAULT_OPTIMIZER,
    CallbackError,
    DivergenceError,
    DivergenceWarning,
    PeerStopped,
    TrainingInterrupted,
    fit,
)
from jaxnet.gradients import NumericalPrecisionWarning, check_grads, grads, manual_grads, numerical_grads
from jaxnet.losses import bce, loss
from jaxnet.metrics import accuracy, evaluate
from jaxnet.model import (
    forward,
    forward_trace,
    init_mlp,
    init_model,
    layer_sizes,
    predict,
    predict_proba,
    seed_example,
)
from jaxnet.network import ACTIVATIONS, HEADS
from jaxnet.parallel import data_parallel_mesh
from jaxnet.plotting import plot_loss
from jaxnet.spec import Model, Spec
from jaxnet.steps import make_train_step, sgd
from jaxnet.sweeps import sweep

if TYPE_CHECKING:  # imported on first use (below): they may import scikit-learn
    from jaxnet.estimators import MLPClassifier, MLPRegressor, load_model

_LAZY = {"MLPClassifier": "jaxnet.estimators", "MLPRegressor": "jaxnet.estimators", "load_model": "jaxnet.estimators"}


def __getattr__(name: str) -> object:
    """The estimators, imported on first use (they may import scikit-learn; ``import jaxnet`` does not)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jaxnet' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names with the lazy ones (tab completion lists the estimators; nothing is imported)."""
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "__version__",
    "accuracy",
    "ACTIVATIONS",
    "apply_standardize",
    "bce",
    "CallbackError",
    "CheckpointError",
    "CheckpointWarning",
    "data_parallel_mesh",
    "DataError",
    "DEFAULT_OPTIMIZER",
    "distributed",
    "DivergenceError",
    "DivergenceWarning",
    "evaluate",
    "fit",
    "fit_standardize",
    "forward",
    "forward_trace",
    "grads",
    "HEADS",
    "infer_head",
    "init_mlp",
    "init_model",
    "layer_sizes",
    "leaky_columns",
    "load",
    "load_breast_cancer",
    "load_csv",
    "loss",
    "load_model",
    "make_train_step",
    "manual_grads",
    "MLPClassifier",
    "MLPRegressor",
    "Model",
    "numerical_grads",
    "check_grads",
    "NumericalPrecisionWarning",
    "PeerStopped",
    "plot_loss",
    "predict",
    "predict_proba",
    "save",
    "seed_example",
    "sgd",
    "Spec",
    "standardize",
    "sweep",
    "train_test_split",
    "TrainingInterrupted",
    "validate",
]

"""jaxnet: a small, exact, fast neural-network library written the JAX way.

Parameters are a plain dict ``{"W1", "b1", ..., "WL", "bL"}`` (``W_l`` is
``(out, in)``); every function is pure. A :class:`Model` (from
:func:`init_model`) carries the params with their :class:`Spec` (activation
and head), so that no call can use another one. The data helpers live in
:mod:`jaxnet.data` and the pictures in :mod:`jaxnet.plotting`, as optax keeps
``optax.losses`` apart. See the README for the tour.

>>> import jaxnet
>>> params, x, y = jaxnet.seed_example()
>>> round(float(jaxnet.loss(params, x, y)), 4)
0.6573
"""

from typing import TYPE_CHECKING

from jaxnet import data, distributed, plotting
from jaxnet._validate import validate
from jaxnet._version import __version__
from jaxnet.checkpoints import CheckpointError, CheckpointWarning, load, save
from jaxnet.data import DataError
from jaxnet.errors import (
    CallbackError,
    DivergenceError,
    DivergenceWarning,
    PeerStopped,
    TrainingInterrupted,
)
from jaxnet.fitting import fit
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
from jaxnet.spec import Model, Spec
from jaxnet.steps import make_train_step
from jaxnet.sweeps import sweep

if TYPE_CHECKING:  # imported on first use (below): they may import scikit-learn
    from jaxnet.estimators import MLPClassifier, MLPRegressor, load_model

_LAZY = {"MLPClassifier": "jaxnet.estimators", "MLPRegressor": "jaxnet.estimators", "load_model": "jaxnet.estimators"}

# Old spellings kept for one release (issue 19): name -> (module that defines it, the spelling to use instead).
# Each access warns; none is in __all__ or dir(jaxnet), so ``from jaxnet import *`` does not warn.
_MOVED_TO_DATA = (
    "load_csv",
    "load_breast_cancer",
    "train_test_split",
    "standardize",
    "fit_standardize",
    "apply_standardize",
    "infer_head",
    "leaky_columns",
)
_DEPRECATED = {
    **{name: ("jaxnet.data", f"jaxnet.data.{name}") for name in _MOVED_TO_DATA},
    "plot_loss": ("jaxnet.plotting", "jaxnet.plotting.plot_loss"),
    "sgd": ("jaxnet.steps", "optax.sgd(learning_rate) (jaxnet.sgd() is optax.sgd(0.1))"),
    "DEFAULT_OPTIMIZER": ("jaxnet.fitting", "optax.sgd(0.1), or leave fit's optimizer= out"),
}


def __getattr__(name: str) -> object:
    """The estimators, imported on first use (they may import scikit-learn; ``import jaxnet`` does not), and
    the deprecated old spellings, each access with a ``DeprecationWarning`` naming the new one."""
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _DEPRECATED:
        module, instead = _DEPRECATED[name]
        import warnings

        warnings.warn(
            f"jaxnet.{name} is deprecated and will be removed in the next release; use {instead}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'jaxnet' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names with the lazy ones (tab completion lists the estimators; nothing is imported)."""
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "__version__",
    "accuracy",
    "ACTIVATIONS",
    "bce",
    "CallbackError",
    "CheckpointError",
    "CheckpointWarning",
    "data",
    "data_parallel_mesh",
    "DataError",
    "distributed",
    "DivergenceError",
    "DivergenceWarning",
    "evaluate",
    "fit",
    "forward",
    "forward_trace",
    "grads",
    "HEADS",
    "init_mlp",
    "init_model",
    "layer_sizes",
    "load",
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
    "plotting",
    "predict",
    "predict_proba",
    "save",
    "seed_example",
    "Spec",
    "sweep",
    "TrainingInterrupted",
    "validate",
]

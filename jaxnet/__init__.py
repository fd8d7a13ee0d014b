"""jaxnet: a small, exact, fast neural-network library written the JAX way.

Parameters are a plain dict ``{"W1", "b1", ..., "WL", "bL"}`` (``W_l`` is
``(out, in)``); every function is pure. See the README for the tour.

>>> import jaxnet
>>> params, x, y = jaxnet.seed_example()
>>> round(float(jaxnet.loss(params, x, y)), 4)
0.6573
"""

from jaxnet._validate import validate
from jaxnet._version import __version__
from jaxnet.checkpoints import CheckpointError, CheckpointWarning, load, save
from jaxnet.data import DataError, load_breast_cancer, load_csv
from jaxnet.fitting import (
    DEFAULT_OPTIMIZER,
    CallbackError,
    DivergenceError,
    DivergenceWarning,
    TrainingInterrupted,
    fit,
)
from jaxnet.metrics import accuracy, evaluate
from jaxnet.gradients import NumericalPrecisionWarning, grads, manual_grads, numerical_grads
from jaxnet.network import ACTIVATIONS, HEADS
from jaxnet.losses import bce, loss
from jaxnet.model import forward, forward_trace, init_mlp, layer_sizes, predict, predict_proba, seed_example
from jaxnet.parallel import data_parallel_mesh
from jaxnet.sweeps import sweep
from jaxnet.steps import make_train_step, sgd


__all__ = [
    "CheckpointWarning",
    "__version__",
    "CallbackError",
    "TrainingInterrupted",
    "accuracy",
    "evaluate",
    "ACTIVATIONS",
    "HEADS",
    "NumericalPrecisionWarning",
    "predict",
    "predict_proba",
    "CheckpointError",
    "DataError",
    "DEFAULT_OPTIMIZER",
    "DivergenceError",
    "DivergenceWarning",
    "bce",
    "data_parallel_mesh",
    "fit",
    "forward",
    "forward_trace",
    "grads",
    "init_mlp",
    "layer_sizes",
    "load",
    "load_breast_cancer",
    "load_csv",
    "loss",
    "make_train_step",
    "manual_grads",
    "numerical_grads",
    "save",
    "seed_example",
    "sgd",
    "sweep",
    "validate",
]

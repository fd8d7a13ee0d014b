"""A stand-in for scikit-learn's estimator bases when scikit-learn is not installed.

``get_params``/``set_params`` (the ``__init__`` arguments), ``score`` (accuracy,
R²) and a ``ConvergenceWarning``: enough for the estimators and the CLI; no
``Pipeline`` or ``GridSearchCV`` without scikit-learn itself.

>>> class Tiny(BaseEstimator):
...     def __init__(self, alpha=1.0):
...         self.alpha = alpha
>>> Tiny().set_params(alpha=0.5).get_params()
{'alpha': 0.5}
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from jaxnet._checks import refuse


class ConvergenceWarning(UserWarning):
    """Training stopped at ``max_iter`` before the stopping rule was met."""


class DataConversionWarning(UserWarning):
    """The data was converted (e.g. a column-vector y raveled)."""


class BaseEstimator:
    """``get_params``/``set_params`` from the ``__init__`` signature, as scikit-learn's ``BaseEstimator``."""

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values() if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments by name."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Any:
        """Set constructor arguments by name; an unknown name is a ValueError naming it."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise refuse(name, f"an argument of {type(self).__name__}, one of {valid}", "an unknown name")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class ClassifierMixin:
    """``score``: the accuracy of ``predict``."""

    _estimator_type = "classifier"

    def score(self, X: Any, y: Any) -> float:
        """The fraction of rows whose predicted labels equal ``y`` (all of them, for multi-label rows)."""
        pred = np.asarray(self.predict(X))  # type: ignore[attr-defined]
        hits = pred == np.asarray(y).reshape(pred.shape)
        return float(np.mean(hits.reshape(len(hits), -1).all(axis=1)))


class RegressorMixin:
    """``score``: R², averaged over the target columns."""

    _estimator_type = "regressor"

    def score(self, X: Any, y: Any) -> float:
        """``1 - sum (y - y_hat)^2 / sum (y - mean y)^2``, the mean over columns (scikit-learn's ``r2_score``)."""
        pred = np.asarray(self.predict(X), np.float64)  # type: ignore[attr-defined]
        y = np.asarray(y, np.float64).reshape(pred.shape)
        y2, p2 = y.reshape(len(y), -1), pred.reshape(len(pred), -1)
        ss_res = ((y2 - p2) ** 2).sum(axis=0)
        ss_tot = ((y2 - y2.mean(axis=0)) ** 2).sum(axis=0)
        return float(np.mean(1.0 - ss_res / ss_tot))

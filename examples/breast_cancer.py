"""A 30-16-16-1 jaxnet classifier on the Breast Cancer Wisconsin data.

Standardised features (mean/std of the training part only), a stratified
80/20 split, full-batch gradient descent with ``jaxnet.fit``; prints test
accuracy and ROC AUC beside scikit-learn's ``MLPClassifier((16, 16))`` on the
same split when scikit-learn is installed, and, when matplotlib is, saves the
loss curve to ``breast_cancer_loss.png`` (``--plot PATH`` elsewhere,
``--no-plot`` not at all).

    python examples/breast_cancer.py [--seed 0] [--steps 300] [--plot loss.png | --no-plot]

The data ship with jaxnet (``jaxnet.data.load_breast_cancer``; y = 1 is benign).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxnet
from jaxnet import data

sys.path.insert(0, str(Path(__file__).resolve().parent))  # examples/_common.py: the examples' shared options
from _common import example_parser, save_loss_plot  # noqa: E402


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve by ranks (Mann-Whitney U), ties averaged.

    >>> roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.75
    """
    y_true = np.asarray(y_true).ravel() >= 0.5
    score = np.asarray(score, dtype=np.float64).ravel()
    n_pos, n_neg = int(y_true.sum()), int((~y_true).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"y_true: expected both classes, got {n_pos} positive and {n_neg} negative")
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(score.size, dtype=np.float64)
    ranks[order] = np.arange(1, score.size + 1)
    values, inverse = np.unique(score, return_inverse=True)  # average the ranks of tied scores
    ranks = (np.bincount(inverse, ranks) / np.bincount(inverse))[inverse]
    return float((ranks[y_true].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def accuracy(y_true: np.ndarray, prob: np.ndarray) -> float:
    """Fraction of ``prob >= 0.5`` that match ``y_true``."""
    return float(np.mean((np.asarray(prob).ravel() >= 0.5) == (np.asarray(y_true).ravel() >= 0.5)))


def sklearn_baseline(x_tr, y_tr, x_te, seed: int) -> np.ndarray | None:
    """Test probabilities of ``MLPClassifier(hidden_layer_sizes=(16, 16))``, or None without sklearn."""
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return None
    clf = MLPClassifier(hidden_layer_sizes=(16, 16), max_iter=2000, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_tr, y_tr.astype(int))
    return clf.predict_proba(x_te)[:, 1]


def main(argv: Sequence[str] | None = None) -> dict:
    """Train, print the comparison, return the metrics as a dict."""
    parser = example_parser(__doc__, steps=300, lr=0.1, plot="breast_cancer_loss.png")
    args = parser.parse_args(argv)

    x, y, names = data.load_breast_cancer()
    x_tr, x_te, y_tr, y_te = data.train_test_split(x, y, test_fraction=0.2, seed=args.seed, stratify=True)
    x_tr, x_te = data.standardize(x_tr, x_te)
    f32 = jnp.float32
    params = jaxnet.init_mlp(jax.random.key(args.seed), (x.shape[1], 16, 16, 1), dtype=f32)
    train = (jnp.asarray(x_tr, f32), jnp.asarray(y_tr[:, None], f32))
    test = (jnp.asarray(x_te, f32), jnp.asarray(y_te[:, None], f32))
    # full-batch gradient descent; the test loss is recorded (for the plot) every steps/25 steps
    params, _, history = jaxnet.fit(
        params,
        *train,
        optimizer=optax.sgd(args.lr),
        steps=args.steps,
        progress=args.progress,
        validation=test,
        chunk=max(1, args.steps // 25),
    )
    prob_tr = np.asarray(jaxnet.forward(params, train[0]))
    prob_te = np.asarray(jaxnet.forward(params, test[0]))
    metrics = {
        "train_accuracy": accuracy(y_tr, prob_tr),
        "test_accuracy": accuracy(y_te, prob_te),
        "test_auc": roc_auc(y_te, prob_te),
        "final_loss": float(history["loss"][-1]),
        "sklearn_accuracy": None,
        "sklearn_auc": None,
    }
    print(
        f"breast cancer: {len(x)} samples, {x.shape[1]} features; "
        f"{len(x_tr)} train / {len(x_te)} test (stratified, seed {args.seed})"
    )
    print(f"{'':28s}{'test accuracy':>14s}{'ROC AUC':>10s}")
    print(f"{'jaxnet 30-16-16-1, sgd':28s}{metrics['test_accuracy']:14.4f}{metrics['test_auc']:10.4f}")
    prob_sk = None if args.no_sklearn else sklearn_baseline(x_tr, y_tr, x_te, args.seed)
    if prob_sk is None:
        print(
            "(scikit-learn comparison skipped: "
            + ("--no-sklearn)" if args.no_sklearn else "scikit-learn is not installed)")
        )
    else:
        metrics["sklearn_accuracy"], metrics["sklearn_auc"] = accuracy(y_te, prob_sk), roc_auc(y_te, prob_sk)
        print(f"{'sklearn MLPClassifier(16,16)':28s}{metrics['sklearn_accuracy']:14.4f}{metrics['sklearn_auc']:10.4f}")
    if args.plot:
        save_loss_plot(history, args.plot, title="breast cancer, 30-16-16-1, full-batch SGD", val_label="test loss")
    return metrics


if __name__ == "__main__":
    main()

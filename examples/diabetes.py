"""A 10-32-1 regression net on scikit-learn's diabetes data, beside ``MLPRegressor``.

scikit-learn's ``load_diabetes``: 442 patients, 10 (already scaled) features,
the target a measure of disease progression one year later (25..346). A
random 80/20 split (``jaxnet.data.train_test_split(stratify=False)``); features
*and target* standardised with the training part's mean and std, so the
network's output and its loss are in units of the target's spread. The net has
``head="identity"`` (linear output, half mean squared error). Predictions are
mapped back (``y = mean + std * output``) and scored in the target's own
units; R² is the same in either unit. Training is full-batch Adam
(``optax.adam(3e-3)``, 200 steps). Prints test R², RMSE and training time beside
``MLPRegressor(hidden_layer_sizes=(32,))`` (its defaults: Adam 1e-3, batch 200,
200 epochs) trained on the same split and the same standardised data; jaxnet's
time includes compiling the training loop (a first ``fit`` in the process).
Saves the loss curve to ``diabetes_loss.png`` when matplotlib is installed
(``--plot PATH`` elsewhere, ``--no-plot`` not at all).

    python examples/diabetes.py [--seed 0] [--steps 200] [--hidden 32] [--no-sklearn] [--plot PATH | --no-plot]

Needs scikit-learn for the data (``pip install -e ".[examples]"``).
"""

from __future__ import annotations

import sys
import time
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

HEAD = "identity"


def r2_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """``1 - sum (y - y_hat)^2 / sum (y - mean y)^2`` (1 is perfect, 0 is predicting the mean).

    >>> r2_score(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
    0.5
    """
    y_true = np.asarray(y_true, np.float64).ravel()
    y_pred = np.asarray(y_pred, np.float64).ravel()
    return float(1.0 - np.sum((y_true - y_pred) ** 2) / np.sum((y_true - y_true.mean()) ** 2))


def load_diabetes_split(seed: int) -> dict:
    """The split: ``x_train, x_test`` standardised, ``y_train, y_test`` in the target's units, and its ``mean, std``."""
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    x_tr, x_te, y_tr, y_te = data.train_test_split(x, y, test_fraction=0.2, seed=seed, stratify=False)
    x_tr, x_te = data.standardize(x_tr, x_te)
    mean, std = data.fit_standardize(y_tr[:, None])
    return {
        "x_train": x_tr,
        "x_test": x_te,
        "y_train": y_tr,
        "y_test": y_te,
        "mean": float(mean[0]),
        "std": float(std[0]),
    }


def sklearn_baseline(split: dict, hidden: tuple[int, ...], seed: int) -> tuple[np.ndarray, float]:
    """``(test predictions in the target's units, training seconds)`` of ``MLPRegressor(hidden_layer_sizes=hidden)``."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    reg = MLPRegressor(hidden_layer_sizes=hidden, random_state=seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # its default 200 epochs stop before its tolerance
        reg.fit(split["x_train"], (split["y_train"] - split["mean"]) / split["std"])
    seconds = time.perf_counter() - start
    return reg.predict(split["x_test"]) * split["std"] + split["mean"], seconds


def main(argv: Sequence[str] | None = None) -> dict:
    """Train, print the comparison, return the metrics as a dict (``sklearn_*`` are None with ``--no-sklearn``)."""
    parser = example_parser(__doc__, steps=200, lr=3e-3, plot="diabetes_loss.png", hidden=(32,))
    args = parser.parse_args(argv)

    split = load_diabetes_split(args.seed)
    mean, std = split["mean"], split["std"]
    f32 = jnp.float32
    sizes = (split["x_train"].shape[1], *args.hidden, 1)
    init = jaxnet.init_mlp(jax.random.key(args.seed), sizes, dtype=f32)
    xtr, xte = jnp.asarray(split["x_train"], f32), jnp.asarray(split["x_test"], f32)
    ytr = jnp.asarray((split["y_train"] - mean) / std, f32)[:, None]
    optimizer = optax.adam(args.lr)

    def train() -> tuple[tuple, float]:  # (fit's result, seconds)
        start = time.perf_counter()
        out = jaxnet.fit(init, xtr, ytr, steps=args.steps, optimizer=optimizer, head=HEAD, progress=args.progress)
        jax.block_until_ready(out[0])
        return out, time.perf_counter() - start

    (params, _, history), seconds = train()  # the first fit in this process compiles the training loop
    _, seconds_warm = train()  # the same fit again: compiled once per (shapes, optimizer object), so no compiling

    def predict(x: jax.Array) -> np.ndarray:  # in the target's units
        return np.asarray(jaxnet.predict(params, x, head=HEAD), np.float64).ravel() * std + mean

    pred_te = predict(xte)
    y_te = split["y_test"]
    name = "-".join(map(str, sizes))
    metrics = {
        "train_r2": r2_score(split["y_train"], predict(xtr)),
        "test_r2": r2_score(y_te, pred_te),
        "test_rmse": float(np.sqrt(np.mean((pred_te - y_te) ** 2))),
        "final_loss": float(history["loss"][-1]),
        "seconds": seconds,
        "seconds_warm": seconds_warm,
        "sklearn_r2": None,
        "sklearn_rmse": None,
        "sklearn_seconds": None,
    }
    print(
        f"diabetes: {len(split['x_train']) + len(y_te)} samples, {sizes[0]} features; "
        f"{len(split['x_train'])} train / {len(y_te)} test (seed {args.seed}); target mean {mean:.1f}, std {std:.1f}"
    )
    print(f"{'':36s}{'test R²':>9s}{'RMSE':>8s}{'train time':>12s}")
    print(
        f"{f'jaxnet {name}, identity, adam':36s}{metrics['test_r2']:9.4f}{metrics['test_rmse']:8.2f}{seconds:11.2f}s"
        f"  (once compiled: {seconds_warm:.2f}s)"
    )
    if args.no_sklearn:
        print("(scikit-learn comparison skipped: --no-sklearn)")
    else:
        pred_sk, sk_seconds = sklearn_baseline(split, tuple(args.hidden), args.seed)
        metrics["sklearn_r2"] = r2_score(y_te, pred_sk)
        metrics["sklearn_rmse"] = float(np.sqrt(np.mean((pred_sk - y_te) ** 2)))
        metrics["sklearn_seconds"] = sk_seconds
        label = f"sklearn MLPRegressor({','.join(map(str, args.hidden))})"
        print(f"{label:36s}{metrics['sklearn_r2']:9.4f}{metrics['sklearn_rmse']:8.2f}{sk_seconds:11.2f}s")
    if args.plot:
        save_loss_plot(
            history,
            args.plot,
            title=f"diabetes, {name}, full-batch Adam",
            ylabel="half mean squared error (standardised target)",
        )
    return metrics


if __name__ == "__main__":
    main()

"""A 64-64-10 softmax classifier on scikit-learn's handwritten digits, beside ``MLPClassifier``.

scikit-learn's ``load_digits``: 1797 images of 8x8 pixels (64 features, 0..16),
10 classes. A stratified 80/20 split (``jaxnet.data.train_test_split``),
features standardised with the training part's mean and std
(``jaxnet.data.standardize``), integer class labels and ``head="softmax"``
(softmax + categorical cross-entropy). Training is full-batch AdamW
(``optax.adamw(3e-3, weight_decay=1e-2)``, 500 steps): the weight decay plays
the part of ``MLPClassifier``'s L2 penalty (``alpha=1e-4``). Prints test
accuracy and training time beside ``MLPClassifier(hidden_layer_sizes=(64,))``
on the same split and features; jaxnet's time includes compiling the training
loop (a first ``fit`` in the process). Saves the loss curve to
``digits_loss.png`` when matplotlib is installed (``--plot PATH`` elsewhere,
``--no-plot`` not at all).

    python examples/digits.py [--seed 0] [--steps 500] [--hidden 64] [--no-sklearn] [--plot PATH | --no-plot]

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

HEAD = "softmax"


def load_digits_split(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, x_test, y_train, y_test)``: stratified 80/20, standardised with the training part's statistics."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = data.train_test_split(x, y, test_fraction=0.2, seed=seed, stratify=True)
    x_tr, x_te = data.standardize(x_tr, x_te)
    return x_tr, x_te, y_tr.astype(np.int32), y_te.astype(np.int32)


def accuracy(params: dict, x: jax.Array, y: np.ndarray) -> float:
    """Fraction of ``argmax`` predictions equal to the integer labels ``y`` (N,)."""
    if hasattr(jaxnet, "accuracy"):
        return float(jaxnet.accuracy(params, x, y, head=HEAD))
    return float(np.mean(np.asarray(jaxnet.predict(params, x, head=HEAD)).ravel() == np.asarray(y).ravel()))


def sklearn_baseline(x_tr, y_tr, x_te, y_te, hidden: tuple[int, ...], seed: int) -> tuple[float, float]:
    """``(test accuracy, training seconds)`` of ``MLPClassifier(hidden_layer_sizes=hidden)`` (Adam, 1e-3, batch 200)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=hidden, max_iter=500, random_state=seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_tr, y_tr)
    seconds = time.perf_counter() - start
    return float(clf.score(x_te, y_te)), seconds


def main(argv: Sequence[str] | None = None) -> dict:
    """Train, print the comparison, return the metrics as a dict (``sklearn_*`` are None with ``--no-sklearn``)."""
    parser = example_parser(__doc__, steps=500, lr=3e-3, plot="digits_loss.png", hidden=(64,))
    parser.add_argument("--weight-decay", type=float, default=1e-2)
    args = parser.parse_args(argv)

    x_tr, x_te, y_tr, y_te = load_digits_split(args.seed)
    f32 = jnp.float32
    sizes = (x_tr.shape[1], *args.hidden, 10)
    init = jaxnet.init_mlp(jax.random.key(args.seed), sizes, dtype=f32)
    xtr, xte = jnp.asarray(x_tr, f32), jnp.asarray(x_te, f32)
    optimizer = optax.adamw(args.lr, weight_decay=args.weight_decay)

    def train() -> tuple[tuple, float]:  # (fit's result, seconds)
        start = time.perf_counter()
        out = jaxnet.fit(init, xtr, y_tr, steps=args.steps, optimizer=optimizer, head=HEAD, progress=args.progress)
        jax.block_until_ready(out[0])
        return out, time.perf_counter() - start

    (params, _, history), seconds = train()  # the first fit in this process compiles the training loop
    _, seconds_warm = train()  # the same fit again: compiled once per (shapes, optimizer object), so no compiling
    name = "-".join(map(str, sizes))
    metrics = {
        "train_accuracy": accuracy(params, xtr, y_tr),
        "test_accuracy": accuracy(params, xte, y_te),
        "final_loss": float(history["loss"][-1]),
        "seconds": seconds,
        "seconds_warm": seconds_warm,
        "sklearn_accuracy": None,
        "sklearn_seconds": None,
    }
    print(
        f"digits: {len(x_tr) + len(x_te)} samples, {x_tr.shape[1]} features, 10 classes; "
        f"{len(x_tr)} train / {len(x_te)} test (stratified, seed {args.seed})"
    )
    print(f"{'':36s}{'test accuracy':>14s}{'train time':>12s}")
    print(
        f"{f'jaxnet {name}, softmax, adamw':36s}{metrics['test_accuracy']:14.4f}{seconds:11.2f}s"
        f"  (once compiled: {seconds_warm:.2f}s)"
    )
    if args.no_sklearn:
        print("(scikit-learn comparison skipped: --no-sklearn)")
    else:
        acc, sk_seconds = sklearn_baseline(x_tr, y_tr, x_te, y_te, tuple(args.hidden), args.seed)
        metrics["sklearn_accuracy"], metrics["sklearn_seconds"] = acc, sk_seconds
        label = f"sklearn MLPClassifier({','.join(map(str, args.hidden))})"
        print(f"{label:36s}{acc:14.4f}{sk_seconds:11.2f}s")
    if args.plot:
        save_loss_plot(history, args.plot, title=f"digits, {name}, full-batch AdamW", ylabel="cross-entropy")
    return metrics


if __name__ == "__main__":
    main()

"""Early stopping on a validation set: train until the validation loss stops improving, keep the best weights.

The Breast Cancer Wisconsin data shipped with jaxnet (569 samples, 30
features): a stratified 60/20/20 train/validation/test split, features
standardised with the training part's statistics. A deliberately large
30-64-64-1 net trained with minibatch Adam will overfit 455 examples: its
training loss keeps falling while its validation loss turns up.
``jaxnet.fit(..., validation=(x_val, y_val), eval_every=E, early_stopping=P)``
evaluates the validation loss every ``E`` steps, stops after ``P``
evaluations without improvement and returns the parameters of the best one
(``history["best_step"]``). The test set is touched once, at the end.

Saves the training curve (faint raw minibatch losses under their moving
average, an epoch axis), the validation points and the restored best step to
``early_stopping.png`` (``--plot PATH`` elsewhere; needs matplotlib).

    python examples/early_stopping.py [--seed 0] [--max-steps 5000] [--eval-every 20] [--patience 10] [--plot PATH]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxnet
from jaxnet import data


def three_way_split(seed: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """``(train, validation, test)`` pairs ``(x float32 (N, 30), y float32 (N, 1))``: 60/20/20, stratified, standardised."""
    x, y, _ = data.load_breast_cancer()
    x_rest, x_te, y_rest, y_te = data.train_test_split(x, y, test_fraction=0.2, seed=seed, stratify=True)
    x_tr, x_va, y_tr, y_va = data.train_test_split(x_rest, y_rest, test_fraction=0.25, seed=seed, stratify=True)
    mean, std = data.fit_standardize(x_tr)
    return tuple(
        (np.asarray(data.apply_standardize(a, mean, std), np.float32), np.asarray(b[:, None], np.float32))
        for a, b in ((x_tr, y_tr), (x_va, y_va), (x_te, y_te))
    )


def accuracy(params: dict, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of ``predict`` (threshold 0.5) equal to the 0/1 labels."""
    if hasattr(jaxnet, "accuracy"):
        return float(jaxnet.accuracy(params, x, y))
    return float(np.mean(np.asarray(jaxnet.predict(params, x)).ravel() == np.asarray(y).ravel()))


def main(argv: Sequence[str] | None = None) -> dict:
    """Train with early stopping, print where it stopped and the restored step, return the metrics as a dict."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--eval-every", type=int, default=20, help="steps between validation evaluations")
    parser.add_argument("--patience", type=int, default=10, help="evaluations without improvement before stopping")
    parser.add_argument(
        "--plot",
        metavar="PATH",
        default="early_stopping.png",
        help="where to save the curves when matplotlib is installed (default %(default)s)",
    )
    parser.add_argument("--no-plot", dest="plot", action="store_const", const=None, help="do not save the curves")
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    args = parser.parse_args(argv)

    train, val, test = three_way_split(args.seed)
    params = jaxnet.init_mlp(jax.random.key(args.seed), (train[0].shape[1], 64, 64, 1), dtype=jnp.float32)
    params, _, history = jaxnet.fit(
        params,
        *train,
        steps=args.max_steps,
        optimizer=optax.adam(args.lr),
        batch_size=args.batch_size,
        key=jax.random.key(args.seed + 1),
        validation=val,
        eval_every=args.eval_every,
        early_stopping=args.patience,
        record_every=1,
        progress=args.progress,  # every minibatch loss, for the plot
    )
    val_loss = np.asarray(history["val_loss"])
    val_step = np.asarray(history["val_step"])
    best = int(np.argmin(val_loss))
    metrics = {
        "stopped": history["stopped"],
        "steps_done": int(history["steps_done"]),
        "best_step": history["best_step"],
        "best_val_loss": float(val_loss[best]),
        "restored_val_loss": float(jaxnet.loss(params, *val)),  # the returned parameters are the best ones
        "last_val_loss": float(val_loss[-1]),
        "train_accuracy": accuracy(params, *train),
        "val_accuracy": accuracy(params, *val),
        "test_accuracy": accuracy(params, *test),
        "plot": None,
        "history": history,
    }
    print(
        f"breast cancer: {len(train[0])} train / {len(val[0])} validation / {len(test[0])} test (stratified, "
        f"seed {args.seed}); 30-64-64-1, Adam {args.lr:g}, batch {args.batch_size}"
    )
    print(
        f"validation loss every {args.eval_every} steps; stopped: {metrics['stopped']} after "
        f"{metrics['steps_done']} of {args.max_steps} steps"
    )
    print(
        f"best validation loss {metrics['best_val_loss']:.4f} at step {val_step[best]} (last {metrics['last_val_loss']:.4f}); "
        f"restored step {metrics['best_step']}, whose validation loss recomputed is {metrics['restored_val_loss']:.4f}"
    )
    print(
        f"accuracy: train {metrics['train_accuracy']:.4f}, validation {metrics['val_accuracy']:.4f}, "
        f"test {metrics['test_accuracy']:.4f}"
    )
    if args.plot:
        try:
            from jaxnet.plotting import plot_loss

            plot_loss(
                history,
                args.plot,
                steps_per_epoch=len(train[0]) // args.batch_size,
                title="breast cancer, 30-64-64-1: early stopping on the validation loss",
                ylabel="binary cross-entropy",
                best_step=metrics["best_step"],
                best_label="restored best step",
            )
            metrics["plot"] = args.plot
            print(f"saved the curves to {args.plot}")
        except ImportError:
            print("(plot skipped: matplotlib is not installed)")
    return metrics


if __name__ == "__main__":
    main()

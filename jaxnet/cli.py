"""The ``jaxnet`` command: walkthrough, train, predict, check.

Every command prints a one-line ``jaxnet: error: …`` and exits with code 2
for bad arguments, bad data files or unreadable checkpoints (never a
traceback); ``check`` exits with 1 when the gradients disagree.

>>> main(["--version"])  # doctest: +SKIP
jaxnet 0.1.0
0
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import warnings
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxnet
from jaxnet import checkpoints, data
from jaxnet.cache import enable_compilation_cache

__all__ = ["main"]

_CACHE_HELP = """\
compilation cache:
  jaxnet keeps JAX's persistent compilation cache on by default, so a second
  run with the same shapes skips XLA compilation. The folder is --cache-dir,
  else $JAXNET_CACHE_DIR, else $XDG_CACHE_HOME/jaxnet/xla (~/.cache/jaxnet/xla
  when XDG_CACHE_HOME is unset). --no-cache turns it off. It is safe to delete.
"""


class _UsageError(Exception):
    """A bad command line; reported as one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print usage and exit
        raise _UsageError(f"{message} (see '{self.prog} --help')")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``jaxnet …``; return the exit code.

    >>> main(["check", "--nets", "1", "--no-cache"])  # doctest: +SKIP
    0
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as e:
        return _fail(str(e))
    except SystemExit as e:  # --help, --version
        return e.code if isinstance(e.code, int) else 0
    try:
        _setup_cache(args)
        return args.run(args)
    except (_UsageError, data.DataError, checkpoints.CheckpointError, ValueError, TypeError, OSError, ImportError) as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        print("jaxnet: interrupted", file=sys.stderr)
        return 130


def _fail(message: str) -> int:
    line = " ".join(message.split())  # one line, whatever the exception said
    print(f"jaxnet: error: {line}", file=sys.stderr)
    return 2


def _wrap(text: str) -> str:
    return textwrap.fill(text, 78)


def _build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(prog="jaxnet", description="jaxnet: a small, exact neural-network library in JAX.",
                     epilog=_CACHE_HELP, formatter_class=fmt)
    parser.add_argument("--version", action="version", version=f"jaxnet {jaxnet.__version__}")
    common = _Parser(add_help=False)
    common.add_argument("--cache-dir", metavar="DIR", help="persistent compilation cache folder (see below)")
    common.add_argument("--no-cache", action="store_true", help="do not use the persistent compilation cache")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    def command(name: str, run: Any, summary: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], formatter_class=fmt, epilog=_CACHE_HELP, help=summary,
                           description=_wrap(description))
        p.set_defaults(run=run)
        return p

    p = command("walkthrough", _walkthrough, "the worked 2-3-1 example, every number checked against the notebook",
                "Print the worked example: forward pass, loss, gradients, one SGD step.")
    p.add_argument("--plot", metavar="PNG", help="also draw the network, weights before → after and gradients")

    p = command("train", _train, "train a classifier on a CSV file or the shipped breast-cancer data",
                "Standardise the features, split train/test (stratified), train with jaxnet.fit, print accuracy "
                "and loss, save a checkpoint (with the standardisation and the feature names).")
    p.add_argument("--data", required=True, metavar="breast_cancer|PATH.csv",
                   help="'breast_cancer' (shipped) or a CSV with a header, feature columns and a 0/1 label column")
    p.add_argument("--label", metavar="NAME", help="label column of the CSV (default: the last column)")
    p.add_argument("--hidden", default="16,16", metavar="N,N,…", help="hidden layer widths (default 16,16; '' for none)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd", help="optimizer (default sgd)")
    p.add_argument("--lr", type=float, default=0.1, help="learning rate (default 0.1)")
    p.add_argument("--steps", type=int, default=500, help="training steps (default 500)")
    p.add_argument("--batch-size", type=int, metavar="B", help="minibatch size (default: the full training set)")
    p.add_argument("--test-fraction", type=float, default=0.2, help="fraction held out for testing (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="seed for the split, the initialisation and the batches")
    p.add_argument("--out", default="model.safetensors", metavar="PATH", help="checkpoint to write (default model.safetensors)")
    p.add_argument("--plot", metavar="PNG", help="save the loss curve")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = command("predict", _predict, "probabilities from a checkpoint for the rows of a CSV",
                "Print one probability per CSV row (or write them to --out), using the checkpoint's feature "
                "columns and standardisation.")
    p.add_argument("checkpoint", help="a checkpoint written by 'jaxnet train'")
    p.add_argument("--data", required=True, metavar="PATH.csv", help="CSV with (at least) the model's feature columns")
    p.add_argument("--out", metavar="PATH.csv", help="write a CSV with a 'probability' column instead of printing")

    p = command("check", _check, "three-way gradient check (autodiff, hand-derived, finite differences) in float64",
                "Compare jaxnet.grads, jaxnet.manual_grads and jaxnet.numerical_grads on random networks in "
                "float64; exit 1 if they disagree by more than --tol.")
    p.add_argument("--nets", type=int, default=5, help="how many random networks (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed for the networks and data (default 0)")
    p.add_argument("--tol", type=float, default=1e-6, help="largest allowed absolute disagreement (default 1e-6)")
    return parser


def _setup_cache(args: argparse.Namespace) -> None:
    if args.no_cache:
        jax.config.update("jax_enable_compilation_cache", False)
        return
    enable_compilation_cache(args.cache_dir)


def _need_matplotlib(flag: str) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(f"{flag} needs matplotlib, which is not installed (pip install matplotlib)") from None


# ---------------------------------------------------------------- walkthrough
def _walkthrough(args: argparse.Namespace) -> int:
    from jaxnet import plotting, walkthrough

    if args.plot:
        _need_matplotlib("--plot")
    numbers = walkthrough.walkthrough_numbers()  # computed once, for the report and the picture
    code = walkthrough.report(numbers)
    if args.plot:
        plotting.plot_network(numbers, args.plot)
        print(f"saved the network picture to {args.plot}")
    return code


# ---------------------------------------------------------------- train
def _parse_hidden(text: str) -> tuple[int, ...]:
    parts = [t.strip() for t in text.split(",") if t.strip()]
    if not all(t.isdigit() and int(t) >= 1 for t in parts):
        raise _UsageError(f"argument --hidden: expected comma-separated positive widths like 16,16, got {text!r}")
    return tuple(int(t) for t in parts)


def _train(args: argparse.Namespace) -> int:
    hidden = _parse_hidden(args.hidden)
    for name, value, low in (("--steps", args.steps, 1), ("--batch-size", args.batch_size, 1)):
        if value is not None and value < low:
            raise _UsageError(f"argument {name}: expected an integer >= {low}, got {value}")
    if not args.lr > 0:
        raise _UsageError(f"argument --lr: expected a positive number, got {args.lr}")
    if args.plot:
        _need_matplotlib("--plot")
    if args.data == "breast_cancer":
        if args.label not in (None, "target"):
            raise _UsageError(f"argument --label: the breast_cancer data's label is 'target', got {args.label!r}")
        x, y, names = data.load_breast_cancer()
        label = "target"
    else:
        x, y, names = data.load_csv(args.data, label=args.label)
        label = args.label or "(last column)"
    x_tr, x_te, y_tr, y_te = data.train_test_split(x, y, test_fraction=args.test_fraction, seed=args.seed)
    if args.batch_size is not None and args.batch_size > len(x_tr):
        raise _UsageError(f"argument --batch-size: {args.batch_size} is more than the {len(x_tr)} training samples")
    mean, std = data.fit_standardize(x_tr)
    dtype = jnp.float32
    xs_tr = jnp.asarray(data.apply_standardize(x_tr, mean, std), dtype)
    xs_te = jnp.asarray(data.apply_standardize(x_te, mean, std), dtype)
    ys_tr, ys_te = jnp.asarray(y_tr[:, None], dtype), jnp.asarray(y_te[:, None], dtype)
    sizes = (x.shape[1], *hidden, 1)
    print(f"data: {args.data}: {len(x)} samples, {x.shape[1]} features, label {label} ({int(y.sum())} positive)")
    print(f"split: {len(x_tr)} train / {len(x_te)} test (stratified, seed {args.seed})")
    print(f"net: {'-'.join(map(str, sizes))}, float32, {args.optimizer} lr={args.lr:g}, {args.steps} steps, "
          f"batch {args.batch_size or 'full'}")
    sys.stdout.flush()

    key_init, key_fit = jax.random.split(jax.random.key(args.seed))
    params = jaxnet.init_mlp(key_init, sizes, dtype=dtype)
    optimizer = optax.sgd(args.lr) if args.optimizer == "sgd" else optax.adam(args.lr)
    with warnings.catch_warnings():  # divergence is reported below, in one line
        warnings.simplefilter("ignore", jaxnet.DivergenceWarning)
        params, _, history = jaxnet.fit(params, xs_tr, ys_tr, optimizer=optimizer, steps=args.steps,
                                        batch_size=args.batch_size, key=key_fit, progress=not args.no_progress,
                                        validation=(xs_te, ys_te), chunk=max(1, args.steps // 25))
    if history.get("diverged"):
        print("warning: training diverged (non-finite loss); try a smaller --lr", file=sys.stderr)
    scores = {}
    for part, xs, ys in (("train", xs_tr, ys_tr), ("test", xs_te, ys_te)):
        acc = float(jnp.mean((jaxnet.forward(params, xs) >= 0.5) == (ys >= 0.5)))
        scores[part] = (float(jaxnet.loss(params, xs, ys)), acc)
        print(f"{part + ':':6s} loss {scores[part][0]:.4f}  accuracy {acc:.4f}")

    metadata = {
        "step": args.steps, "data": args.data, "label": label, "feature_names": list(names),
        "standardize_mean": mean.tolist(), "standardize_std": std.tolist(),
        "optimizer": args.optimizer, "lr": args.lr, "batch_size": args.batch_size, "seed": args.seed,
        "test_fraction": args.test_fraction, "train_loss": scores["train"][0], "train_accuracy": scores["train"][1],
        "test_loss": scores["test"][0], "test_accuracy": scores["test"][1],
    }
    metadata = {k: (v if v == v else None) if isinstance(v, float) else v for k, v in metadata.items()}  # NaN -> null
    checkpoints.save(args.out, params, metadata=metadata)
    print(f"saved {args.out}")
    if args.plot:
        from jaxnet import plotting

        plotting.plot_loss(history, args.plot, title=f"jaxnet train {args.data}: {'-'.join(map(str, sizes))}",
                           val_label="test loss")
        print(f"saved the loss curve to {args.plot}")
    return 0


# ---------------------------------------------------------------- predict
def _predict(args: argparse.Namespace) -> int:
    params, meta = checkpoints.load(args.checkpoint)
    n_in = meta["layer_sizes"][0]
    names = meta.get("feature_names")
    if names is not None:
        x = data.load_features(args.data, names)
    else:  # saved by jaxnet.checkpoints.save directly: the CSV's columns in order, maybe a last label column
        x, _ = data.read_csv(args.data)
        if x.shape[1] == n_in + 1:
            x = x[:, :n_in]
    if x.shape[1] != n_in:
        raise data.DataError(f"{args.data}: has {x.shape[1]} feature columns, the model expects {n_in}")
    mean, std = meta.get("standardize_mean"), meta.get("standardize_std")
    if mean is not None and std is not None:
        x = data.apply_standardize(x, np.asarray(mean), np.asarray(std))
    dtype = params["W1"].dtype
    probs = np.asarray(jaxnet.forward(params, jnp.asarray(x, dtype)), dtype=np.float64)
    lines = [",".join(f"{p:.8g}" for p in row) for row in probs.reshape(len(x), -1)]
    if args.out:
        n_out = probs.reshape(len(x), -1).shape[1]
        head = "probability" if n_out == 1 else ",".join(f"probability_{i + 1}" for i in range(n_out))
        with open(args.out, "w", encoding="utf-8") as f:
            f.write("\n".join([head, *lines]) + "\n")
        print(f"wrote {len(lines)} probabilities to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write("".join(line + "\n" for line in lines))
    return 0


# ---------------------------------------------------------------- check
def _check(args: argparse.Namespace) -> int:
    if args.nets < 1:
        raise _UsageError(f"argument --nets: expected an integer >= 1, got {args.nets}")
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(args.seed)
    worst = 0.0
    for i in range(args.nets):
        sizes = tuple(int(s) for s in rng.integers(1, 7, size=int(rng.integers(2, 5))))
        sizes = (*sizes[:-1], int(rng.integers(1, 3)))
        n = int(rng.integers(1, 9))
        params = jaxnet.init_mlp(jax.random.key(int(rng.integers(2**31))), sizes, dtype=jnp.float64)
        # random biases: with zero biases a layer whose inputs are all inactive sits exactly on
        # the ReLU kink, where finite differences and the (sub)gradient rightly differ
        params = {k: v + jnp.asarray(rng.normal(0.0, 0.5, v.shape), jnp.float64) if k[0] == "b" else v
                  for k, v in params.items()}
        x = jnp.asarray(rng.normal(size=(n, sizes[0])), jnp.float64)
        y = jnp.asarray(rng.integers(0, 2, size=(n, sizes[-1])), jnp.float64)
        w = jnp.asarray(rng.uniform(0.5, 2.0, size=n), jnp.float64) if i % 2 else None
        g_auto = jaxnet.grads(params, x, y, w)
        g_manual = jaxnet.manual_grads(params, x, y, w)
        g_num = jaxnet.numerical_grads(params, x, y, sample_weight=w)
        d_manual = max(float(jnp.max(jnp.abs(g_auto[k] - g_manual[k]))) for k in params)
        d_num = max(float(jnp.max(jnp.abs(g_auto[k] - g_num[k]))) for k in params)
        worst = max(worst, d_manual, d_num)
        print(f"net {i + 1}: sizes {'-'.join(map(str, sizes))}, {n} samples{', weighted' if w is not None else ''}: "
              f"|autodiff - manual| {d_manual:.2e}, |autodiff - numerical| {d_num:.2e}")
    ok = worst <= args.tol
    print(f"largest disagreement: {worst:.2e} (tolerance {args.tol:g}): {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

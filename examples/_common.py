"""The command line the examples share: seed, steps, learning rate, hidden sizes, plot, sklearn, progress."""

from __future__ import annotations

import argparse


def hidden_sizes(text: str) -> tuple[int, ...]:
    """``"64"`` or ``"64,32"`` as positive widths (an argparse ``type``)."""
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return sizes


def example_parser(
    doc: str, *, steps: int, lr: float, plot: str, hidden: tuple[int, ...] | None = None, sklearn: bool = True
) -> argparse.ArgumentParser:
    """The shared options; an example adds its own before ``parse_args``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--lr", type=float, default=lr)
    if hidden is not None:
        shown = ",".join(map(str, hidden))
        parser.add_argument("--hidden", type=hidden_sizes, default=hidden, help=f"hidden sizes (default {shown})")
    parser.add_argument(
        "--plot",
        metavar="PATH",
        default=plot,
        help="where to save the loss curve (needs matplotlib; default %(default)s)",
    )
    parser.add_argument("--no-plot", dest="plot", action="store_const", const=None, help="do not save the loss curve")
    if sklearn:
        parser.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn comparison")
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    return parser


def save_loss_plot(history: dict, path: str, **labels: object) -> None:
    """``jaxnet.plotting.plot_loss(history, path, **labels)``, or one line saying matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("(loss curve skipped: matplotlib is not installed)")
        return
    from jaxnet.plotting import plot_loss

    plot_loss(history, path, **labels)
    print(f"saved the loss curve to {path}")

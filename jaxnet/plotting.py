"""Pictures with matplotlib (an optional dependency, imported only when drawing).

* :func:`plot_network` draws a small network (the worked example's 2-3-1 net)
  with every weight before → after one step and its gradient;
* :func:`plot_loss` draws a training loss curve.

Both write a PNG (or any format matplotlib knows from the suffix) and use no
pyplot global state.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "loss.png")
>>> plot_loss({"step": [0, 1, 2], "loss": [0.7, 0.5, 0.4]}, path)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["plot_network", "plot_loss"]


def _figure(size: tuple[float, float]) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plotting needs matplotlib (pip install matplotlib)") from None
    return Figure(figsize=size, layout="constrained")


def plot_loss(
    history: Mapping[str, Any], path: str | os.PathLike, *, title: str = "training loss", val_label: str = "validation loss"
) -> None:
    """Save the loss curve of a ``fit`` history (keys ``"step"``, ``"loss"``,
    and optionally ``"val_loss"`` with ``"val_step"``) to ``path``.

    >>> import os, tempfile
    >>> plot_loss({"step": [0, 1], "loss": [0.7, 0.6]}, os.path.join(tempfile.mkdtemp(), "l.png"))
    """
    loss = np.asarray(history["loss"], dtype=np.float64).ravel()
    step = np.asarray(history.get("step", np.arange(loss.size)), dtype=np.float64).ravel()
    if loss.size == 0 or step.shape != loss.shape:
        raise ValueError(f"history: expected non-empty 'step' and 'loss' of one length, got {step.shape} and {loss.shape}")
    fig = _figure((6.4, 4.0))
    ax = fig.add_subplot()
    ax.plot(step, loss, lw=1.5, label="train loss")
    if history.get("val_loss") is not None and history.get("val_step") is not None:
        vl = np.asarray(history["val_loss"], dtype=np.float64).ravel()
        vs = np.asarray(history["val_step"], dtype=np.float64).ravel()
        if vl.size and vl.shape == vs.shape:
            ax.plot(vs, vl, "o-", ms=3, lw=1.5, label=val_label)
    if np.all(loss > 0) and loss.max() / loss.min() > 20:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("binary cross-entropy")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.savefig(os.fspath(path), dpi=120)


def plot_network(numbers: Mapping[str, Any], path: str | os.PathLike, *, title: str | None = None) -> None:
    """Draw a dense net with each weight ``before → after`` and its gradient.

    ``numbers`` has the keys of :func:`jaxnet.walkthrough.walkthrough_numbers`:
    ``params_before``, ``params_after``, ``grads`` (dicts ``W1, b1, …``),
    ``trace_before`` (``z1, a1, …``, ``y_hat``) and optionally ``x``,
    ``loss_before``, ``loss_after``. Edge width grows with ``|gradient|``,
    colour shows its sign (red: positive, the step lowers the weight; blue:
    negative). Hidden units with ``z < 0`` (inactive ReLU) are greyed, with
    their edges dashed.

    >>> import os, tempfile
    >>> from jaxnet.walkthrough import walkthrough_numbers
    >>> plot_network(walkthrough_numbers(), os.path.join(tempfile.mkdtemp(), "net.png"))
    """
    before, after, grads = numbers["params_before"], numbers["params_after"], numbers["grads"]
    trace = numbers["trace_before"]
    n_layers = sum(1 for k in before if k.startswith("W"))
    W = [np.asarray(before[f"W{i}"], np.float64) for i in range(1, n_layers + 1)]
    sizes = [W[0].shape[1]] + [w.shape[0] for w in W]
    z = [np.asarray(trace[f"z{i}"], np.float64).reshape(-1) for i in range(1, n_layers + 1)]
    x = numbers.get("x")
    gmax = max(float(np.max(np.abs(np.asarray(grads[k], np.float64)))) for k in grads) or 1.0

    from matplotlib import colormaps
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.cm import ScalarMappable

    cmap, norm = colormaps["coolwarm"], TwoSlopeNorm(0.0, -gmax, gmax)
    gap, top = 1.7, (max(sizes) - 1) / 2.0 * 1.7
    fig = _figure((4.0 * len(sizes) + 1.5, 2.3 * max(sizes) + 1.2))
    ax = fig.add_subplot()
    ax.set_axis_off()
    pos = [[(4.0 * l, gap * ((n - 1) / 2.0 - i)) for i in range(n)] for l, n in enumerate(sizes)]
    inactive = [z[l - 1] < 0 if 0 < l < len(sizes) - 1 else np.zeros(n, bool) for l, n in enumerate(sizes)]
    box = dict(boxstyle="round,pad=0.25", fc="white", ec="0.75", alpha=0.92)

    for l in range(1, len(sizes)):
        wb, wa, gw = (np.asarray(d[f"W{l}"], np.float64) for d in (before, after, grads))
        t = 0.6 if sizes[l] >= sizes[l - 1] else 0.4  # labels apart, clear of the node text
        for j in range(sizes[l]):
            for i in range(sizes[l - 1]):
                (x0, y0), (x1, y1) = pos[l - 1][i], pos[l][j]
                dead = bool(inactive[l][j] or inactive[l - 1][i])
                g = float(gw[j, i]) + 0.0  # no "-0.0000"
                ax.plot([x0, x1], [y0, y1], color="0.72" if dead else cmap(norm(g)),
                        lw=1.0 + 6.0 * abs(g) / gmax, ls=(0, (4, 3)) if dead else "-", zorder=1)
                ax.text(x0 + t * (x1 - x0), y0 + t * (y1 - y0),
                        f"$w^{{({l})}}_{{{j + 1}{i + 1}}}$  {wb[j, i]:.4f} → {wa[j, i]:.4f}\ngrad {g:+.4f}",
                        ha="center", va="center", fontsize=8, zorder=3, color="0.5" if dead else "black", bbox=box)

    for l, n in enumerate(sizes):
        for j in range(n):
            cx, cy = pos[l][j]
            dead = bool(inactive[l][j])
            ax.scatter([cx], [cy], s=1700, zorder=4, edgecolors="0.55" if dead else "black", linewidths=1.2,
                       c="0.88" if dead else ("#cfe8cf" if l == 0 else "#fde9b8"))
            if l == 0:
                name = f"$x_{j + 1}$" + (f"\n{float(np.ravel(x)[j]):g}" if x is not None else "")
            elif l == len(sizes) - 1:
                name = f"$\\hat y_{j + 1}$" if n > 1 else "$\\hat y$"
            else:
                name = f"$h_{j + 1}$"
            ax.text(cx, cy, name, ha="center", va="center", fontsize=10, zorder=5, color="0.45" if dead else "black")
            if l == 0:
                continue
            b0, b1, gb = (float(np.asarray(d[f"b{l}"], np.float64)[j]) + 0.0 for d in (before, after, grads))
            lines = [f"z = {z[l - 1][j]:+.4f}" + ("  (ReLU inactive)" if dead else "")]
            if l == len(sizes) - 1:
                lines.append(f"ŷ = {float(np.ravel(trace['y_hat'])[j]):.4f}")
            lines += [f"$b^{{({l})}}_{{{j + 1}}}$  {b0:.4f} → {b1:.4f}", f"grad {gb:+.4f}"]
            ax.text(cx, cy - 0.38, "\n".join(lines), ha="center", va="top", fontsize=8, zorder=5,
                    color="0.45" if dead else "black")

    loss = ""
    if "loss_before" in numbers and "loss_after" in numbers:
        loss = f"   loss {float(numbers['loss_before']):.6f} → {float(numbers['loss_after']):.6f}"
    ax.set_title((title or "one gradient step: weight before → after, gradient") + loss, fontsize=11)
    ax.set_xlim(-0.8, 4.0 * (len(sizes) - 1) + 1.0)
    ax.set_ylim(-top - 1.2, top + 0.5)
    ax.text(0.0, 0.0, "grey, dashed: a hidden unit with z < 0 (ReLU inactive): no gradient flows through it, "
            "its weights do not move.   Colour: sign of the gradient (red +, the step lowers the weight).",
            transform=ax.transAxes, fontsize=8, color="0.3", va="bottom")
    sm = ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=ax, shrink=0.6, label="gradient ∂L/∂w (edge width ∝ |gradient|)")
    fig.savefig(os.fspath(path), dpi=120)

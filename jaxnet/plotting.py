"""Pictures with matplotlib (an optional dependency, imported only when drawing).

* :func:`plot_network` draws a small network (the worked example's 2-3-1 net)
  with every weight before → after one step and its gradient, each label on its
  own edge where no other edge passes (:func:`edge_label_positions`);
* :func:`plot_loss` draws a training loss curve: minibatch losses as a faint
  raw line under an exponential moving average (:func:`ema`), an epoch axis on
  top when ``steps_per_epoch`` is given, the validation loss as points.

Both write a PNG (or any format matplotlib knows from the suffix) and use no
pyplot global state; :func:`loss_figure` and :func:`network_figure` return the
figure unsaved. The picture's geometry (pure numpy) is in
``jaxnet._plot_geometry``. The parameter keys are read only through
:func:`jaxnet.network.layer_count` and :func:`jaxnet.network.param_keys`.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "loss.png")
>>> plot_loss({"step": [0, 1, 2], "loss": [0.7, 0.5, 0.4]}, path)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from jaxnet._checks import count, number, refuse
from jaxnet._plot_geometry import (
    NODE_RADIUS,
    NODE_TEXT_TOP,
    edge_label_positions,
    network_frame,
    network_geometry,
    network_layout,
)
from jaxnet.network import activation_named, layer_count, param_keys

__all__ = [
    "edge_label_positions",
    "ema",
    "loss_figure",
    "network_figure",
    "network_layout",
    "plot_loss",
    "plot_network",
]


def _figure(size: tuple[float, float]) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plotting needs matplotlib (pip install matplotlib)") from None
    return Figure(figsize=size, layout="constrained")


# ---------------------------------------------------------------- loss curves
def ema(values: Any, beta: float, *, log: bool = False) -> np.ndarray:
    """Bias-corrected exponential moving average of a 1-D series.

    ``s_k = beta s_{k-1} + (1 - beta) v_k`` from ``s_{-1} = 0``, reported as
    ``s_k / (1 - beta^(k+1))`` so that the first value is ``v_0`` (Adam's and
    TensorBoard's correction). ``beta = 0`` returns the series unchanged. With
    ``log=True`` the average runs over ``log v`` (a geometric mean, for a loss
    drawn on a log axis: one bad minibatch does not lift the curve by a decade).

    >>> ema([1.0, 3.0, 3.0], 0.5).round(6).tolist()
    [1.0, 2.333333, 2.714286]
    >>> ema([10.0, 1000.0], 0.5, log=True).round(6).tolist()
    [10.0, 215.443469]
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    beta = number("beta", beta, low=0.0, high=1.0, high_open=True)
    if log:
        if np.any(v <= 0):
            raise refuse("values", "positive values with log=True", f"{float(np.min(v))!r}")
        return np.exp(ema(np.log(v), beta))
    out = np.empty_like(v)
    s = 0.0
    for k, value in enumerate(v):  # a loop: beta^k underflows gracefully, and n is at most a few 10^4
        s = beta * s + (1.0 - beta) * value
        out[k] = s / (1.0 - beta ** (k + 1))
    return out


def _history_series(history: Mapping[str, Any], key: str, step_key: str) -> tuple[np.ndarray, np.ndarray] | None:
    if history.get(key) is None or history.get(step_key) is None:
        return None
    v = np.asarray(history[key], dtype=np.float64).ravel()
    s = np.asarray(history[step_key], dtype=np.float64).ravel()
    if v.shape != s.shape:
        raise ValueError(f"history: expected {step_key!r} and {key!r} of one length, got {s.shape} and {v.shape}")
    return (s, v) if v.size else None


class _Curves(NamedTuple):
    """What the loss figure draws: the raw and smoothed training loss, the validation points, the scale."""

    step: np.ndarray
    loss: np.ndarray
    smooth: np.ndarray
    smoothing: float
    val: tuple[np.ndarray, np.ndarray] | None
    log: bool


def _loss_curves(history: Mapping[str, Any], steps_per_epoch: int | None, smoothing: float | None) -> _Curves:
    """Check ``history`` and the options; smooth the loss and choose a log or linear axis."""
    if not isinstance(history, Mapping) or "loss" not in history:
        keys = f" with keys {sorted(history)}" if isinstance(history, Mapping) else ""
        raise refuse("history", "fit's history, a dict with 'loss' (and 'step')", f"{type(history).__name__}{keys}")
    loss = np.asarray(history["loss"], dtype=np.float64).ravel()
    step = np.asarray(history.get("step", np.arange(loss.size)), dtype=np.float64).ravel()
    if loss.size == 0 or step.shape != loss.shape:
        raise refuse("history", "non-empty 'step' and 'loss' of one length", f"{step.shape} and {loss.shape}")
    if steps_per_epoch is not None:
        count("steps_per_epoch", steps_per_epoch)
    if smoothing is None:  # minibatch losses are noisy: average over ~1/50 of the run; a full-batch curve is not
        window = max(loss.size / 50.0, min(10.0, loss.size / 10.0))  # in recorded points; short runs: up to 10
        smoothing = 1.0 - 1.0 / window if steps_per_epoch is not None and window > 1.0 else 0.0
    smoothing = number("smoothing", smoothing, low=0.0, high=1.0, high_open=True)
    finite = loss[np.isfinite(loss)]
    log = bool(finite.size and np.all(finite > 0))
    smooth = ema(loss, smoothing, log=log) if finite.size == loss.size else loss
    val = _history_series(history, "val_loss", "val_step")
    log = bool(log and np.nanmax(smooth) / np.nanmin(smooth) > 20 and (val is None or np.all(val[1] > 0)))
    return _Curves(step, loss, smooth, smoothing, val, log)


def _loss_ylim(c: _Curves) -> tuple[float, float]:
    """The y range of a smoothed plot: the raw line's rare spikes do not set the scale."""
    shown: list[Any] = [np.nanpercentile(c.loss, [1, 99]), [np.nanmin(c.smooth), np.nanmax(c.smooth)]]
    if c.val is not None:
        shown.append([c.val[1].min(), c.val[1].max()])
    lo, hi = min(s[0] for s in shown), max(s[1] for s in shown)
    if c.log:
        pad = (hi / lo) ** 0.05
        return lo / pad, hi * pad
    return lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)


def loss_figure(
    history: Mapping[str, Any],
    *,
    steps_per_epoch: int | None = None,
    smoothing: float | None = None,
    title: str = "training loss",
    ylabel: str = "loss",
    val_label: str = "validation loss",
    best_step: int | None = None,
    best_label: str = "best step",
) -> Any:
    """The :func:`plot_loss` figure (a ``matplotlib.figure.Figure``), not saved; see there."""
    c = _loss_curves(history, steps_per_epoch, smoothing)
    fig = _figure((6.4, 4.2))
    ax = fig.add_subplot()
    if c.smoothing > 0:
        ax.plot(c.step, c.loss, lw=0.8, alpha=0.3, color="C0", label="train loss (each minibatch)")
        ax.plot(c.step, c.smooth, lw=1.8, color="C0", label="train loss (moving average)")
    else:
        ax.plot(c.step, c.loss, lw=1.5, color="C0", label="train loss")
    if c.val is not None:
        ax.plot(c.val[0], c.val[1], "o-", ms=3.5, lw=0.8, color="C1", label=val_label)
    if best_step is not None:
        ax.axvline(float(best_step), color="C2", ls="--", lw=1.2, label=f"{best_label} {int(best_step)}")
    if c.log:
        ax.set_yscale("log")
    if c.smoothing > 0:
        ax.set_ylim(_loss_ylim(c))
    if steps_per_epoch is not None:
        spe = float(steps_per_epoch)
        top = ax.secondary_xaxis("top", functions=(lambda s: s / spe, lambda e: e * spe))
        top.set_xlabel("epoch")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def plot_loss(
    history: Mapping[str, Any],
    path: str | os.PathLike,
    *,
    steps_per_epoch: int | None = None,
    smoothing: float | None = None,
    title: str = "training loss",
    ylabel: str = "loss",
    val_label: str = "validation loss",
    best_step: int | None = None,
    best_label: str = "best step",
) -> None:
    """Save the loss curve of a :func:`jaxnet.fit` history to ``path`` (PNG, SVG, PDF: from the suffix).

    ``history`` has ``"loss"`` and ``"step"`` (1-D, one length) and optionally
    ``"val_loss"`` with ``"val_step"``, drawn as points at those steps.

    - ``steps_per_epoch``: the training was minibatched with this many steps
      per epoch (``N // batch_size``; ``ceil(N / batch_size)`` with ``fit``'s
      ``drop_last=False``): an epoch axis is drawn on top, and the
      minibatch losses become a faint raw line under their moving average.
    - ``smoothing``: the average's factor ``beta`` in [0, 1) (see :func:`ema`;
      on a log axis it averages ``log loss``). ``None``: ``1 - 1 / w`` when
      minibatched, with a window of ``w = max(n / 50, min(10, n / 10))`` of the
      ``n`` recorded losses (1/50 of a long run), else 0 (no smoothing).
    - ``ylabel``: the loss's name, e.g. ``"cross-entropy"`` (default ``"loss"``).
    - ``best_step``: draw a dashed vertical line there, labelled
      ``f"{best_label} {best_step}"`` (e.g. the step early stopping restored).

    The y axis is logarithmic when the (smoothed) loss spans more than a factor 20.

    >>> import os, tempfile
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> loss = np.exp(-np.arange(1000) / 300) * rng.lognormal(0, 0.5, 1000)
    >>> history = {"step": np.arange(1000), "loss": loss,
    ...            "val_step": [250, 500, 750, 1000],
    ...            "val_loss": [0.5, 0.2, 0.1, 0.08]}
    >>> path = os.path.join(tempfile.mkdtemp(), "l.png")
    >>> plot_loss(history, path, steps_per_epoch=50, ylabel="cross-entropy",
    ...           best_step=1000)
    """
    fig = loss_figure(
        history,
        steps_per_epoch=steps_per_epoch,
        smoothing=smoothing,
        title=title,
        ylabel=ylabel,
        val_label=val_label,
        best_step=best_step,
        best_label=best_label,
    )
    fig.savefig(os.fspath(path), dpi=120)


# ---------------------------------------------------------------- the network picture: drawing
class _Step(NamedTuple):
    """One gradient step of a dense net, as the picture reads it (float64 numpy)."""

    sizes: list[int]  # units per layer, input first
    keys: list[str]  # W_l is keys[2l - 2], b_l is keys[2l - 1]
    before: Mapping[str, Any]
    after: Mapping[str, Any]
    grads: Mapping[str, Any]
    z: list[np.ndarray]  # pre-activations per layer 1..L
    y_hat: np.ndarray
    x: Any  # the input row, or None
    gmax: float  # the largest |gradient|: the colour scale and edge widths
    inactive: list[np.ndarray]  # per layer: units whose activation has zero slope (no gradient flows back)


def _read_step(numbers: Mapping[str, Any], activation: str) -> _Step:
    """The numbers of :func:`jaxnet.walkthrough.walkthrough_numbers` as a :class:`_Step`."""
    before, after, grads = numbers["params_before"], numbers["params_after"], numbers["grads"]
    trace = numbers["trace_before"]
    n_layers = layer_count(before, "params_before")
    keys = param_keys(n_layers)
    W = [np.asarray(before[k], np.float64) for k in keys[::2]]
    sizes = [W[0].shape[1]] + [w.shape[0] for w in W]
    z = [np.asarray(trace[f"z{l}"], np.float64).reshape(-1) for l in range(1, n_layers + 1)]
    gmax = max(float(np.max(np.abs(np.asarray(grads[k], np.float64)))) for k in keys) or 1.0
    slope = activation_named(activation).grad
    inactive = [
        np.asarray(slope(jnp.asarray(z[l - 1]))) == 0 if 0 < l < len(sizes) - 1 else np.zeros(n, bool)
        for l, n in enumerate(sizes)
    ]
    y_hat = np.ravel(trace["y_hat"])
    return _Step(sizes, list(keys), before, after, grads, z, y_hat, numbers.get("x"), gmax, inactive)


def _entry(step: _Step, key: str, index: tuple[int, ...]) -> tuple[float, float, float]:
    """``(before, after, gradient)`` of one weight or bias; ``+ 0.0`` turns ``-0.0`` into ``0.0``."""
    b, a, g = (float(np.asarray(d[key], np.float64)[index]) + 0.0 for d in (step.before, step.after, step.grads))
    return b, a, g


def _draw_edges(ax: Any, geo: dict[str, Any], step: _Step, cmap: Any, norm: Any) -> list[Any]:
    """Each weight as a line (width ∝ |gradient|, colour its sign; dashed grey when no gradient flows) with
    its label ``w before → after, grad`` where :func:`edge_label_positions` put it."""
    box = {"boxstyle": "round,pad=0.25", "fc": "white", "ec": "0.75", "alpha": 0.92}
    labels = []
    for (l, j, i), (a, b), c in zip(geo["edges"], geo["segments"], geo["labels"]):
        wb, wa, g = _entry(step, step.keys[2 * l - 2], (j, i))
        dead = bool(step.inactive[l][j] or step.inactive[l - 1][i])
        color = "0.72" if dead else cmap(norm(g))
        ls = (0, (4, 3)) if dead else "-"
        ax.plot([a[0], b[0]], [a[1], b[1]], color=color, lw=1.0 + 6.0 * abs(g) / step.gmax, ls=ls, zorder=1)
        text = f"$w^{{({l})}}_{{{j + 1}{i + 1}}}$  {wb:.4f} → {wa:.4f}\ngrad {g:+.4f}"
        color = "0.5" if dead else "black"
        labels.append(ax.text(c[0], c[1], text, ha="center", va="center", fontsize=8, zorder=3, color=color, bbox=box))
    return labels


def _node_name(step: _Step, l: int, j: int) -> str:
    """``x_j`` (with its value when known), ``h_j`` or ``ŷ_j``."""
    if l == 0:
        return f"$x_{j + 1}$" + (f"\n{float(np.ravel(step.x)[j]):g}" if step.x is not None else "")
    if l == len(step.sizes) - 1:
        return f"$\\hat y_{j + 1}$" if step.sizes[l] > 1 else "$\\hat y$"
    return f"$h_{j + 1}$"


def _node_text(step: _Step, l: int, j: int, activation: str) -> str:
    """The lines under a hidden or output unit: ``z``, ``ŷ`` (output), its bias before → after and gradient."""
    dead = bool(step.inactive[l][j])
    b0, b1, gb = _entry(step, step.keys[2 * l - 1], (j,))
    lines = [f"z = {step.z[l - 1][j]:+.4f}" + (f"  ({activation} inactive)" if dead else "")]
    if l == len(step.sizes) - 1:
        lines.append(f"ŷ = {float(step.y_hat[j]):.4f}")
    lines += [f"$b^{{({l})}}_{{{j + 1}}}$  {b0:.4f} → {b1:.4f}", f"grad {gb:+.4f}"]
    return "\n".join(lines)


def _draw_nodes(ax: Any, nodes: list[np.ndarray], step: _Step, activation: str) -> None:
    """Each unit as a circle with its name, and its numbers under it (not under an input)."""
    for l, n in enumerate(step.sizes):
        for j in range(n):
            cx, cy = nodes[l][j]
            dead = bool(step.inactive[l][j])
            fc = "0.88" if dead else ("#cfe8cf" if l == 0 else "#fde9b8")
            ax.add_patch(_circle((cx, cy), NODE_RADIUS, fc=fc, ec="0.55" if dead else "black"))
            color = "0.45" if dead else "black"
            ax.text(cx, cy, _node_name(step, l, j), ha="center", va="center", fontsize=10, zorder=5, color=color)
            if l > 0:
                text = _node_text(step, l, j, activation)
                ax.text(cx, cy - NODE_TEXT_TOP, text, ha="center", va="top", fontsize=8, zorder=5, color=color)


def _caption(ax: Any, numbers: Mapping[str, Any], title: str | None, activation: str) -> None:
    """The title (with the loss before → after when given) and the key to greys and colours."""
    loss = ""
    if "loss_before" in numbers and "loss_after" in numbers:
        loss = f"   loss {float(numbers['loss_before']):.6f} → {float(numbers['loss_after']):.6f}"
    ax.set_title((title or "one gradient step: weight before → after, gradient") + loss, fontsize=11)
    key = (
        f"grey, dashed: a hidden unit where {activation}'(z) = 0 (inactive): no gradient flows through it, "
        "its weights do not move.   Colour: sign of the gradient (red +, the step lowers the weight)."
    )
    ax.text(0.0, 0.0, key, transform=ax.transAxes, fontsize=8, color="0.3", va="bottom")


def network_figure(
    numbers: Mapping[str, Any], *, title: str | None = None, activation: str = "relu"
) -> tuple[Any, list[Any]]:
    """The :func:`plot_network` figure, not saved, and its edge-label ``Text`` artists (in ``network_geometry`` order)."""
    step = _read_step(numbers, activation)

    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import TwoSlopeNorm

    geo = network_geometry(step.sizes)
    cmap, norm = colormaps["coolwarm"], TwoSlopeNorm(0.0, -step.gmax, step.gmax)
    xlim, ylim = network_frame(geo["nodes"])
    inch = 1.15  # per data unit; the figure is the axes (equal aspect) plus the colour bar and the title
    fig = _figure((inch * (xlim[1] - xlim[0]) + 1.6, inch * (ylim[1] - ylim[0]) + 0.7))
    ax = fig.add_subplot()
    ax.set_axis_off()
    labels = _draw_edges(ax, geo, step, cmap, norm)
    _draw_nodes(ax, geo["nodes"], step, activation)
    _caption(ax, numbers, title, activation)
    ax.set_aspect("equal")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    label = "gradient ∂L/∂w (edge width ∝ |gradient|)"
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.6, label=label)
    return fig, labels


def _circle(centre: tuple[float, float], radius: float, **style: Any) -> Any:
    from matplotlib.patches import Circle

    return Circle(centre, radius, lw=1.2, zorder=4, **style)


def plot_network(
    numbers: Mapping[str, Any], path: str | os.PathLike, *, title: str | None = None, activation: str = "relu"
) -> None:
    """Draw a dense net with each weight ``before → after`` and its gradient.

    ``numbers`` has the keys of :func:`jaxnet.walkthrough.walkthrough_numbers`:
    ``params_before``, ``params_after``, ``grads`` (dicts ``W1, b1, …``),
    ``trace_before`` (``z1, a1, …``, ``y_hat``) and optionally ``x``,
    ``loss_before``, ``loss_after``. Edge width grows with ``|gradient|``,
    colour shows its sign (red: positive, the step lowers the weight; blue:
    negative). Hidden units where ``activation``'s derivative is 0 (ReLU with
    ``z <= 0``) pass no gradient back: they are greyed, their edges dashed.
    Each edge's label sits on that edge where no other edge, label or node
    passes (:func:`edge_label_positions`).

    >>> import os, tempfile
    >>> from jaxnet.walkthrough import walkthrough_numbers
    >>> path = os.path.join(tempfile.mkdtemp(), "net.png")
    >>> plot_network(walkthrough_numbers(), path)
    """
    fig, _ = network_figure(numbers, title=title, activation=activation)
    fig.savefig(os.fspath(path), dpi=120)

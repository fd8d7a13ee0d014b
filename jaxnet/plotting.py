"""Pictures with matplotlib (an optional dependency, imported only when drawing).

* :func:`plot_network` draws a small network (the worked example's 2-3-1 net)
  with every weight before → after one step and its gradient, each label on its
  own edge where no other edge passes (:func:`edge_label_positions`);
* :func:`plot_loss` draws a training loss curve: minibatch losses as a faint
  raw line under an exponential moving average (:func:`ema`), an epoch axis on
  top when ``steps_per_epoch`` is given, the validation loss as points.

Both write a PNG (or any format matplotlib knows from the suffix) and use no
pyplot global state. The parameter keys are read only through
:func:`jaxnet.network.layer_count` and :func:`jaxnet.network.param_keys`.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "loss.png")
>>> plot_loss({"step": [0, 1, 2], "loss": [0.7, 0.5, 0.4]}, path)
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxnet.network import activation_named, layer_count, param_keys

__all__ = ["edge_label_positions", "ema", "network_layout", "plot_loss", "plot_network"]

Box = tuple[float, float, float, float]  # (x0, y0, x1, y1), x0 <= x1, y0 <= y1

# The network picture's geometry, in data units (the axes have an equal aspect, so a unit is the same length on
# both axes). EDGE_LABEL_BOX is the size of an edge label with its frame, measured at 8 pt and checked by a test.
LAYER_SPACING, NODE_GAP, NODE_RADIUS = 5.0, 2.0, 0.32
EDGE_LABEL_BOX = (1.28, 0.46)
NODE_TEXT_BOX = (1.8, 0.75)  # the z / bias / gradient text under a hidden or output node
_NODE_TEXT_TOP = 0.38  # that text starts this far below the node's centre


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
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0.0 <= beta < 1.0:
        raise ValueError(f"beta: expected a number in [0, 1), got {beta!r}")
    if log:
        if np.any(v <= 0):
            raise ValueError("values: log=True needs positive values, got a value <= 0")
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
    if not isinstance(history, Mapping) or "loss" not in history:
        raise ValueError(
            f"history: expected fit's history, a dict with 'loss' (and 'step'), got {type(history).__name__}"
            f"{' with keys ' + str(sorted(history)) if isinstance(history, Mapping) else ''}"
        )
    loss = np.asarray(history["loss"], dtype=np.float64).ravel()
    step = np.asarray(history.get("step", np.arange(loss.size)), dtype=np.float64).ravel()
    if loss.size == 0 or step.shape != loss.shape:
        raise ValueError(
            f"history: expected non-empty 'step' and 'loss' of one length, got {step.shape} and {loss.shape}"
        )
    if steps_per_epoch is not None and (
        isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, (int, np.integer)) or steps_per_epoch < 1
    ):
        raise ValueError(f"steps_per_epoch: expected a positive integer or None, got {steps_per_epoch!r}")
    if smoothing is None:  # minibatch losses are noisy: average over ~1/50 of the run; a full-batch curve is not
        window = max(loss.size / 50.0, min(10.0, loss.size / 10.0))  # in recorded points; short runs: up to 10
        smoothing = 1.0 - 1.0 / window if steps_per_epoch is not None and window > 1.0 else 0.0
    finite = loss[np.isfinite(loss)]
    log = bool(finite.size and np.all(finite > 0))
    smooth = ema(loss, smoothing, log=log) if finite.size == loss.size else loss
    val = _history_series(history, "val_loss", "val_step")
    log = bool(log and np.nanmax(smooth) / np.nanmin(smooth) > 20 and (val is None or np.all(val[1] > 0)))

    fig = _figure((6.4, 4.2))
    ax = fig.add_subplot()
    if smoothing > 0:
        ax.plot(step, loss, lw=0.8, alpha=0.3, color="C0", label="train loss (each minibatch)")
        ax.plot(step, smooth, lw=1.8, color="C0", label="train loss (moving average)")
    else:
        ax.plot(step, loss, lw=1.5, color="C0", label="train loss")
    if val is not None:
        ax.plot(val[0], val[1], "o-", ms=3.5, lw=0.8, color="C1", label=val_label)
    if best_step is not None:
        ax.axvline(float(best_step), color="C2", ls="--", lw=1.2, label=f"{best_label} {int(best_step)}")
    if log:
        ax.set_yscale("log")
    if smoothing > 0:  # keep the raw line's rare spikes from setting the scale
        shown: list[Any] = [np.nanpercentile(loss, [1, 99]), [np.nanmin(smooth), np.nanmax(smooth)]]
        if val is not None:
            shown.append([val[1].min(), val[1].max()])
        lo, hi = min(s[0] for s in shown), max(s[1] for s in shown)
        pad = (hi / lo) ** 0.05 if log else None
        ax.set_ylim((lo / pad, hi * pad) if log else (lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)))
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
      per epoch (``N // batch_size``): an epoch axis is drawn on top, and the
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


# ---------------------------------------------------------------- the network picture: geometry (pure)
def network_layout(sizes: Sequence[int], *, spacing: float = LAYER_SPACING, gap: float = NODE_GAP) -> list[np.ndarray]:
    """Node centres ``(n_l, 2)`` per layer: layer ``l`` at ``x = l spacing``, its units ``gap`` apart, centred on ``y = 0``.

    >>> [p.tolist() for p in network_layout((2, 1), spacing=4.0, gap=2.0)]
    [[[0.0, 1.0], [0.0, -1.0]], [[4.0, 0.0]]]
    """
    return [
        np.array([(spacing * l, gap * ((n - 1) / 2.0 - i)) for i in range(n)], dtype=np.float64)
        for l, n in enumerate(sizes)
    ]


def _segment_meets_box(a: np.ndarray, b: np.ndarray, box: Box) -> bool:
    """Liang-Barsky clipping: does the segment ``a b`` touch the closed box?"""
    lo, hi = 0.0, 1.0
    d = b - a
    for p, q in ((-d[0], a[0] - box[0]), (d[0], box[2] - a[0]), (-d[1], a[1] - box[1]), (d[1], box[3] - a[1])):
        if p == 0.0:
            if q < 0.0:
                return False
            continue
        r = q / p
        lo, hi = (max(lo, r), hi) if p < 0.0 else (lo, min(hi, r))
        if lo > hi:
            return False
    return True


def _point_segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((p - a) @ ab) / max(float(ab @ ab), 1e-300), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1)


def box_segment_distance(box: Box, a: Any, b: Any) -> float:
    """Euclidean distance between a box ``(x0, y0, x1, y1)`` and the segment ``a b`` (0 when they meet).

    >>> box_segment_distance((0, 0, 1, 1), (2, -5), (2, 5)), box_segment_distance((0, 0, 1, 1), (-1, 0.5), (3, 0.5))
    (1.0, 0.0)
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if _segment_meets_box(a, b, box):
        return 0.0
    corners = np.array([[box[0], box[1]], [box[0], box[3]], [box[2], box[1]], [box[2], box[3]]], np.float64)
    ends = np.stack([a, b])
    dx = np.maximum(np.maximum(box[0] - ends[:, 0], ends[:, 0] - box[2]), 0.0)
    dy = np.maximum(np.maximum(box[1] - ends[:, 1], ends[:, 1] - box[3]), 0.0)
    return float(min(_point_segment_distance(corners, a, b).min(), np.hypot(dx, dy).min()))


def box_box_distance(p: Box, q: Box) -> float:
    """Euclidean distance between two boxes ``(x0, y0, x1, y1)`` (0 when they overlap or touch).

    >>> box_box_distance((0, 0, 1, 1), (4, 5, 6, 6))
    5.0
    """
    dx = max(p[0] - q[2], q[0] - p[2], 0.0)
    dy = max(p[1] - q[3], q[1] - p[3], 0.0)
    return math.hypot(dx, dy)


def _box_at(centre: np.ndarray, size: tuple[float, float]) -> Box:
    hw, hh = size[0] / 2.0, size[1] / 2.0
    return (float(centre[0] - hw), float(centre[1] - hh), float(centre[0] + hw), float(centre[1] + hh))


def edge_label_positions(
    segments: Any,
    box: tuple[float, float],
    *,
    obstacles: Sequence[Box] = (),
    fractions: Any = None,
    sweeps: int = 10,
) -> np.ndarray:
    """Centres ``(E, 2)`` for one ``box``-sized label per edge, each on its own edge, clear of everything else.

    ``segments`` is ``(E, 2, 2)``: edge ``e`` runs from ``segments[e, 0]`` to
    ``segments[e, 1]``. Label ``e`` sits at ``a + t_e (b - a)`` with ``t_e`` from
    ``fractions`` (default 0.15, 0.175, ..., 0.85). Its clearance is the
    smallest distance from its box to another edge, to another label's box and
    to the ``obstacles`` (boxes: nodes, node text). Coordinate ascent: each
    label in turn takes the ``t`` of largest clearance (ties: nearest the
    middle) given the others, until a sweep changes nothing (at most ``sweeps``).
    Distances are Euclidean, so draw on axes with an equal aspect.

    >>> segs = [[(0, 1), (4, -1)], [(0, -1), (4, 1)]]  # two edges crossing at (2, 0)
    >>> edge_label_positions(segs, (1.0, 0.3)).round(3).tolist()
    [[0.6, 0.7], [0.6, -0.7]]
    """
    segs = np.asarray(segments, dtype=np.float64)
    if segs.ndim != 3 or segs.shape[1:] != (2, 2):
        raise ValueError(f"segments: expected shape (E, 2, 2), got {segs.shape}")
    ts = np.linspace(0.15, 0.85, 29) if fractions is None else np.asarray(fractions, np.float64).ravel()
    n = len(segs)

    def centre(e: int, t: float) -> np.ndarray:
        return segs[e, 0] + t * (segs[e, 1] - segs[e, 0])

    def clearance(e: int, t: float, chosen: np.ndarray) -> float:
        r = _box_at(centre(e, t), box)
        d = [box_segment_distance(r, *segs[f]) for f in range(n) if f != e]
        d += [box_box_distance(r, o) for o in obstacles]
        d += [box_box_distance(r, _box_at(centre(f, chosen[f]), box)) for f in range(n) if f != e]
        return min(d, default=math.inf)

    chosen = np.full(n, ts[np.argmin(np.abs(ts - 0.5))])
    for _ in range(sweeps):
        changed = False
        for e in range(n):
            score = [clearance(e, t, chosen) - 1e-3 * abs(t - 0.5) for t in ts]
            t = ts[int(np.argmax(score))]
            changed |= bool(t != chosen[e])
            chosen[e] = t
        if not changed:
            break
    return np.stack([centre(e, chosen[e]) for e in range(n)]) if n else np.zeros((0, 2))


def network_geometry(sizes: Sequence[int]) -> dict[str, Any]:
    """Where :func:`plot_network` draws a net of these layer sizes (data units, equal aspect).

    Returns ``nodes`` (per layer, ``(n_l, 2)``), ``edges`` (a list of
    ``(l, j, i)``: ``W_l[j, i]`` joins unit ``i`` of layer ``l-1`` to unit
    ``j`` of layer ``l``), ``segments`` ``(E, 2, 2)``, ``obstacles`` (node and
    node-text boxes) and ``labels`` ``(E, 2)``, the edge labels' centres from
    :func:`edge_label_positions` with :data:`EDGE_LABEL_BOX`.
    """
    nodes = network_layout(sizes)
    edges = [(l, j, i) for l in range(1, len(sizes)) for j in range(sizes[l]) for i in range(sizes[l - 1])]
    segments = np.array([(nodes[l - 1][i], nodes[l][j]) for l, j, i in edges], np.float64).reshape(-1, 2, 2)
    r = NODE_RADIUS
    obstacles: list[Box] = [(x - r, y - r, x + r, y + r) for layer in nodes for x, y in layer]
    w, h = NODE_TEXT_BOX
    obstacles += [
        (x - w / 2, y - _NODE_TEXT_TOP - h, x + w / 2, y - _NODE_TEXT_TOP) for layer in nodes[1:] for x, y in layer
    ]
    labels = edge_label_positions(segments, EDGE_LABEL_BOX, obstacles=obstacles)
    return {"nodes": nodes, "edges": edges, "segments": segments, "obstacles": obstacles, "labels": labels}


# ---------------------------------------------------------------- the network picture: drawing
def network_figure(
    numbers: Mapping[str, Any], *, title: str | None = None, activation: str = "relu"
) -> tuple[Any, list[Any]]:
    """The :func:`plot_network` figure, not saved, and its edge-label ``Text`` artists (in ``network_geometry`` order)."""
    before, after, grads = numbers["params_before"], numbers["params_after"], numbers["grads"]
    trace = numbers["trace_before"]
    n_layers = layer_count(before, "params_before")
    W = [np.asarray(before[k], np.float64) for k in param_keys(n_layers)[::2]]
    sizes = [W[0].shape[1]] + [w.shape[0] for w in W]
    z = [np.asarray(trace[f"z{l}"], np.float64).reshape(-1) for l in range(1, n_layers + 1)]
    x = numbers.get("x")
    gmax = max(float(np.max(np.abs(np.asarray(grads[k], np.float64)))) for k in param_keys(n_layers)) or 1.0
    slope = activation_named(activation).grad
    # a hidden unit whose activation has zero slope passes no gradient back: drawn grey, its edges dashed
    inactive = [
        np.asarray(slope(jnp.asarray(z[l - 1]))) == 0 if 0 < l < len(sizes) - 1 else np.zeros(n, bool)
        for l, n in enumerate(sizes)
    ]

    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import TwoSlopeNorm

    geo = network_geometry(sizes)
    nodes = geo["nodes"]
    cmap, norm = colormaps["coolwarm"], TwoSlopeNorm(0.0, -gmax, gmax)
    top = float(max(np.max(p[:, 1]) for p in nodes))
    xlim = (-0.9, LAYER_SPACING * (len(sizes) - 1) + 0.9)
    ylim = (-top - _NODE_TEXT_TOP - NODE_TEXT_BOX[1] - 0.2, top + 0.45)
    inch = 1.15  # per data unit; the figure is the axes (equal aspect) plus the colour bar and the title
    fig = _figure((inch * (xlim[1] - xlim[0]) + 1.6, inch * (ylim[1] - ylim[0]) + 0.7))
    ax = fig.add_subplot()
    ax.set_axis_off()
    box = {"boxstyle": "round,pad=0.25", "fc": "white", "ec": "0.75", "alpha": 0.92}
    labels = []
    keys = param_keys(n_layers)  # W_l is keys[2l - 2], b_l is keys[2l - 1]
    for (l, j, i), (a, b), c in zip(geo["edges"], geo["segments"], geo["labels"]):
        wb, wa, gw = (float(np.asarray(d[keys[2 * l - 2]], np.float64)[j, i]) for d in (before, after, grads))
        dead = bool(inactive[l][j] or inactive[l - 1][i])
        g = gw + 0.0  # no "-0.0000"
        ax.plot(
            [a[0], b[0]],
            [a[1], b[1]],
            color="0.72" if dead else cmap(norm(g)),
            lw=1.0 + 6.0 * abs(g) / gmax,
            ls=(0, (4, 3)) if dead else "-",
            zorder=1,
        )
        labels.append(
            ax.text(
                c[0],
                c[1],
                f"$w^{{({l})}}_{{{j + 1}{i + 1}}}$  {wb:.4f} → {wa:.4f}\ngrad {g:+.4f}",
                ha="center",
                va="center",
                fontsize=8,
                zorder=3,
                color="0.5" if dead else "black",
                bbox=box,
            )
        )

    for l, n in enumerate(sizes):
        for j in range(n):
            cx, cy = nodes[l][j]
            dead = bool(inactive[l][j])
            ax.add_patch(
                _circle(
                    (cx, cy),
                    NODE_RADIUS,
                    fc="0.88" if dead else ("#cfe8cf" if l == 0 else "#fde9b8"),
                    ec="0.55" if dead else "black",
                )
            )
            if l == 0:
                name = f"$x_{j + 1}$" + (f"\n{float(np.ravel(x)[j]):g}" if x is not None else "")
            elif l == len(sizes) - 1:
                name = f"$\\hat y_{j + 1}$" if n > 1 else "$\\hat y$"
            else:
                name = f"$h_{j + 1}$"
            ax.text(cx, cy, name, ha="center", va="center", fontsize=10, zorder=5, color="0.45" if dead else "black")
            if l == 0:
                continue
            b0, b1, gb = (float(np.asarray(d[keys[2 * l - 1]], np.float64)[j]) + 0.0 for d in (before, after, grads))
            lines = [f"z = {z[l - 1][j]:+.4f}" + (f"  ({activation} inactive)" if dead else "")]
            if l == len(sizes) - 1:
                lines.append(f"ŷ = {float(np.ravel(trace['y_hat'])[j]):.4f}")
            lines += [f"$b^{{({l})}}_{{{j + 1}}}$  {b0:.4f} → {b1:.4f}", f"grad {gb:+.4f}"]
            ax.text(
                cx,
                cy - _NODE_TEXT_TOP,
                "\n".join(lines),
                ha="center",
                va="top",
                fontsize=8,
                zorder=5,
                color="0.45" if dead else "black",
            )

    loss = ""
    if "loss_before" in numbers and "loss_after" in numbers:
        loss = f"   loss {float(numbers['loss_before']):.6f} → {float(numbers['loss_after']):.6f}"
    ax.set_title((title or "one gradient step: weight before → after, gradient") + loss, fontsize=11)
    ax.set_aspect("equal")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.text(
        0.0,
        0.0,
        f"grey, dashed: a hidden unit where {activation}'(z) = 0 (inactive): no gradient flows through it, "
        "its weights do not move.   Colour: sign of the gradient (red +, the step lowers the weight).",
        transform=ax.transAxes,
        fontsize=8,
        color="0.3",
        va="bottom",
    )
    fig.colorbar(
        ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.6, label="gradient ∂L/∂w (edge width ∝ |gradient|)"
    )
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
    >>> plot_network(walkthrough_numbers(), os.path.join(tempfile.mkdtemp(), "net.png"))
    """
    fig, _ = network_figure(numbers, title=title, activation=activation)
    fig.savefig(os.fspath(path), dpi=120)

"""The network picture's geometry (pure numpy, no matplotlib): where :func:`jaxnet.plotting.plot_network` puts
nodes, edges and edge labels.

Layer ``l`` sits at ``x = l * LAYER_SPACING``, its units ``NODE_GAP`` apart
around ``y = 0``. Each edge's label goes on that edge at the fraction ``t`` of
its length that leaves it farthest from every other edge, label, node and
node text (:func:`edge_label_positions`, coordinate ascent on the
clearance). All distances are Euclidean in data units, so the axes draw with
an equal aspect.

>>> geo = network_geometry((2, 3, 1))
>>> len(geo["edges"]), geo["labels"].shape
(9, (9, 2))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "box_box_distance",
    "box_segment_distance",
    "edge_label_positions",
    "network_frame",
    "network_geometry",
    "network_layout",
]

Box = tuple[float, float, float, float]  # (x0, y0, x1, y1), x0 <= x1, y0 <= y1

# The network picture's geometry, in data units (the axes have an equal aspect, so a unit is the same length on
# both axes). EDGE_LABEL_BOX is the size of an edge label with its frame, measured at 8 pt and checked by a test.
LAYER_SPACING, NODE_GAP, NODE_RADIUS = 5.0, 2.0, 0.32
EDGE_LABEL_BOX = (1.28, 0.46)
NODE_TEXT_BOX = (1.8, 0.75)  # the z / bias / gradient text under a hidden or output node
NODE_TEXT_TOP = 0.38  # that text starts this far below the node's centre


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

    >>> segs = [[(0, 1), (4, -1)], [(0, -1), (4, 1)]]  # crossing at (2, 0)
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
        (x - w / 2, y - NODE_TEXT_TOP - h, x + w / 2, y - NODE_TEXT_TOP) for layer in nodes[1:] for x, y in layer
    ]
    labels = edge_label_positions(segments, EDGE_LABEL_BOX, obstacles=obstacles)
    return {"nodes": nodes, "edges": edges, "segments": segments, "obstacles": obstacles, "labels": labels}


def network_frame(nodes: Sequence[np.ndarray]) -> tuple[tuple[float, float], tuple[float, float]]:
    """The axes' ``(xlim, ylim)`` around the nodes of :func:`network_layout`, with room for the text under them.

    >>> network_frame(network_layout((2, 1)))
    ((-0.9, 5.9), (-2.33, 1.45))
    """
    top = float(max(np.max(p[:, 1]) for p in nodes))
    xlim = (-0.9, LAYER_SPACING * (len(nodes) - 1) + 0.9)
    ylim = (-top - NODE_TEXT_TOP - NODE_TEXT_BOX[1] - 0.2, top + 0.45)
    return xlim, ylim

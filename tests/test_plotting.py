"""jaxnet.plotting: edge labels each on their own edge, clear of other edges and labels (issue 12, the walkthrough
picture); loss curves with a faint raw line under a moving average, an epoch axis and validation points (issue 13);
keys read only through jaxnet.network (issue 10)."""

import doctest
import itertools
import pathlib

import numpy as np
import pytest

from jaxnet import _plot_geometry as G
from jaxnet import plotting as P

PNG = b"\x89PNG\r\n\x1a\n"
CLEAR_SIZES = [(2, 3, 1), (2, 2, 1), (3, 2, 1), (2, 3, 2), (1, 2, 1), (2, 4, 1)]  # the walkthrough's net and its size


@pytest.fixture(scope="module")
def numbers():
    """The worked example's numbers (computed once: each call compiles its steps)."""
    from jaxnet.walkthrough import walkthrough_numbers

    return walkthrough_numbers()


def _label_box(centre):
    return G._box_at(np.asarray(centre), G.EDGE_LABEL_BOX)


@pytest.mark.parametrize("sizes", CLEAR_SIZES)
@pytest.mark.slow
def test_each_edge_label_sits_on_its_own_edge_where_no_other_edge_or_label_passes(sizes):
    geo = G.network_geometry(sizes)
    segs, labels = geo["segments"], geo["labels"]
    assert len(labels) == len(geo["edges"]) == sum(a * b for a, b in itertools.pairwise(sizes))
    for e, c in enumerate(labels):
        assert G._point_segment_distance(c[None], *segs[e])[0] < 1e-12  # on its own edge
        box = _label_box(c)
        for f in range(len(segs)):
            if f != e:
                # no other edge passes through the label's frame, nor within 0.05 of it (an edge ~ 0.03 wide)
                assert G.box_segment_distance(box, *segs[f]) >= 0.05, (geo["edges"][e], geo["edges"][f])
                assert G.box_box_distance(box, _label_box(labels[f])) > 0.05, (geo["edges"][e], geo["edges"][f])
        for obstacle in geo["obstacles"]:  # nodes and the text under them
            assert G.box_box_distance(box, obstacle) > 0.05


def test_walkthrough_labels_are_not_stacked_and_not_on_the_crossings():
    """The reported bug: six input->hidden labels in one column; w22 and w31 on the x2->h2 / x1->h3 crossing."""
    geo = G.network_geometry((2, 3, 1))
    first = np.array([c for (l, _, _), c in zip(geo["edges"], geo["labels"]) if l == 1])
    assert len(np.unique(first.round(6), axis=0)) == 6
    segs = {edge: s for edge, s in zip(geo["edges"], geo["segments"])}
    crossings = []
    for (_e, (a, b)), (_f, (c, d)) in itertools.combinations(segs.items(), 2):
        m = np.column_stack([b - a, c - d])
        if abs(np.linalg.det(m)) > 1e-12:
            t, u = np.linalg.solve(m, c - a)
            if 1e-9 < t < 1 - 1e-9 and 1e-9 < u < 1 - 1e-9:  # not at a shared node
                crossings.append(a + t * (b - a))
    assert len(crossings) == 3  # x1-h2 x x2-h1, x1-h3 x x2-h1, x1-h3 x x2-h2
    for p in crossings:
        for c in geo["labels"]:
            x0, y0, x1, y1 = _label_box(c)
            assert not (x0 <= p[0] <= x1 and y0 <= p[1] <= y1)


@pytest.mark.slow
def test_rendered_labels_fit_the_boxes_the_placement_planned_for(numbers):
    """The geometric test above is about the real picture only if each drawn label (frame included) fits EDGE_LABEL_BOX."""
    pytest.importorskip("matplotlib")
    fig, texts = P.network_figure(numbers)
    fig.draw_without_rendering()
    renderer = fig._get_renderer()
    to_data = fig.axes[0].transData.inverted()
    planned = G.network_geometry((2, 3, 1))["labels"]
    assert len(texts) == len(planned) == 9
    for text, centre in zip(texts, planned):
        np.testing.assert_allclose(text.get_position(), centre)
        bb = text.get_bbox_patch().get_window_extent(renderer)
        (x0, y0), (x1, y1) = to_data.transform([[bb.x0, bb.y0], [bb.x1, bb.y1]])
        w, h = G.EDGE_LABEL_BOX
        assert x1 - x0 <= w and y1 - y0 <= h, (x1 - x0, y1 - y0)
        np.testing.assert_allclose([(x0 + x1) / 2, (y0 + y1) / 2], centre, atol=0.02)


def test_box_distances_match_brute_force_sampling():
    rng = np.random.default_rng(0)
    for _ in range(200):
        x0, y0 = rng.uniform(-2, 2, 2)
        box = (x0, y0, x0 + rng.uniform(0.1, 2), y0 + rng.uniform(0.1, 2))
        a, b = rng.uniform(-4, 4, (2, 2))
        ts = np.linspace(0, 1, 4001)[:, None]
        pts = a + ts * (b - a)
        dx = np.maximum(np.maximum(box[0] - pts[:, 0], pts[:, 0] - box[2]), 0)
        dy = np.maximum(np.maximum(box[1] - pts[:, 1], pts[:, 1] - box[3]), 0)
        assert G.box_segment_distance(box, a, b) == pytest.approx(np.hypot(dx, dy).min(), abs=3e-3)
        other = (box[0] + rng.uniform(-3, 3), box[1] + rng.uniform(-3, 3))
        other = other + (other[0] + 0.5, other[1] + 0.5)
        xs, ys = np.linspace(other[0], other[2], 201), np.linspace(other[1], other[3], 201)
        gx, gy = np.meshgrid(xs, ys)
        ddx = np.maximum(np.maximum(box[0] - gx, gx - box[2]), 0)
        ddy = np.maximum(np.maximum(box[1] - gy, gy - box[3]), 0)
        assert G.box_box_distance(box, other) == pytest.approx(np.hypot(ddx, ddy).min(), abs=1e-9)


def test_edge_label_positions_refuses_a_bad_shape():
    with pytest.raises(ValueError, match=r"segments: expected shape \(E, 2, 2\), got \(3, 2\)"):
        P.edge_label_positions(np.zeros((3, 2)), (1.0, 0.3))


def test_network_picture_reads_keys_through_the_network_table(tmp_path, numbers):
    pytest.importorskip("matplotlib")
    bad = dict(numbers, params_before=dict(numbers["params_before"], W9=np.zeros((1, 1))))
    with pytest.raises(ValueError, match="params_before: .*missing key"):
        P.plot_network(bad, tmp_path / "n.png")
    for module in (P, G):
        source = pathlib.Path(module.__file__).read_text()
        assert 'f"W{' not in source and 'f"b{' not in source and "startswith(" not in source


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.slow
def test_plot_network_writes_a_png(tmp_path, numbers, activation):
    pytest.importorskip("matplotlib")
    P.plot_network(numbers, tmp_path / "n.png", activation=activation)
    assert (tmp_path / "n.png").read_bytes()[:8] == PNG


def test_ema_is_the_bias_corrected_average():
    v = np.array([4.0, 1.0, 2.0, 8.0])
    np.testing.assert_array_equal(P.ema(v, 0.0), v)
    np.testing.assert_allclose(P.ema(np.full(50, 3.0), 0.9), 3.0, rtol=1e-14)
    beta = 0.7
    for k in range(v.size):
        w = beta ** np.arange(k, -1, -1)  # weights of v_0..v_k
        assert P.ema(v, beta)[k] == pytest.approx(np.sum(w * v[: k + 1]) / np.sum(w), rel=1e-14)
    np.testing.assert_allclose(P.ema(v, beta, log=True), np.exp(P.ema(np.log(v), beta)), rtol=1e-14)
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match=r"beta: expected a (finite )?number in \[0, 1\), got"):
            P.ema(v, bad)
    with pytest.raises(TypeError, match="beta: expected a number in .*got True"):
        P.ema(v, True)
    with pytest.raises(ValueError, match="values: expected positive values with log=True, got 0.0"):
        P.ema([1.0, 0.0], 0.5, log=True)


def _minibatch_history(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    step = np.arange(n)
    loss = 2.0 * np.exp(-step / 400) * rng.lognormal(0.0, 1.0, n)  # three decades of minibatch noise
    return {
        "step": step,
        "loss": loss,
        "val_step": np.arange(200, n + 1, 200),
        "val_loss": 2.0 * np.exp(-np.arange(200, n + 1, 200) / 400) + 0.01,
    }


def test_minibatch_loss_is_a_faint_raw_line_under_its_moving_average_with_an_epoch_axis():
    pytest.importorskip("matplotlib")
    h = _minibatch_history()
    fig = P.loss_figure(h, steps_per_epoch=40, ylabel="cross-entropy")
    ax = fig.axes[0]
    raw, smooth, val = ax.get_lines()[:3]
    np.testing.assert_array_equal(raw.get_ydata(), h["loss"])
    assert raw.get_alpha() < 0.5 and smooth.get_alpha() in (None, 1.0) and smooth.get_linewidth() > raw.get_linewidth()
    np.testing.assert_allclose(smooth.get_ydata(), P.ema(h["loss"], 1 - 50 / 2000, log=True))
    assert np.std(np.diff(np.log(smooth.get_ydata()))) < 0.1 * np.std(np.diff(np.log(h["loss"])))
    np.testing.assert_array_equal(val.get_xdata(), h["val_step"])  # validation: points at val_step
    assert val.get_marker() == "o"
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "cross-entropy" and ax.get_xlabel() == "step"
    lo, hi = ax.get_ylim()
    assert lo > h["loss"].min() and hi < h["loss"].max()  # the rare raw spikes do not set the scale
    epoch = [c for c in ax.child_axes if c.get_xlabel() == "epoch"]
    assert len(epoch) == 1
    assert epoch[0]._functions[0](np.array([400.0]))[0] == 10.0  # step 400 is epoch 10


def test_full_batch_loss_is_one_unsmoothed_line_without_an_epoch_axis():
    pytest.importorskip("matplotlib")
    fig = P.loss_figure(
        {"step": [0, 1, 2, 3], "loss": [0.7, 0.5, 0.45, 0.44], "val_step": [2, 4], "val_loss": [0.5, 0.48]}
    )
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 2 and lines[0].get_alpha() in (None, 1.0)
    np.testing.assert_array_equal(lines[0].get_ydata(), [0.7, 0.5, 0.45, 0.44])
    assert ax.child_axes == [] and ax.get_yscale() == "linear" and ax.get_ylabel() == "loss"


def test_best_step_is_marked_with_a_labelled_vertical_line():
    pytest.importorskip("matplotlib")
    fig = P.loss_figure(_minibatch_history(), steps_per_epoch=40, best_step=1200, best_label="restored best step")
    ax = fig.axes[0]
    marks = [line for line in ax.get_lines() if line.get_label() == "restored best step 1200"]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [1200.0, 1200.0]
    assert "restored best step 1200" in [t.get_text() for t in ax.get_legend().get_texts()]


@pytest.mark.parametrize(
    ("history", "kwargs", "match"),
    [
        ({"step": [0, 1], "loss": [0.5]}, {}, "history: expected non-empty 'step' and 'loss' of one length"),
        ({"step": [], "loss": []}, {}, "history: expected non-empty"),
        (
            {"step": [0, 1], "loss": [0.5, 0.4], "val_step": [1, 2], "val_loss": [0.3]},
            {},
            "history: expected 'val_step' and 'val_loss' of one length",
        ),
        (
            {"step": [0, 1], "loss": [0.5, 0.4]},
            {"steps_per_epoch": 0},
            r"steps_per_epoch: expected a positive integer .*got 0",
        ),
        (
            {"step": [0, 1], "loss": [0.5, 0.4]},
            {"smoothing": 1.0},
            r"smoothing: expected a number in \[0, 1\), got 1.0",
        ),
        ({"step": [0, 1], "loss": [0.5, float("nan")]}, {"smoothing": -0.5}, "smoothing: expected a number in"),
    ],
)
def test_plot_loss_refuses_bad_input_by_name(tmp_path, history, kwargs, match):
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match=match):
        P.plot_loss(history, tmp_path / "l.png", **kwargs)
    assert not (tmp_path / "l.png").exists()


def test_plot_loss_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    P.plot_loss(_minibatch_history(), tmp_path / "l.png", steps_per_epoch=40, best_step=800)
    assert (tmp_path / "l.png").read_bytes()[:8] == PNG


@pytest.mark.slow
def test_docstring_examples():
    pytest.importorskip("matplotlib")
    for module in (P, G):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0 and result.attempted >= 4, module.__name__

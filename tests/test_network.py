"""Every activation x every head of the one table (jaxnet.network): the hand-derived backward pass.

The parameter lists are the tables themselves, so a new entry in
``ACTIVATIONS`` or ``HEADS`` is tested here without editing this file.

* ``manual_grads`` (the delta recursion) equals ``grads`` (autodiff) to 1e-12
  (float64, scale-aware) and both equal central differences (``numerical_grads``)
  to 1e-6, keeping hidden pre-activations away from the kinks of relu/leaky_relu;
* each activation's ``.grad`` is ``jax.grad`` of its ``.fn``; each head's output
  delta ``g(z) - y`` is ``jax.grad`` of its loss;
* each head's loss is its documented formula; the seed's golden loss is unchanged.

The fixed cases give every combination the four-layer shape; one hypothesis sweep
draws the combination and the depth, widths, batch, weights and label kind. Both compile
gradient programs per case and are slow; the formula checks are quick.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import jaxnet
from jaxnet.network import ACTIVATIONS, HEADS

pytestmark = pytest.mark.filterwarnings("ignore::jaxnet.NumericalPrecisionWarning")

COMBOS = list(itertools.product(sorted(ACTIVATIONS), sorted(HEADS)))
KINKED = {name for name, act in ACTIVATIONS.items() if act.kinks}  # derivative jumps there (relu, leaky_relu)
KINK = 1e-3  # finite differences need every hidden |z| at least this far from 0
EXACT = 1e-12  # manual vs autodiff, float64, times max(1, |g|)
CENTRAL = 1e-6  # central differences vs either exact path, times max(1, |g|)


def make_case(seed, sizes, batch, head, soft, weighted):
    """``(params, x, y, w)`` in float64 from numpy's RNG (no per-shape compilation while drawing)."""
    rng = np.random.default_rng(seed)
    params = {}
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{l}"] = jnp.asarray(rng.normal(0, np.sqrt(2 / n_in), (n_out, n_in)))
        params[f"b{l}"] = jnp.asarray(rng.normal(0, 0.3, (n_out,)))
    x = jnp.asarray(rng.normal(size=(batch, sizes[0])))
    n_out = sizes[-1]
    if head == "softmax":
        if soft:  # probability rows (N, C) that sum to 1
            p = rng.uniform(0.05, 1.0, (batch, n_out))
            y = p / p.sum(axis=1, keepdims=True)
        else:  # integer classes (N,)
            y = rng.integers(0, n_out, batch)
    elif head == "sigmoid":
        y = rng.uniform(size=(batch, n_out)) if soft else rng.integers(0, 2, (batch, n_out)).astype(np.float64)
        if n_out == 1 and not soft:
            y = y[:, 0]  # (N,) labels are allowed with one output
    else:  # identity: any real target
        y = rng.normal(0, 3.0, (batch, n_out))
    w = None
    if weighted:
        w = rng.uniform(0.0, 2.0, batch)
        w[0] = max(w[0], 0.1)  # at least one positive weight
        if batch > 2:
            w[1] = 0.0  # a zero weight is allowed and must drop its example
    return params, x, jnp.asarray(y), None if w is None else jnp.asarray(w)


# numpy forms of the kinked activations, for the kink check only: jaxnet.forward_trace compiled one more program
# per case (~0.35 s of CPU each; this check runs before every relu/leaky_relu case and every rejected draw)
HOST_FN = {"relu": lambda z: np.maximum(z, 0.0), "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z)}
assert KINKED <= set(HOST_FN), "a new kinked activation needs its numpy form here"


def min_hidden_abs_z(params, x, activation, head):
    """min |z_l| over hidden layers, ``z_l = a_{l-1} W_l^T + b_l``, in numpy on the host (no compilation)."""
    L = jaxnet.network.depth(params)
    a, zs = np.asarray(x), []
    for l in range(1, L):
        zs.append(a @ np.asarray(params[f"W{l}"]).T + np.asarray(params[f"b{l}"]))
        a = HOST_FN[activation](zs[-1])
    return min((float(np.min(np.abs(z))) for z in zs), default=np.inf)


def assert_tree_close(got, want, tol, what):
    assert got.keys() == want.keys()
    for k in want:
        g, w = np.asarray(got[k]), np.asarray(want[k])
        assert g.shape == w.shape and g.dtype == w.dtype == np.float64, (what, k)
        scale = max(1.0, float(np.max(np.abs(w))))
        np.testing.assert_allclose(g, w, rtol=0, atol=tol * scale, err_msg=f"{what} {k}")


def check_three_paths(activation, head, params, x, y, w):
    kw = dict(activation=activation, head=head)
    auto = jaxnet.grads(params, x, y, w, **kw)
    manual = jaxnet.manual_grads(params, x, y, w, **kw)
    assert_tree_close(manual, auto, EXACT, f"manual vs autodiff ({activation}, {head})")
    for k in auto:
        assert np.all(np.isfinite(auto[k])), k
    if activation in KINKED and min_hidden_abs_z(params, x, activation, head) < KINK:
        return False  # central differences are not valid across a kink
    numerical = jaxnet.numerical_grads(params, x, y, sample_weight=w, **kw)
    assert_tree_close(numerical, auto, CENTRAL, f"central differences vs autodiff ({activation}, {head})")
    assert_tree_close(numerical, manual, CENTRAL, f"central differences vs manual ({activation}, {head})")
    return True


# Fixed cases: every activation x head once, on the four-layer net (a width-1 layer) that runs the delta
# recursion through every hidden layer. Label kind and weighting enter only the output delta (the head's
# r_n (g(z) - y)), never the hidden recursion, so they rotate over the activations: every head gets hard and
# soft labels, weighted and not. Depths 1-3, batch 1, width-1 inputs and outputs come from the hypothesis sweep
# (its explicit examples pin a two-layer batch-1 case). Before, a second fixed row (2-layer, batch 1, hard,
# unweighted) for each of the 18 pairs compiled 18 more sets of gradient programs (~25 s) for those factors.
LABELS = [(False, False), (True, True), (True, False), (False, True)]  # (soft, weighted)
FIXED = [
    (activation, head, *LABELS[(a + h) % len(LABELS)])
    for a, activation in enumerate(sorted(ACTIVATIONS))
    for h, head in enumerate(sorted(HEADS))
]
assert {(head, *kind) for _, head, *kind in FIXED} == {(head, *kind) for head in HEADS for kind in LABELS}


@pytest.mark.parametrize("activation,head,soft,weighted", FIXED)
@pytest.mark.slow
def test_three_gradient_paths_agree_fixed_cases(activation, head, soft, weighted):
    n_out = 3 if head == "softmax" else 2
    params, x, y, w = make_case(1, (4, 5, 1, 3, n_out), 7, head, soft, weighted)
    for _ in range(5):  # move hidden biases off the kinks deterministically if needed
        if activation not in KINKED or min_hidden_abs_z(params, x, activation, head) >= KINK:
            break
        params = {
            k: v + 0.013 if k.startswith("b") and k != f"b{jaxnet.network.depth(params)}" else v
            for k, v in params.items()
        }
    assert check_three_paths(activation, head, params, x, y, w)


HIDDEN = ((), (1,), (3,), (5, 3), (8, 1, 4), (2, 7, 3))  # depths 1-4 (no hidden layer: a linear model)


@st.composite
def problems(draw):
    activation, head = draw(st.sampled_from(COMBOS))
    min_out = 2 if head == "softmax" else 1
    sizes = (draw(st.sampled_from((1, 4))), *draw(st.sampled_from(HIDDEN)), draw(st.sampled_from((min_out, 3))))
    batch = draw(st.sampled_from((1, 2, 16)))
    return activation, head, draw(st.integers(0, 2**32 - 1)), sizes, batch, draw(st.booleans()), draw(st.booleans())


@pytest.mark.slow
@settings(max_examples=24, deadline=None, derandomize=True)  # the fixed cases cover every pair
@given(problems())
@example(("tanh", "softmax", 0, (4, 3, 3), 1, False, False))  # two layers, one example, integer class, unweighted
@example(("gelu", "softmax", 2, (4, 8, 1, 4, 3), 16, False, True))  # the four-layer case, hard labels, weighted
def test_three_gradient_paths_agree_hypothesis(problem):
    activation, head, seed, sizes, batch, soft, weighted = problem
    params, x, y, w = make_case(seed, sizes, batch, head, soft, weighted)
    assume(activation not in KINKED or min_hidden_abs_z(params, x, activation, head) >= KINK)
    assert check_three_paths(activation, head, params, x, y, w)


GRID = np.concatenate(
    [
        [0.0, -0.0, 1e-300, -1e-300, 1e-8, -1e-8, 0.5, -0.5, 3.0, -3.0, 30.0, -30.0, 1e3, -1e3, 1e8, -1e8],
        np.linspace(-6, 6, 97),
    ]
)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.slow
def test_activation_grad_is_the_derivative_of_fn(name):
    act = ACTIVATIONS[name]
    z = jnp.asarray(GRID)
    want = np.asarray(jax.vmap(jax.grad(act.fn))(z))
    got = np.asarray(act.grad(z))
    assert got.shape == want.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=0, atol=EXACT, err_msg=name)
    assert np.all(np.isfinite(np.asarray(act.fn(z)))), name


def test_relu_derivative_is_zero_at_zero_and_leaky_relu_slope():
    assert float(ACTIVATIONS["relu"].grad(jnp.array(0.0))) == 0.0
    assert float(ACTIVATIONS["leaky_relu"].fn(jnp.array(-2.0))) == -0.02
    assert float(ACTIVATIONS["leaky_relu"].grad(jnp.array(-2.0))) == 0.01


def head_labels(head, z, rng):
    if head == "softmax":
        p = rng.uniform(0.0, 1.0, z.shape)
        return p / p.sum(axis=-1, keepdims=True)  # labels that sum to 1
    if head == "sigmoid":
        return rng.uniform(0.0, 1.0, z.shape)
    return rng.normal(0, 5.0, z.shape)


@pytest.mark.parametrize("head", sorted(HEADS))
@pytest.mark.slow
def test_head_delta_is_the_gradient_of_its_loss(head):
    rng = np.random.default_rng(7)
    z = np.concatenate(
        [rng.normal(0, 3, (20, 4)), [[0.0, 0.0, 0.0, 0.0], [40.0, -40.0, 0.5, 1.0], [700.0, -700.0, 0.0, 3.0]]]
    )
    y = head_labels(head, z, rng)
    h = HEADS[head]
    z, y = jnp.asarray(z), jnp.asarray(y)
    want = np.asarray(jax.grad(lambda z: jnp.sum(h.loss(z, y)))(z))
    got = np.asarray(h.output(z) - y)
    np.testing.assert_allclose(got, want, rtol=0, atol=EXACT, err_msg=head)
    assert np.all(np.isfinite(np.asarray(h.loss(z, y)))), head


def logits_of(params, x, activation, head):
    trace = jaxnet.forward_trace(params, x, activation=activation, head=head)
    return np.asarray(trace[f"z{jaxnet.network.depth(params)}"])


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_identity_head_loss_is_half_mse(activation):
    params, x, y, _ = make_case(3, (3, 5, 2), 9, "identity", True, False)
    z = logits_of(params, x, activation, "identity")
    want = np.sum((z - np.asarray(y)) ** 2) / (2 * 9 * 2)
    got = float(jaxnet.loss(params, x, y, activation=activation, head="identity"))
    assert got == pytest.approx(want, rel=EXACT, abs=0)


@pytest.mark.parametrize("soft", [False, True])
def test_softmax_loss_is_cross_entropy(soft):
    params, x, y, _ = make_case(4, (3, 6, 4), 11, "softmax", soft, False)
    z = logits_of(params, x, "tanh", "softmax")
    log_p = (
        z
        - np.log(np.sum(np.exp(z - z.max(axis=1, keepdims=True)), axis=1, keepdims=True))
        - z.max(axis=1, keepdims=True)
    )
    rows = np.asarray(y) if soft else np.eye(4)[np.asarray(y)]
    want = -np.sum(rows * log_p) / 11
    got = float(jaxnet.loss(params, x, y, activation="tanh", head="softmax"))
    assert got == pytest.approx(want, rel=EXACT, abs=0)


@pytest.mark.slow
def test_sigmoid_loss_is_todays_bce():
    params, x, y, _ = make_case(5, (3, 4, 2), 8, "sigmoid", True, False)
    z = logits_of(params, x, "relu", "sigmoid")
    p, t = 1 / (1 + np.exp(-z)), np.asarray(y)
    want = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    assert float(jaxnet.loss(params, x, y)) == pytest.approx(want, rel=EXACT, abs=0)
    assert float(jnp.mean(jaxnet.bce(y, jnp.asarray(p)))) == pytest.approx(want, rel=1e-10, abs=0)


def test_seed_golden_loss_unchanged_under_defaults():
    params, x, y = jaxnet.seed_example(jnp.float64)
    assert float(jaxnet.loss(params, x, y)) == pytest.approx(0.6573131577049656, rel=0, abs=1e-12)
    explicit = jaxnet.loss(params, x, y, activation="relu", head="sigmoid")
    assert float(explicit) == float(jaxnet.loss(params, x, y))


@pytest.mark.parametrize("head", sorted(HEADS))
@pytest.mark.slow
def test_equal_sample_weights_give_the_unweighted_mean(head):
    params, x, y, _ = make_case(6, (3, 4, 3), 5, head, True, False)
    w = jnp.full((5,), 2.5)
    kw = dict(activation="gelu", head=head)
    assert float(jaxnet.loss(params, x, y, w, **kw)) == pytest.approx(float(jaxnet.loss(params, x, y, **kw)), rel=1e-14)
    assert_tree_close(jaxnet.manual_grads(params, x, y, w, **kw), jaxnet.grads(params, x, y, **kw), EXACT, head)


def test_evaluate_identity_scores_are_rmse_and_r2():
    # Under the tests' rank_promotion="raise", evaluate(head="identity") raised from rows - mean(rows, axis=0).
    params, x, y, _ = make_case(8, (3, 5, 2), 9, "identity", True, False)
    z = logits_of(params, x, "tanh", "identity")
    t = np.asarray(y)
    got = jaxnet.evaluate(params, x, y, activation="tanh", head="identity")
    assert got["rmse"] == pytest.approx(np.sqrt(np.mean((z - t) ** 2)), rel=EXACT)
    r2 = np.mean(1 - np.sum((z - t) ** 2, axis=0) / np.sum((t - t.mean(axis=0)) ** 2, axis=0))
    assert got["r2"] == pytest.approx(r2, rel=1e-10)
    assert got["loss"] == pytest.approx(float(jaxnet.loss(params, x, y, activation="tanh", head="identity")), rel=0)

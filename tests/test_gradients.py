"""jaxnet.gradients: batch means, sample weights, the eps argument and check_grads (the three gradient paths agree
for every activation, head, depth and batch in tests/test_network.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnet

KINK = 1e-3  # keep every hidden pre-activation this far from ReLU's kink at 0


def away_from_kinks(params, x):
    """Shift hidden biases so no hidden pre-activation lies within KINK of 0 (finite differences need it)."""
    trace = jaxnet.forward_trace(params, x)
    L = jaxnet.network.depth(params)
    params = dict(params)
    for l in range(1, L):
        z = jnp.atleast_2d(trace[f"z{l}"])
        near = jnp.any(jnp.abs(z) < KINK, axis=0)
        params[f"b{l}"] = params[f"b{l}"] + jnp.where(near, 10 * KINK, 0).astype(z.dtype)
        trace = jaxnet.forward_trace(params, x)
    return params


def assert_tree_close(a, b, atol, rtol=0.0):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        np.testing.assert_allclose(
            np.asarray(a[k], np.float64), np.asarray(b[k], np.float64), atol=atol, rtol=rtol, err_msg=k
        )


@pytest.mark.slow
def test_gradient_result_dtype_is_params_dtype():
    for dtype in (jnp.float32, jnp.float64):
        params = jaxnet.init_mlp(jax.random.key(0), (3, 4, 2), dtype=dtype)
        x = np.ones((5, 3))  # float64 data is cast to the params' dtype at the boundary
        y = np.zeros((5, 2))
        for f in (jaxnet.grads, jaxnet.manual_grads, jaxnet.numerical_grads):
            assert all(v.dtype == dtype for v in f(params, x, y).values()), (f.__name__, dtype)
        assert jaxnet.loss(params, x, y).dtype == dtype


@pytest.mark.slow
def test_batch_gradient_is_mean_of_per_example_gradients():
    params = jaxnet.init_mlp(jax.random.key(1), (4, 6, 1), dtype=jnp.float64)
    x = jax.random.normal(jax.random.key(2), (7, 4), jnp.float64)
    y = (jnp.arange(7) % 2).astype(jnp.float64)
    batch = jaxnet.manual_grads(params, x, y)
    singles = [jaxnet.manual_grads(params, x[i], y[i]) for i in range(7)]
    for k in params:
        np.testing.assert_allclose(batch[k], sum(s[k] for s in singles) / 7, atol=1e-15)


@pytest.mark.slow
def test_sample_weight_is_a_weighted_mean():
    params = jaxnet.init_mlp(jax.random.key(3), (2, 5, 1), dtype=jnp.float64)
    x = jax.random.normal(jax.random.key(4), (4, 2), jnp.float64)
    y = jnp.array([0.0, 1.0, 1.0, 0.0])
    w = jnp.array([1.0, 2.0, 0.0, 1.0])
    # weight 2 = the example twice; weight 0 = dropped
    x_rep = jnp.stack([x[0], x[1], x[1], x[3]])
    y_rep = jnp.array([0.0, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(jaxnet.loss(params, x, y, w), jaxnet.loss(params, x_rep, y_rep), atol=1e-15)
    for f in (jaxnet.grads, jaxnet.manual_grads):
        assert_tree_close(f(params, x, y, w), jaxnet.grads(params, x_rep, y_rep), atol=1e-15)


@pytest.mark.slow
def test_multi_output_loss_is_mean_over_all_elements():
    params = jaxnet.init_mlp(jax.random.key(5), (3, 4, 2), dtype=jnp.float64)
    x = jax.random.normal(jax.random.key(6), (5, 3), jnp.float64)
    y = jax.random.uniform(jax.random.key(7), (5, 2), jnp.float64)
    z = np.asarray(jaxnet.forward_trace(params, x)["z2"])
    expected = np.mean(np.logaddexp(0, z) - np.asarray(y) * z)
    assert abs(float(jaxnet.loss(params, x, y)) - expected) < 1e-14


@pytest.mark.slow
def test_numerical_grads_takes_eps_as_its_fourth_positional_argument():
    params, x, y = jaxnet.seed_example(jnp.float64)
    with pytest.raises(ValueError, match="eps: expected a number > 0, got 0.0"):
        jaxnet.numerical_grads(params, x, y, 0.0)
    coarse = jaxnet.numerical_grads(params, x, y, 1e-2)["b2"][0]
    fine = jaxnet.numerical_grads(params, x, y)["b2"][0]
    assert abs(float(coarse) - float(fine)) > 1e-8  # the step changed: O(eps^2) truncation
    assert abs(float(coarse) - float(fine)) < 1e-4


def small_net(head, seed=0, sizes=(3, 4, 2)):
    """A float64 net with random biases, its hidden inputs away from the ReLU kink, and labels for ``head``."""
    rng = np.random.default_rng(seed)
    params = {}
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{l}"] = jnp.asarray(rng.normal(0, np.sqrt(2 / n_in), (n_out, n_in)))
        params[f"b{l}"] = jnp.asarray(rng.normal(0, 0.5, (n_out,)))
    x = jnp.asarray(rng.normal(size=(6, sizes[0])))
    y = {
        "sigmoid": rng.integers(0, 2, (6, sizes[-1])).astype(np.float64),
        "softmax": np.eye(sizes[-1])[rng.integers(0, sizes[-1], 6)],
        "identity": rng.normal(size=(6, sizes[-1])),
    }[head]
    return away_from_kinks(params, x), x, jnp.asarray(y)


@pytest.mark.slow  # a compilation per head
@pytest.mark.parametrize("head", ["sigmoid", "softmax", "identity"])
def test_check_grads_agrees_on_a_healthy_net(head):
    params, x, y = small_net(head)
    r = jaxnet.check_grads(params, x, y, head=head)
    assert r["how"] == "central differences"
    assert r["manual"] < 1e-12 and r["numerical"] < 1e-8, r


def test_check_grads_takes_the_spec_from_a_model():
    params, x, y = small_net("softmax")
    model = jaxnet.Model(params, jaxnet.Spec(activation="relu", head="softmax"))
    assert jaxnet.check_grads(model, x, y) == jaxnet.check_grads(params, x, y, head="softmax")


def test_check_grads_detects_a_planted_wrong_manual_gradient(monkeypatch):
    params, x, y = small_net("sigmoid")
    honest = jaxnet.manual_grads

    def wrong(*args, **kw):
        g = dict(honest(*args, **kw))
        g["W1"] = g["W1"].at[0, 0].add(0.01)
        return g

    monkeypatch.setattr(jaxnet.gradients, "manual_grads", wrong)
    r = jaxnet.check_grads(params, x, y)
    assert r["manual"] > 1e-3 and r["numerical"] < 1e-8, r


@pytest.mark.parametrize("planted", [False, True])
def test_check_grads_random_directions_give_the_full_verdict(monkeypatch, planted):
    params, x, y = small_net("sigmoid")
    if planted:  # autodiff itself wrong: both numerical comparisons must see it
        honest = jaxnet.gradients.grads
        monkeypatch.setattr(
            jaxnet.gradients, "grads", lambda *a, **kw: {k: v * 1.1 for k, v in honest(*a, **kw).items()}
        )
    full = jaxnet.check_grads(params, x, y)
    some = jaxnet.check_grads(params, x, y, directions=3, seed=1)
    assert some["how"] == "central differences along 3 random directions"
    assert (full["numerical"] < 1e-8) == (some["numerical"] < 1e-8) == (not planted), (full, some)
    assert some["manual"] == full["manual"]


@pytest.mark.parametrize(
    ("kwargs", "error", "start"),
    [
        ({"directions": 0}, ValueError, "directions: expected a positive integer at most 10000, got 0"),
        ({"directions": -2}, ValueError, "directions: "),
        (
            {"directions": 2**70},
            ValueError,
            "directions: expected a positive integer at most 10000, got 1180591620717411303424",
        ),
        ({"directions": 2.0}, TypeError, "directions: expected a positive integer, got 2.0 (float)"),
        ({"directions": True}, TypeError, "directions: "),
        ({"seed": -1}, ValueError, "seed: expected an integer >= 0, got -1"),
        ({"seed": 1.5}, TypeError, "seed: expected an integer >= 0, got 1.5 (float)"),
        ({"directions": 2, "eps": -1.0}, ValueError, "eps: "),
    ],
)
def test_check_grads_names_a_bad_argument(kwargs, error, start):
    params, x, y = small_net("sigmoid")
    with pytest.raises(error) as e:
        jaxnet.check_grads(params, x, y, **kwargs)
    assert str(e.value).startswith(start)


@pytest.mark.parametrize(
    ("params", "error", "start"),
    [
        (None, TypeError, "params: expected a dict"),
        ({"W1": np.array([[np.nan]]), "b1": np.zeros(1)}, ValueError, "params['W1']: expected finite values"),
        ({"W1": np.zeros((1, 1), np.int32), "b1": np.zeros(1)}, TypeError, "params['W1']: expected a floating"),
    ],
)
def test_default_eps_refuses_params_it_cannot_size_a_step_for(params, error, start):
    # a NaN parameter was skipped by max|theta| and a step came back as if nothing were wrong
    with pytest.raises(error) as e:
        jaxnet.gradients.default_eps(params)
    assert str(e.value).startswith(start)

"""init_mlp: deterministic, the documented scales, any depth; forward for one example and a batch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnet


@pytest.mark.slow
def test_same_key_same_params_different_key_different_params():
    a = jaxnet.init_mlp(jax.random.key(0), (30, 16, 16, 1))
    b = jaxnet.init_mlp(jax.random.key(0), (30, 16, 16, 1))
    c = jaxnet.init_mlp(jax.random.key(1), (30, 16, 16, 1))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["W1"], c["W1"])


@pytest.mark.slow
def test_shapes_keys_and_zero_biases():
    p = jaxnet.init_mlp(jax.random.key(0), (30, 64, 32, 1), dtype=jnp.float32)
    assert list(p) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert [p[k].shape for k in p] == [(64, 30), (64,), (32, 64), (32,), (1, 32), (1,)]
    assert all(v.dtype == jnp.float32 for v in p.values())
    assert all(not np.any(p[f"b{l}"]) for l in (1, 2, 3))
    assert jaxnet.layer_sizes(p) == (30, 64, 32, 1)


@pytest.mark.parametrize(
    "init, std", [("he", lambda i, o: np.sqrt(2 / i)), ("glorot", lambda i, o: np.sqrt(2 / (i + o)))]
)
def test_init_scale(init, std):
    p = jaxnet.init_mlp(jax.random.key(2), (400, 300, 1), init=init, dtype=jnp.float64)
    assert np.std(np.asarray(p["W1"])) == pytest.approx(std(400, 300), rel=0.02)
    assert abs(np.mean(np.asarray(p["W1"]))) < 0.01 * std(400, 300)


def test_unknown_init_is_refused():
    with pytest.raises(ValueError, match="init: expected one of"):
        jaxnet.init_mlp(jax.random.key(0), (2, 1), init="uniform")


def test_seed_values_through_init_mlp_layout_give_the_same_numbers():
    """A network built with init_mlp's layout, then given the seed's values, reproduces the worked example."""
    p = jaxnet.init_mlp(jax.random.key(0), (2, 3, 1), dtype=jnp.float64)
    notebook = {"W1": [[0.2, -0.3], [0.4, 0.1], [-0.5, 0.2]], "b1": [0.1, -0.2, 0.1], "W2": [0.3, -0.4, 0.5], "b2": 0.1}
    p = {k: jnp.asarray(v, jnp.float64).reshape(p[k].shape) for k, v in notebook.items()}  # the notebook's cells
    seed_params, x, y = jaxnet.seed_example(jnp.float64)
    assert abs(float(jaxnet.loss(p, x, y)) - 0.6573131577049656) <= 1e-12
    for k in p:
        np.testing.assert_array_equal(jaxnet.manual_grads(p, x, y)[k], jaxnet.manual_grads(seed_params, x, y)[k])


@pytest.mark.slow
def test_batch_forward_equals_per_example_forward():
    p = jaxnet.init_mlp(jax.random.key(3), (5, 7, 7, 3), dtype=jnp.float64)
    x = jax.random.normal(jax.random.key(4), (6, 5), jnp.float64)
    batch = jaxnet.forward(p, x)
    assert batch.shape == (6, 3)
    for i in range(6):
        np.testing.assert_allclose(jaxnet.forward(p, x[i]), batch[i], atol=1e-15)
    trace = jaxnet.forward_trace(p, x)
    assert sorted(trace) == ["a1", "a2", "y_hat", "z1", "z2", "z3"]
    np.testing.assert_array_equal(trace["a1"], np.maximum(trace["z1"], 0))


def test_single_layer_network_is_logistic_regression():
    p = {"W1": jnp.array([[2.0, -1.0]]), "b1": jnp.array([0.5])}
    x = jnp.array([[1.0, 1.0], [0.0, 2.0]])
    np.testing.assert_allclose(jaxnet.forward(p, x)[:, 0], 1 / (1 + np.exp(-np.array([1.5, -1.5]))), atol=1e-15)
    assert sorted(jaxnet.forward_trace(p, x)) == ["y_hat", "z1"]

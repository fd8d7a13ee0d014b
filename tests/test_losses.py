"""The loss is stable at huge logits; bce never returns inf/NaN."""

import jax.numpy as jnp
import numpy as np
import pytest

import jaxnet


def net_with_logit(z, dtype=jnp.float64):
    """A 1-1 network whose logit for x = 1 is exactly z (W1 = z, b1 = 0)."""
    return {"W1": jnp.full((1, 1), z, dtype), "b1": jnp.zeros((1,), dtype)}, jnp.ones((1,), dtype)


@pytest.mark.parametrize("z", [1e4, -1e4, 1e9, -1e9, 30.0, -30.0])
@pytest.mark.parametrize("label", [0.0, 1.0])
def test_loss_is_finite_and_exact_at_extreme_logits(z, label):
    params, x = net_with_logit(z)
    closed_form = np.logaddexp(0.0, z) - label * z  # softplus(z) - y z
    value = float(jaxnet.loss(params, x, label))
    assert np.isfinite(value)
    assert value == pytest.approx(closed_form, rel=1e-15, abs=1e-300)
    g = jaxnet.grads(params, x, label)
    m = jaxnet.manual_grads(params, x, label)
    expected = np.exp(-np.logaddexp(0.0, -z)) - label  # dL/dW1 = (sigmoid(z) - y) * x, x = 1
    for grad in (g, m):
        assert np.isfinite(float(grad["W1"][0, 0]))
        assert float(grad["W1"][0, 0]) == pytest.approx(
            expected, rel=1e-13, abs=4e-15
        )  # y_hat - y cancels: a few ulps of 1


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.slow
def test_loss_stable_in_both_dtypes_with_a_deep_net_scaled_to_1e9(dtype):
    params = jaxnet.init_mlp(__import__("jax").random.key(0), (3, 8, 8, 1), dtype=dtype)
    params["W3"] = params["W3"] * jnp.asarray(1e9, dtype)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(16, 3)), dtype)
    for y in (jnp.zeros((16,), dtype), jnp.ones((16,), dtype)):
        assert np.isfinite(float(jaxnet.loss(params, x, y)))
        for f in (jaxnet.grads, jaxnet.manual_grads):
            assert all(bool(jnp.all(jnp.isfinite(v))) for v in f(params, x, y).values())


@pytest.mark.slow
def test_bce_matches_notebook_and_never_inf_or_nan():
    assert float(jaxnet.bce(1.0, 0.5182418997957381)) == pytest.approx(0.6573131577049656, abs=1e-15)
    p = jnp.array([0.0, 1e-300, 0.5, 1 - 1e-17, 1.0])
    for label in (0.0, 1.0):
        v = jaxnet.bce(jnp.full((5,), label), p)
        assert bool(jnp.all(jnp.isfinite(v)))
        assert bool(jnp.all(v >= 0))
    # clipping is mild: a confident wrong answer still costs ~ -log(eps) = 36 nats in float64
    assert float(jaxnet.bce(1.0, 0.0)) == pytest.approx(-np.log(np.finfo(np.float64).eps), rel=1e-12)


@pytest.mark.slow
def test_bce_agrees_with_loss_from_logits_away_from_saturation():
    params, x, y = jaxnet.seed_example(jnp.float64)
    y_hat = jaxnet.forward(params, x)
    assert float(jaxnet.bce(y, y_hat)[0]) == pytest.approx(float(jaxnet.loss(params, x, y)), abs=1e-15)


@pytest.mark.slow
def test_y_with_or_without_trailing_axis():
    params = jaxnet.init_mlp(__import__("jax").random.key(1), (2, 3, 1), dtype=jnp.float64)
    x = jnp.ones((4, 2))
    y = jnp.array([0.0, 1.0, 1.0, 0.0])
    assert float(jaxnet.loss(params, x, y)) == float(jaxnet.loss(params, x, y[:, None]))

"""sweep: K nets in one program equal K separate fits."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnet


def test_learning_rate_sweep_equals_separate_fits():
    params, x, y = jaxnet.seed_example(jnp.float64)
    rates = jnp.array([0.01, 0.1, 0.5, 2.0])
    stacked, losses = jaxnet.sweep(x, y, params=params, learning_rates=rates, steps=40, record_every=4)
    assert stacked["W1"].shape == (4, 3, 2) and losses.shape == (4, 10)
    for k, rate in enumerate(rates):
        fitted, _, history = jaxnet.fit(params, x, y, optimizer=optax.sgd(float(rate)), steps=40, record_every=4, progress=False)
        for name in params:
            np.testing.assert_allclose(stacked[name][k], fitted[name], rtol=0, atol=1e-14, err_msg=name)
        np.testing.assert_allclose(losses[k], history["loss"], rtol=0, atol=1e-14)


def test_seed_sweep_equals_separate_fits_on_a_deeper_net():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(24, 5)))
    y = jnp.asarray(rng.uniform(size=(24, 2)))  # soft labels, two outputs
    keys = jax.random.split(jax.random.key(7), 5)
    stacked, losses = jaxnet.sweep(x, y, keys=keys, sizes=(5, 6, 4, 2), learning_rates=0.3, steps=25, dtype=jnp.float64)
    for k in (0, 3):
        start = jaxnet.init_mlp(keys[k], (5, 6, 4, 2), dtype=jnp.float64)
        fitted, _, history = jaxnet.fit(start, x, y, optimizer=optax.sgd(0.3), steps=25, progress=False)
        for name in start:
            np.testing.assert_allclose(stacked[name][k], fitted[name], rtol=0, atol=1e-13, err_msg=name)
        np.testing.assert_allclose(losses[k], history["loss"], rtol=0, atol=1e-13)


def test_thousand_seeds_of_the_worked_example_in_float32():
    params, x, y = jaxnet.seed_example(jnp.float32)
    keys = jax.random.split(jax.random.key(0), 1000)
    stacked, losses = jaxnet.sweep(x, y, keys=keys, sizes=(2, 3, 1), steps=100, record_every=100, dtype=jnp.float32)
    assert losses.shape == (1000, 1) and losses.dtype == jnp.float32
    assert stacked["W1"].shape == (1000, 3, 2)
    final = jax.vmap(lambda p: jaxnet._kernels.loss(p, x, y))(stacked)
    assert float(jnp.median(final)) < float(jnp.median(losses[:, 0]))  # training helped most nets


def test_bad_arguments():
    params, x, y = jaxnet.seed_example(jnp.float64)
    with pytest.raises(TypeError, match="params: expected a dict"):
        jaxnet.sweep(x, y, params=[params["W1"]], steps=1)
    with pytest.raises(ValueError, match="exactly one of"):
        jaxnet.sweep(x, y, steps=1)
    with pytest.raises(ValueError, match="sizes"):
        jaxnet.sweep(x, y, keys=jax.random.split(jax.random.key(0), 2), steps=1)
    with pytest.raises(ValueError, match="learning_rates"):
        jaxnet.sweep(x, y, keys=jax.random.split(jax.random.key(0), 2), sizes=(2, 1), learning_rates=jnp.ones(3), steps=1)
    with pytest.raises(ValueError, match="x: expected shape"):
        jaxnet.sweep(jnp.ones(3), y, params=params, steps=1)
    with pytest.raises(ValueError, match="record_every"):
        jaxnet.sweep(x, y, params=params, steps=10, record_every=3)


def test_many_nets_in_padded_blocks_equal_separate_fits():
    params, x, y = jaxnet.seed_example(jnp.float64)
    rates = jnp.linspace(0.01, 1.0, 300)  # 300 nets: not a multiple of the block size
    stacked, losses = jaxnet.sweep(x, y, params=params, learning_rates=rates, steps=12, record_every=3)
    assert stacked["W1"].shape == (300, 3, 2) and losses.shape == (300, 4)
    for k in (0, 255, 256, 299):
        fitted, _, history = jaxnet.fit(params, x, y, optimizer=optax.sgd(float(rates[k])), steps=12, record_every=3, progress=False)
        for name in params:
            np.testing.assert_allclose(stacked[name][k], fitted[name], rtol=0, atol=1e-14, err_msg=(k, name))
        np.testing.assert_allclose(losses[k], history["loss"], rtol=0, atol=1e-14)

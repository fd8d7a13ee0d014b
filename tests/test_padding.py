"""One compiled program per shape family: fit pads the rows to a bucket with zero rows of weight 0, so the
folds of a cross-validation (379 and 380 rows) share one program, and the result is the unpadded one."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnet
import jaxnet._fit_args
from jaxnet._engine import run_steps
from jaxnet._padding import bucket, pad_rows


@pytest.fixture(scope="module")
def cancer():
    x, y = jaxnet.data.load_breast_cancer()[:2]
    x = np.asarray(x, np.float64)
    x = (x - x.mean(0)) / x.std(0)
    return jaxnet.init_mlp(0, (30, 8, 1), dtype=jnp.float64), x, np.asarray(y, np.float64)


def unpadded(monkeypatch):
    monkeypatch.setattr(jaxnet._fit_args, "pad_rows", lambda data, dtype, multiple=1: (data, data[0].shape[0]))


def test_bucket_sizes():
    assert [bucket(n) for n in (1, 16, 17, 31, 379, 380, 384, 385, 455)] == [1, 16, 18, 32, 384, 384, 384, 416, 480]
    for n in range(1, 3000):
        assert n <= bucket(n) <= n + max(0, n - 1) // 8 and bucket(bucket(n)) == bucket(n)


@pytest.mark.slow
@pytest.mark.parametrize("minibatch", [{}, {"batch_size": 64, "key": 1}], ids=["full", "minibatch"])
def test_neighbouring_row_counts_share_one_program_and_equal_the_unpadded_run(cancer, minibatch, monkeypatch):
    params, x, y = cancer
    opt = optax.sgd(0.1, momentum=0.9)
    padded = jaxnet.fit(params, x[:379], y[:379], steps=20, optimizer=opt, progress=False, **minibatch)
    programs = run_steps._cache_size()
    for rows in (380, 384):  # 384 is its own bucket: no padding row, still the same program
        jaxnet.fit(params, x[:rows], y[:rows], steps=20, optimizer=opt, progress=False, **minibatch)
        assert run_steps._cache_size() == programs, rows  # the other folds compiled no training program
    unpadded(monkeypatch)
    plain = jaxnet.fit(params, x[:379], y[:379], steps=20, optimizer=opt, progress=False, **minibatch)
    for k in params:
        np.testing.assert_allclose(padded[0][k], plain[0][k], rtol=0, atol=1e-12, err_msg=k)
    np.testing.assert_allclose(padded[2]["loss"], plain[2]["loss"], rtol=0, atol=1e-12)


@pytest.mark.slow
def test_weights_are_kept_and_padding_rows_have_weight_zero(cancer):
    params, x, y = cancer
    w = np.linspace(0.5, 2.0, 379)
    (xp, yp, wp), n = pad_rows((jnp.asarray(x[:379]), jnp.asarray(y[:379, None]), jnp.asarray(w)), np.float64)
    assert n == 379 and xp.shape == (384, 30) and yp.shape == (384, 1)
    np.testing.assert_array_equal(wp, np.concatenate([w, np.zeros(5)]))
    np.testing.assert_array_equal(xp[379:], 0.0)
    (_, _, ones), _ = pad_rows((jnp.asarray(x[:384]), jnp.asarray(y[:384, None]), None), np.float64)
    np.testing.assert_array_equal(ones, np.ones(384))  # no padding needed: still weights, the same program

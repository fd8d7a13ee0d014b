"""jaxnet.walkthrough, the worked example: every number the notebook prints, in float64 and float32."""

import os
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnet
from jaxnet.walkthrough import NOTEBOOK, compare_with_notebook, walkthrough_numbers

ROOT = Path(__file__).resolve().parents[1]


def notebook_numpy():
    """The notebook's own numpy code (an independent oracle), returning its values in print order."""
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    relu = lambda v: np.maximum(0, v)  # noqa: E731
    bce = lambda t, p: -(t * np.log(p) + (1 - t) * np.log(1 - p))  # noqa: E731
    x, y = np.array([0.5, 0.8]), 1
    W1 = np.array([[0.2, -0.3], [0.4, 0.1], [-0.5, 0.2]])
    b1, W2, b2 = np.array([0.1, -0.2, 0.1]), np.array([0.3, -0.4, 0.5]), 0.1
    z1 = W1 @ x + b1
    a1 = relu(z1)
    z2 = W2 @ a1 + b2
    y_hat = sigmoid(z2)
    loss = bce(y, y_hat)
    dz2 = y_hat - y
    dW2, db2 = dz2 * a1, dz2
    dz1 = dz2 * W2 * np.where(z1 > 0, 1, 0)
    dW1, db1 = np.outer(dz1, x), dz1
    W1n, b1n, W2n, b2n = W1 - 0.1 * dW1, b1 - 0.1 * db1, W2 - 0.1 * dW2, b2 - 0.1 * db2
    z1n = W1n @ x + b1n
    a1n = relu(z1n)
    z2n = W2n @ a1n + b2n
    y_hatn = sigmoid(z2n)
    return [z1, a1, z2, y_hat, loss, dW2, db2, dW1, db1, W1n, b1n, W2n, b2n, z1n, a1n, z2n, y_hatn, bce(y, y_hatn)]


def test_golden_table_is_what_the_notebook_code_prints():
    for (label, printed, digits), value in zip(NOTEBOOK, notebook_numpy(), strict=True):
        shown = np.round(value, digits) if digits is not None else value
        np.testing.assert_allclose(shown, printed, rtol=0, atol=1e-15, err_msg=label)


def test_every_notebook_value_float64_to_1e12():
    rows = compare_with_notebook(walkthrough_numbers())
    assert len(rows) == 18
    for label, ours, printed, diff in rows:
        assert diff <= 1e-12, (label, ours, printed)


def test_every_value_matches_the_numpy_oracle_at_full_precision():
    ours = [r[1] for r in compare_with_notebook(walkthrough_numbers())]
    for (label, _, _), a, b in zip(NOTEBOOK, ours, notebook_numpy(), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12, err_msg=label)


def test_headline_numbers_float64():
    params, x, y = jaxnet.seed_example(jnp.float64)
    assert params["W1"].shape == (3, 2) and params["b1"].shape == (3,)
    assert params["W2"].shape == (1, 3) and params["b2"].shape == (1,)
    assert x.shape == (2,) and y.shape == () and float(y) == 1.0
    assert abs(float(jaxnet.loss(params, x, y)) - 0.6573131577049656) <= 1e-12
    assert abs(float(jaxnet.forward(params, x)[0]) - 0.5182418997957381) <= 1e-12
    trace = jaxnet.forward_trace(params, x)
    assert sorted(trace) == ["a1", "y_hat", "z1", "z2"]
    np.testing.assert_allclose(trace["z1"], [-0.04, 0.08, 0.01], atol=1e-12)


def test_float32_matches_to_1e6():
    params, x, y = jaxnet.seed_example(jnp.float32)
    assert all(v.dtype == jnp.float32 for v in params.values())
    expected = notebook_numpy()
    g = jaxnet.grads(params, x, y)
    assert g["W1"].dtype == jnp.float32
    got = {
        "y_hat": jaxnet.forward(params, x)[0],
        "loss": jaxnet.loss(params, x, y),
        "dW2": g["W2"][0],
        "db2": g["b2"][0],
        "dW1": g["W1"],
        "db1": g["b1"],
    }
    for (k, v), ref in zip(got.items(), [expected[i] for i in (3, 4, 5, 6, 7, 8)], strict=True):
        np.testing.assert_allclose(np.asarray(v, np.float64), ref, rtol=0, atol=1e-6, err_msg=k)


def test_default_dtype_is_jax_default_float():
    params, x, y = jaxnet.seed_example()
    assert params["W1"].dtype == jnp.zeros(()).dtype == x.dtype == y.dtype


@pytest.mark.slow
def test_one_optax_sgd_step_equals_manual_update_and_notebook():
    params, x, y = jaxnet.seed_example(jnp.float64)
    optimizer = optax.sgd(0.1)
    step = jaxnet.make_train_step(optimizer)
    new, _, loss_before = step(params, optimizer.init(params), x, y)
    g = jaxnet.grads(params, x, y)
    for k in params:
        np.testing.assert_allclose(new[k], params[k] - 0.1 * g[k], rtol=0, atol=1e-15, err_msg=k)
    nb = notebook_numpy()
    np.testing.assert_allclose(new["W1"], nb[9], rtol=0, atol=1e-12)
    np.testing.assert_allclose(new["b1"], nb[10], rtol=0, atol=1e-12)
    np.testing.assert_allclose(new["W2"][0], nb[11], rtol=0, atol=1e-12)
    np.testing.assert_allclose(new["b2"][0], nb[12], rtol=0, atol=1e-12)
    assert abs(float(loss_before) - 0.6573131577049656) <= 1e-12
    assert abs(float(jaxnet.loss(new, x, y)) - 0.6169411948853357) <= 1e-12


def test_three_gradient_paths_agree_on_the_seed():
    params, x, y = jaxnet.seed_example(jnp.float64)
    a, m, n = (f(params, x, y) for f in (jaxnet.grads, jaxnet.manual_grads, jaxnet.numerical_grads))
    for k in params:
        np.testing.assert_allclose(m[k], a[k], rtol=0, atol=1e-15, err_msg=k)
        np.testing.assert_allclose(n[k], a[k], rtol=0, atol=1e-9, err_msg=k)


def test_make_train_step_compiles_once(count_compiles):
    params, x, y = jaxnet.seed_example(jnp.float64)
    optimizer = optax.sgd(0.1)
    step = jaxnet.make_train_step(optimizer)
    state = optimizer.init(params)
    params, state, _ = step(params, state, x, y)  # first call compiles
    with count_compiles() as compiles:
        for _ in range(50):
            params, state, value = step(params, state, x, y)
    assert compiles() == 0
    assert step._cache_size() == 1
    assert float(value) < 0.6169411948853357


@pytest.mark.slow
def test_walkthrough_script_exits_zero_and_prints_every_value(tmp_path):
    env = dict(os.environ, JAXNET_CACHE_DIR=str(tmp_path / "xla"))
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "seed_walkthrough.py")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    for label, _printed, _digits in NOTEBOOK:
        assert label in out.stdout
    assert "0.6169411948853357" in out.stdout and "0.6573131577049656" in out.stdout
    assert "toward the target" in out.stdout and "hidden unit 1 has z1 = -0.04" in out.stdout
    assert "did not change" in out.stdout
    assert "OK: all 18 printed values match" in out.stdout
    assert any((tmp_path / "xla").iterdir())  # the compilation cache was written where asked


def test_walkthrough_detects_a_mismatch(monkeypatch):
    import io

    import jaxnet.walkthrough as w

    bad = list(w.NOTEBOOK)
    bad[4] = ("loss", 0.6573131577, None)  # off by 5e-11, above the 1e-12 tolerance
    monkeypatch.setattr(w, "NOTEBOOK", bad)
    buf = io.StringIO()
    assert w.main(out=buf) == 1
    assert "MISMATCH" in buf.getvalue() and "FAIL" in buf.getvalue()

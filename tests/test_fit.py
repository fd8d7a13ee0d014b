"""fit: scan-fused training that equals step-by-step optax, compiles once, and stops on divergence."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnet
from jaxnet._engine import Batches, Config, Cursor, _batch


@pytest.fixture
def seed64():
    return jaxnet.seed_example(jnp.float64)


@pytest.fixture
def toy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float64)
    return jaxnet.init_mlp(jax.random.key(0), (4, 8, 1), dtype=jnp.float64), jnp.asarray(x), jnp.asarray(y)


def optax_promotion():
    """optax's adam mixes its int32 step count with Python floats; allow that promotion (ours stays strict)."""
    return jax.numpy_dtype_promotion("standard")


def assert_same(a, b, atol=0.0):
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=0, atol=atol, err_msg=k)


def test_first_step_is_the_foundation_sgd_step_and_loss_falls(seed64):
    params, x, y = seed64
    one, _, history = jaxnet.fit(params, x, y, steps=1, progress=False)
    optimizer = optax.sgd(0.1)
    expected, _, _ = jaxnet.make_train_step(optimizer)(params, optimizer.init(params), x, y)
    assert_same(one, expected)
    assert history["loss"][0] == pytest.approx(0.6573131577049656, abs=1e-12)
    assert float(jaxnet.loss(one, x, y)) == pytest.approx(0.6169411948853357, abs=1e-12)
    none_means_default, _, _ = jaxnet.fit(params, x, y, steps=1, optimizer=None, progress=False)
    assert_same(none_means_default, one)
    trained, _, history = jaxnet.fit(params, x, y, steps=200, progress=False)
    assert np.all(np.diff(history["loss"]) < 0)
    assert float(jaxnet.loss(trained, x, y)) < 0.05


@pytest.mark.slow
def test_equals_a_python_loop_of_optax_steps(toy):
    params, x, y = toy
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(0.05))
    with optax_promotion():
        fitted, state, history = jaxnet.fit(params, x, y, optimizer=optimizer, steps=30, progress=False)
        step = jaxnet.make_train_step(optimizer)
        p, s, losses = params, optimizer.init(params), []
        for _ in range(30):
            p, s, value = step(p, s, x, y)
            losses.append(float(value))
    assert_same(fitted, p, atol=1e-12)
    np.testing.assert_allclose(history["loss"], losses, atol=1e-12)


@pytest.mark.slow
def test_manual_and_autodiff_gradients_train_identically(toy):
    params, x, y = toy
    a = jaxnet.fit(params, x, y, steps=50, gradients="manual", progress=False)
    b = jaxnet.fit(params, x, y, steps=50, gradients="autodiff", progress=False)
    assert_same(a[0], b[0], atol=1e-12)
    np.testing.assert_allclose(a[2]["loss"], b[2]["loss"], atol=1e-12)


@pytest.mark.slow
def test_chunked_equals_one_chunk(toy):
    params, x, y = toy
    whole = jaxnet.fit(params, x, y, steps=60, chunk=60, progress=False, batch_size=16, key=jax.random.key(1))
    for chunk in (7, 20, None):
        parts = jaxnet.fit(params, x, y, steps=60, chunk=chunk, progress=False, batch_size=16, key=jax.random.key(1))
        assert_same(parts[0], whole[0])
        np.testing.assert_array_equal(parts[2]["loss"], whole[2]["loss"])
        np.testing.assert_array_equal(parts[2]["step"], np.arange(60))


@pytest.mark.slow
def test_record_every_keeps_every_kth_loss(toy):
    params, x, y = toy
    every = jaxnet.fit(params, x, y, steps=40, progress=False)
    sparse = jaxnet.fit(params, x, y, steps=40, record_every=8, progress=False)
    assert_same(every[0], sparse[0], atol=1e-13)
    np.testing.assert_array_equal(sparse[2]["step"], [0, 8, 16, 24, 32])
    # two differently fused programs: equal up to rounding, not bit for bit (GPU kernels differ)
    np.testing.assert_allclose(sparse[2]["loss"], every[2]["loss"][::8], rtol=1e-13, atol=0)
    with pytest.raises(ValueError, match="multiple of record_every"):
        jaxnet.fit(params, x, y, steps=10, record_every=3, progress=False)


@pytest.mark.slow
def test_compiles_once_then_never_again(toy, count_compiles):
    params, x, y = toy
    optimizer = optax.chain(optax.clip(1e3), optax.sgd(0.01, momentum=0.9))  # no other test compiles it (order)
    with count_compiles() as compiles:
        jaxnet.fit(params, x, y, optimizer=optimizer, steps=20, chunk=5, progress=False)
    assert compiles() >= 1
    other_params = {k: v + 1 for k, v in params.items()}
    with count_compiles() as compiles:
        jaxnet.fit(params, x, y, optimizer=optimizer, steps=20, chunk=5, progress=False)  # 4 chunks
        jaxnet.fit(params, x, y, optimizer=optimizer, steps=13, chunk=5, progress=False)  # other steps, partial chunk
        jaxnet.fit(other_params, x, y, optimizer=optimizer, steps=5, chunk=5, progress=False)
    assert compiles() == 0
    jaxnet.fit(params, x, y, optimizer=optimizer, steps=20, progress=False)  # default adaptive chunks
    with count_compiles() as compiles:
        jaxnet.fit(params, x, y, optimizer=optimizer, steps=20, progress=False)
        jaxnet.fit(params, x, y, optimizer=optimizer, steps=777, progress=False)
    assert compiles() == 0


@pytest.mark.slow
def test_learning_rate_changes_without_recompiling(toy, count_compiles):
    params, x, y = toy
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    state = optimizer.init(params)
    jaxnet.fit(params, x, y, optimizer=optimizer, opt_state=state, steps=10, progress=False)
    state.hyperparams["learning_rate"] = jnp.asarray(0.3, jnp.float64)
    with count_compiles() as compiles:
        fast, _, _ = jaxnet.fit(params, x, y, optimizer=optimizer, opt_state=state, steps=10, progress=False)
    assert compiles() == 0
    reference, _, _ = jaxnet.fit(params, x, y, optimizer=optax.sgd(0.3), steps=10, progress=False)
    assert_same(fast, reference, atol=1e-14)


@pytest.mark.slow
def test_divergence_warns_and_returns_finite_params(toy):
    params, x, y = toy
    with pytest.warns(jaxnet.DivergenceWarning, match="diverged"):
        out, _, history = jaxnet.fit(params, x, y, optimizer=optax.sgd(1e6), steps=2000, chunk=100, progress=False)
    assert history["diverged"]
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in out.values())
    assert history["steps_done"] % 100 == 0 and history["steps_done"] < 2000
    with pytest.raises(jaxnet.DivergenceError) as info:
        jaxnet.fit(params, x, y, optimizer=optax.sgd(1e6), steps=2000, chunk=100, progress=False, on_divergence="raise")
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in info.value.params.values())


def test_no_warning_when_training_is_fine(toy):
    params, x, y = toy
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, _, history = jaxnet.fit(params, x, y, steps=20, progress=False)
    assert not history["diverged"] and history["steps_done"] == 20


@pytest.mark.slow
def test_minibatches_are_deterministic_and_key_dependent(toy):
    params, x, y = toy
    a = jaxnet.fit(params, x, y, steps=20, batch_size=8, key=jax.random.key(5), progress=False)
    b = jaxnet.fit(params, x, y, steps=20, batch_size=8, key=jax.random.key(5), progress=False)
    c = jaxnet.fit(params, x, y, steps=20, batch_size=8, key=jax.random.key(6), progress=False)
    assert_same(a[0], b[0])
    assert not np.array_equal(a[0]["W1"], c[0]["W1"])
    with pytest.raises(ValueError, match="key: required"):
        jaxnet.fit(params, x, y, steps=2, batch_size=8, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        jaxnet.fit(params, x, y, steps=2, batch_size=65, key=jax.random.key(0), progress=False)


@pytest.mark.slow
def test_each_epoch_visits_every_example_once():
    n, b = 12, 4
    x = jnp.arange(n, dtype=jnp.float64)[:, None]
    cfg = Config(optax.sgd(0.1), None, 1, 1, Batches(b, None))
    cursor = Cursor(jnp.zeros((), jnp.int32), jnp.arange(n, dtype=jnp.int32))
    seen = []
    for step in range(2 * n // b):
        (xb, _, _), cursor = _batch(cfg, jax.random.key(0), cursor, (x, x, None))
        assert int(cursor.step) == step + 1
        seen.append(np.asarray(xb[:, 0]))
    first, second = np.concatenate(seen[:3]), np.concatenate(seen[3:])
    assert sorted(first) == list(range(n)) and sorted(second) == list(range(n))
    assert not np.array_equal(first, second)  # reshuffled


@pytest.mark.slow
def test_custom_loss_uses_autodiff(toy):
    params, x, y = toy

    def l2_bce(p, x, y, w):
        return jaxnet._kernels.loss(p, x, y, w) + 1e-2 * sum(jnp.sum(p[k] ** 2) for k in p if k[0] == "W")

    fitted, _, history = jaxnet.fit(params, x, y, loss_fn=l2_bce, steps=10, progress=False)
    reference = jaxnet.make_train_step(optax.sgd(0.1), loss_fn=l2_bce)
    p, s = params, optax.sgd(0.1).init(params)
    for _ in range(10):
        p, s, _ = reference(p, s, x, y)
    assert_same(fitted, p, atol=1e-13)
    with pytest.raises(ValueError, match="gradients"):
        jaxnet.fit(params, x, y, loss_fn=l2_bce, gradients="manual", steps=1, progress=False)


@pytest.mark.slow
def test_sample_weight_two_equals_a_duplicated_example(toy):
    params, x, y = toy
    w = jnp.ones(64).at[0].set(2.0)
    weighted, _, _ = jaxnet.fit(params, x, y, sample_weight=w, steps=10, progress=False)
    dup, _, _ = jaxnet.fit(params, jnp.concatenate([x, x[:1]]), jnp.concatenate([y, y[:1]]), steps=10, progress=False)
    assert_same(weighted, dup, atol=1e-14)


@pytest.mark.slow
def test_callback_and_validation_run_between_chunks(toy):
    params, x, y = toy
    calls = []

    def stop_after_two(step, p, history):
        calls.append(step)
        return step >= 20

    _, _, history = jaxnet.fit(
        params,
        x,
        y,
        steps=100,
        chunk=10,
        validation=(x[:16], y[:16]),
        eval_every=10,
        callback=stop_after_two,
        progress=False,
    )
    assert calls[-1] == 20 and np.all(np.diff([0] + calls) > 0) and np.all(np.diff([0] + calls) <= 10)  # chunk <= 10
    assert history["steps_done"] == 20 and history["stopped"] == "callback"
    np.testing.assert_array_equal(history["val_step"], [10, 20])
    assert history["val_loss"].shape == (2,) and np.all(np.isfinite(history["val_loss"]))


def test_progress_bar_reports_steps(toy, capsys):
    params, x, y = toy
    jaxnet.fit(params, x, y, steps=30, chunk=10, progress=True)
    err = capsys.readouterr().err
    assert "30/30" in err and "loss=" in err


@pytest.mark.slow
def test_float32_fit_keeps_float32(toy):
    params, x, y = toy
    p32 = {k: v.astype(jnp.float32) for k, v in params.items()}
    out, _, history = jaxnet.fit(p32, x, y, steps=5, progress=False)
    assert all(v.dtype == jnp.float32 for v in out.values()) and history["loss"].dtype == np.float32


@pytest.mark.slow
def test_optimizers_that_differ_only_in_numbers_share_one_compilation(toy, count_compiles):
    params, x, y = toy
    with optax_promotion():
        first = jaxnet.fit(params, x, y, optimizer=optax.adam(1e-2), steps=5, progress=False)
        with count_compiles() as compiles:
            again = jaxnet.fit(params, x, y, optimizer=optax.adam(1e-2), steps=5, progress=False)  # a new object
            other = jaxnet.fit(params, x, y, optimizer=optax.adam(1e-3), steps=5, progress=False)  # another lr
        assert compiles() == 0
    assert_same(first[0], again[0])
    assert not np.allclose(first[0]["W1"], other[0]["W1"])  # the other learning rate reached the program

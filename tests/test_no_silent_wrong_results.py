"""No silent wrong results across the public API: each result an adversarial run got wrong is refused or right.

Seeds of 2**32 and more, validation sets that overflow, R² from an overflowed sum, a float64 checkpoint loaded
in a float32 process, metadata keys JSON would coerce, a callback's jnp.asarray(True), and finite inputs whose
very first loss overflows (fit and sweep refuse them as loss does, naming the input).
"""

import os
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnet
from jaxnet._validate import seed_key


def key_bits(key):
    return np.asarray(jax.random.key_data(key)).tolist()


# --- §2.2 int seeds >= 2**32 --------------------------------------------------------------------------------------


def test_seeds_of_2_to_the_32_and_more_are_not_cut_to_32_bits():
    a, b = jaxnet.init_mlp(2**32, (2, 3, 1)), jaxnet.init_mlp(0, (2, 3, 1))
    assert not np.array_equal(a["W1"], b["W1"])
    seeds = [0, 1, 2**32 - 1, 2**32, 2**32 + 1, 2**33, 2**62 + 7, 2**63 - 1]
    assert len({tuple(key_bits(seed_key(s))) for s in seeds}) == len(seeds)


def test_seeds_below_2_to_the_32_give_exactly_todays_keys():
    for s in (0, 1, 42, 2**31 - 1, 2**32 - 1):
        assert key_bits(seed_key(s)) == key_bits(jax.random.key(s))
    np.testing.assert_array_equal(
        jaxnet.init_mlp(7, (2, 3, 1))["W1"], jaxnet.init_mlp(jax.random.key(7), (2, 3, 1))["W1"]
    )


def test_large_seeds_match_jax_random_key_with_x64_on():
    # the suite runs with x64 on, where jax.random.key keeps all 64 bits: an int seed now means the same key
    for s in (2**32, 2**40 + 3, 2**63 - 1):
        assert key_bits(seed_key(s)) == key_bits(jax.random.key(s))


def test_fit_draws_different_batches_for_seed_2_to_the_32():
    params, _, _ = jaxnet.seed_example(jnp.float64)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 2)), (rng.random(8) > 0.5).astype(float)
    run = lambda key: jaxnet.fit(params, x, y, steps=4, batch_size=2, key=key, progress=False)[0]  # noqa: E731
    assert not np.array_equal(run(2**32)["W1"], run(0)["W1"])


def test_seeds_outside_the_documented_range_are_refused():
    for seed in (-1, 2**63):
        with pytest.raises(ValueError, match="^key: expected an int seed in"):
            jaxnet.init_mlp(seed, (2, 3, 1))


# --- §2.3 validation that overflows -------------------------------------------------------------------------------


def _float32_problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    return jaxnet.init_mlp(0, (2, 8, 1), dtype=jnp.float32), x, y


def test_validation_inputs_that_overflow_are_refused_before_training():
    params, x, y = _float32_problem()
    calls = []
    with pytest.raises(ValueError, match=r"^validation\[0\] \(x_val\): every input is finite, but"):
        jaxnet.fit(
            params,
            x,
            y,
            steps=40,
            validation=(np.full((20, 2), 3e38), y[:20]),
            eval_every=10,
            early_stopping=3,
            callback=lambda *a: calls.append(1),
            progress=False,
        )
    assert not calls  # refused before any step


def test_identity_validation_targets_of_1e30_are_refused_naming_y_val():
    params = jaxnet.init_mlp(0, (2, 4, 1), dtype=jnp.float32)
    x = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
    with pytest.raises(ValueError, match=r"^validation\[1\] \(y_val\): every input is finite"):
        jaxnet.fit(params, x, x[:, 0], steps=10, validation=(x, np.full(20, 1e30)), head="identity", progress=False)


def test_a_validation_loss_that_becomes_nan_warns_and_is_not_early_stopping_success(monkeypatch):
    from jaxnet import _fit_loop

    params, x, y = _float32_problem()
    real = _fit_loop.scores

    def scores(*args, **kwargs):  # the up-front check (jaxnet._fit_args) passes; every evaluation in training overflows
        return {**real(*args, **kwargs), "loss": jnp.float32(np.nan)}

    monkeypatch.setattr(_fit_loop, "scores", scores)
    with pytest.warns(jaxnet.DivergenceWarning, match=r"validation loss at step \d+ is nan"):
        _, _, h = jaxnet.fit(params, x, y, steps=40, validation=(x, y), eval_every=10, early_stopping=2, progress=False)
    assert h["stopped"] == "completed" and h["best_step"] is None and h["steps_done"] == 40


# --- §2.4 evaluate's R² -------------------------------------------------------------------------------------------


def test_r2_does_not_overflow_float32():
    got = jaxnet.evaluate(
        {"W1": jnp.array([[1.8e18]]), "b1": jnp.zeros(1)}, [[-1.0], [1.0]], [-1.4e19, 1.4e19], head="identity"
    )
    z, t = np.array([-1.8e18, 1.8e18]), np.array([-1.4e19, 1.4e19])  # float64 reference
    assert got["r2"] == pytest.approx(1 - np.sum((t - z) ** 2) / np.sum((t - t.mean()) ** 2), rel=1e-6)
    assert got["rmse"] == pytest.approx(np.sqrt(np.mean((t - z) ** 2)), rel=1e-6)


def test_r2_and_rmse_are_unchanged_for_ordinary_values():
    rng = np.random.default_rng(1)
    params = jaxnet.init_mlp(0, (3, 5, 2), dtype=jnp.float64)
    x, t = rng.normal(size=(30, 3)), rng.normal(size=(30, 2))
    z = np.asarray(jaxnet.predict(params, x, head="identity"))
    got = jaxnet.evaluate(params, x, t, head="identity")
    r2 = np.mean(1 - np.sum((t - z) ** 2, axis=0) / np.sum((t - t.mean(axis=0)) ** 2, axis=0))
    assert got["r2"] == pytest.approx(r2, rel=1e-12) and got["rmse"] == pytest.approx(np.sqrt(np.mean((z - t) ** 2)))


# --- §2.6 and §2.7 checkpoints ------------------------------------------------------------------------------------


def test_a_float64_checkpoint_beyond_float32_is_refused_in_a_float32_process(tmp_path):
    params, _, _ = jaxnet.seed_example(jnp.float64)
    path = os.fspath(tmp_path / "big.safetensors")
    jaxnet.save(path, dict(params, W2=jnp.asarray([[1e300, 0.5, -0.5]])))
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(jaxnet.CheckpointError, match="tensor W2 holds float64 values up to 1e\\+300"):
            jaxnet.load(path)
        small = os.fspath(tmp_path / "small.safetensors")
        jax.config.update("jax_enable_x64", True)
        jaxnet.save(small, params)
        jax.config.update("jax_enable_x64", False)
        loaded, _ = jaxnet.load(small)  # in range: loads as float32, as everywhere in JAX
        assert loaded["W1"].dtype == jnp.float32
    finally:
        jax.config.update("jax_enable_x64", True)


@pytest.mark.parametrize(
    "metadata,where",
    [
        ({"m": {1: "int", "1": "str"}}, r"metadata\['m'\]"),
        ({"a": [{"b": {None: 1}}]}, r"metadata\['a'\]\[0\]\['b'\]"),
        ({"x": {2.5: 1}}, r"metadata\['x'\]"),
    ],
)
def test_metadata_keys_that_are_not_str_are_refused_at_any_depth(tmp_path, metadata, where):
    params, _, _ = jaxnet.seed_example()
    path = tmp_path / "m.safetensors"
    with pytest.raises(TypeError, match=f"^metadata: expected str keys at every depth.* in {where}"):
        jaxnet.save(path, params, metadata=metadata)
    assert not path.exists()


def test_a_record_with_a_repeated_key_is_refused_on_load(tmp_path):
    import json

    from jaxnet import checkpoints

    params, _, _ = jaxnet.seed_example()
    path = os.fspath(tmp_path / "dup.safetensors")
    arrays = {k: np.asarray(v) for k, v in params.items()}
    record = {
        "format_version": 2,
        "layer_sizes": [2, 3, 1],
        "dtype": arrays["W1"].dtype.name,
        "activation": "relu",
        "head": "sigmoid",
        "jaxnet_version": "0",
        "metadata": {"m": {"1": "str"}},
    }
    record["sha256"] = checkpoints._digest(record, arrays)  # a valid checksum of what json.loads would keep
    raw = json.dumps(record).replace('{"1": "str"}', '{"1": "int", "1": "str"}')
    import safetensors.numpy

    with open(path, "wb") as f:
        f.write(safetensors.numpy.save(arrays, metadata={"jaxnet": raw}))
    with pytest.raises(jaxnet.CheckpointError, match="appears twice"):
        jaxnet.load(path)


# --- §2.8 a callback's jnp.asarray(True) --------------------------------------------------------------------------


@pytest.mark.parametrize("true", [jnp.asarray(True), np.asarray(True), np.bool_(True), True])
def test_a_callback_returning_any_true_bool_stops(true):
    params, x, y = jaxnet.seed_example(jnp.float64)
    _, _, h = jaxnet.fit(params, x, y, steps=50, chunk=10, callback=lambda s, p, hh: true, progress=False)
    assert h["stopped"] == "callback" and h["steps_done"] == 10


@pytest.mark.parametrize("false", [None, False, jnp.asarray(False), np.bool_(False)])
def test_a_callback_returning_false_or_none_goes_on(false):
    params, x, y = jaxnet.seed_example(jnp.float64)
    _, _, h = jaxnet.fit(params, x, y, steps=20, chunk=10, callback=lambda s, p, hh: false, progress=False)
    assert h["stopped"] == "completed" and h["steps_done"] == 20


@pytest.mark.parametrize("odd", [jnp.array([True, False]), np.ones((1,), bool), jnp.asarray(1.0), 1, "stop"])
def test_a_callback_returning_something_else_is_refused_naming_callback(odd):
    params, x, y = jaxnet.seed_example(jnp.float64)
    with pytest.raises(jaxnet.CallbackError, match="^callback: returned") as err:
        jaxnet.fit(params, x, y, steps=20, chunk=10, callback=lambda s, p, hh: odd, progress=False)
    assert isinstance(err.value.__cause__, TypeError) and str(err.value.__cause__).startswith("callback:")
    assert err.value.history["steps_done"] == 10  # the state it was called with


# --- §4 overflow at the very start of fit and sweep ---------------------------------------------------------------


def _identity_1e30():
    params = jaxnet.init_mlp(0, (2, 3, 1), dtype=jnp.float32)
    x = np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)
    return params, x, np.full(8, 1e30, np.float32)


def test_identity_targets_of_1e30_are_refused_by_fit_and_sweep_as_by_loss():
    params, x, y = _identity_1e30()
    with pytest.raises(ValueError, match="^y: every input is finite") as by_loss:
        jaxnet.loss(params, x, y, head="identity")
    with pytest.raises(ValueError, match="^y: every input is finite") as by_fit:
        jaxnet.fit(params, x, y, steps=5, head="identity", progress=False)
    assert str(by_fit.value) == str(by_loss.value)
    with pytest.raises(ValueError, match="^y: every input is finite.*before any step"):
        jaxnet.sweep(x, y, params=params, learning_rates=jnp.array([0.1, 0.2], jnp.float32), steps=5, head="identity")


def test_weights_of_1e19_are_refused_by_fit_and_sweep_naming_params():
    params, x, _ = _identity_1e30()
    y = (x[:, 0] > 0).astype(np.float32)
    big = {k: v * 1e19 for k, v in params.items()}
    with pytest.raises(ValueError, match="^params: every input is finite"):
        jaxnet.loss(big, x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", jaxnet.DivergenceWarning)  # not "diverged at the first step"
        with pytest.raises(ValueError, match="^params: every input is finite"):
            jaxnet.fit(big, x, y, steps=5, progress=False)
        with pytest.raises(ValueError, match="^params: every input is finite"):
            jaxnet.sweep(x, y, params=big, steps=5)


def test_float16_compute_with_x_beyond_65504_is_refused_naming_x():
    params, x, _ = _identity_1e30()
    y = (x[:, 0] > 0).astype(np.float32)
    x = x.copy()
    x[0, 0] = 70000.0
    with pytest.raises(ValueError, match="^x: values up to 7e\\+04 overflow compute_dtype=float16"):
        jaxnet.fit(params, x, y, steps=5, compute_dtype=jnp.float16, progress=False)
    with pytest.raises(ValueError, match=r"^params\['W1'\]: values up to .* overflow compute_dtype=float16"):
        jaxnet.fit(
            dict(params, W1=params["W1"].at[0, 0].set(1e5)),
            x / 1e5,
            y,
            steps=5,
            compute_dtype=jnp.float16,
            progress=False,
        )


def test_a_custom_loss_that_is_nan_at_the_start_is_refused_naming_loss_fn():
    params, x, y = jaxnet.seed_example(jnp.float64)
    with pytest.raises(ValueError, match="^loss_fn: returned NaN/inf at the initial parameters"):
        jaxnet.fit(params, x, y, steps=5, loss_fn=lambda p, x, y, w: jnp.log(p["b2"][0] * 0.0), progress=False)


def test_divergence_after_a_finite_start_is_still_divergence():
    params, x, y = jaxnet.seed_example(jnp.float32)
    with pytest.warns(jaxnet.DivergenceWarning, match="diverged"):
        _, _, h = jaxnet.fit(params, x, y, optimizer=optax.sgd(1e30), steps=20, chunk=1, progress=False)
    assert h["diverged"]


@pytest.mark.parametrize("kernel", ["broadcast", "dense"])
def test_sweep_records_the_same_first_loss_as_loss_for_targets_of_1e19(kernel):
    # found by the long fuzz run: the broadcast kernel summed 8 half-squares of 1e19 before scaling: inf in float32
    params, x, _ = _identity_1e30()
    y = np.full(8, 1e19, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jaxnet.DivergenceWarning)  # what happens after the first step is not asked
        _, losses, _ = jaxnet.sweep(x, y, params=params, steps=2, head="identity", kernel=kernel, record_every=1)
    expected = float(jaxnet.loss(params, x, y, head="identity"))
    assert float(losses[0, 0]) == pytest.approx(expected, rel=1e-5)

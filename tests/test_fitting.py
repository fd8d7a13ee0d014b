"""jaxnet.fit: scan-fused training that equals step-by-step optax and compiles once; it keeps the work done
(divergence, Ctrl-C and callback errors hand back a finite, consistent state); validation runs on the user's
schedule; early stopping restores the best state."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import optax_promotion

import jaxnet
from jaxnet import _fit_args, _fit_loop, _sweep_checks, _sweep_kernels, sweeps
from jaxnet._recording import fit_record_every


@pytest.fixture
def toy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float64)
    return jaxnet.init_mlp(jax.random.key(0), (4, 8, 1), dtype=jnp.float64), jnp.asarray(x), jnp.asarray(y)


def finite(params):
    return all(bool(jnp.all(jnp.isfinite(v))) for v in params.values())


def assert_consistent(params, x, y, history):
    """The returned state is finite, its loss is the history's last entry, and nothing is recorded past it."""
    assert finite(params)
    assert history["loss"].size and np.all(np.isfinite(history["loss"]))
    assert history["step"][-1] == history["steps_done"]
    assert float(jaxnet.loss(params, x, y)) == pytest.approx(float(history["loss"][-1]), rel=1e-6)
    assert np.all(history["val_step"] <= history["steps_done"])


@pytest.mark.slow
def test_sgd_at_learning_rate_1e30_returns_a_finite_state_equal_to_its_history():
    params, x, y = jaxnet.seed_example(jnp.float32)  # float32, as in the issue: z overflows after one step
    with pytest.warns(jaxnet.DivergenceWarning, match="diverged"):
        out, _, history = jaxnet.fit(params, x, y, optimizer=optax.sgd(1e30), steps=20, chunk=1, progress=False)
    assert history["diverged"] and history["stopped"] == "diverged"
    assert_consistent(out, x, y, history)


@pytest.mark.parametrize("chunk", [2, 3, None])
@pytest.mark.parametrize("record_every", [1, 2])
@pytest.mark.slow
def test_divergence_at_any_chunking_keeps_the_last_finite_recorded_state(toy, chunk, record_every):
    params, x, y = toy
    with pytest.warns(jaxnet.DivergenceWarning):
        out, _, history = jaxnet.fit(
            params, x, y, optimizer=optax.sgd(1e6), steps=40, chunk=chunk, record_every=record_every, progress=False
        )
    assert_consistent(out, x, y, history)
    assert history["steps_done"] < 40


@pytest.mark.slow
def test_a_finite_blow_up_is_divergence_too():
    """Raw breast-cancer features (means up to 654) with sgd(1e6): the loss explodes but may stay finite."""
    xs, ys, _ = jaxnet.data.load_breast_cancer()
    params = jaxnet.init_mlp(0, (30, 16, 1), dtype=jnp.float64)
    with pytest.warns(jaxnet.DivergenceWarning):
        out, _, history = jaxnet.fit(params, xs, ys, optimizer=optax.sgd(1e6), steps=200, progress=False)
    assert history["diverged"]
    assert_consistent(out, xs, ys, history)
    assert np.all(history["loss"] <= 1e3 * max(history["loss"][0], 1.0))  # the documented rule


def test_training_that_is_fine_is_not_called_divergence(toy):
    params, x, y = toy
    with warnings.catch_warnings():
        warnings.simplefilter("error", jaxnet.DivergenceWarning)
        _, _, history = jaxnet.fit(params, x, y, optimizer=optax.sgd(0.5), steps=300, progress=False)
    assert not history["diverged"] and history["stopped"] == "completed" and history["steps_done"] == 300


def test_on_divergence_raise_carries_the_finite_state(toy):
    params, x, y = toy
    with pytest.raises(jaxnet.DivergenceError) as err:
        jaxnet.fit(params, x, y, optimizer=optax.sgd(1e8), steps=50, on_divergence="raise", progress=False)
    assert_consistent(err.value.params, x, y, err.value.history)
    assert err.value.opt_state is not None


def test_keyboard_interrupt_hands_back_the_last_completed_chunk():
    """Issue 18: a 1.0 s timer raced auto_record_every (1 s for 2**31 - 1 steps) on a loaded machine and a bare
    KeyboardInterrupt stopped pytest. Here the Ctrl-C comes from the callback after the first chunk: no timer."""
    params, x, y = jaxnet.seed_example(jnp.float64)
    optimizer = optax.sgd(0.01)

    def ctrl_c(step, p, history):
        raise KeyboardInterrupt

    with pytest.raises(jaxnet.TrainingInterrupted) as err:
        jaxnet.fit(params, x, y, optimizer=optimizer, steps=2**31 - 1, callback=ctrl_c, progress=False)
    assert isinstance(err.value, KeyboardInterrupt)
    h = err.value.history
    assert h["steps_done"] > 0 and h["stopped"] == "interrupted" and finite(err.value.params)
    assert h["step"][-1] < h["steps_done"] and h["loss"].size == h["step"].size
    replay, _, _ = jaxnet.fit(params, x, y, optimizer=optimizer, steps=h["steps_done"], progress=False)
    for k in params:  # the carried params are exactly those after steps_done steps
        np.testing.assert_allclose(err.value.params[k], replay[k], rtol=0, atol=1e-12)


def test_auto_record_every_keeps_its_results_for_huge_and_prime_step_counts():
    # (it searched every divisor up to steps // 100 in Python: ~1 s for 2**31 - 1; now trial division to sqrt)
    assert fit_record_every(2**31 - 1, None, 1e-6) == 1  # a prime: only 1 divides it
    assert fit_record_every(2**30, None, 1e-6) == 2**23  # the largest power of 2 <= 2**30 // 100
    assert fit_record_every(2 * 3 * 1_000_003, None, 1e-6) == 6  # a large prime factor: 6, not 1
    assert fit_record_every(10**6, 3 * 10**5, 1e-6) == 10**4  # divides gcd(steps, eval_every) = 1e5
    for steps in (10_001, 12_345, 2**20, 999_999, 10**7 + 1):  # the old definition, where it is quick to run
        g, m = steps, steps // 100
        assert fit_record_every(steps, None, 1e-6) == max(d for d in range(1, m + 1) if g % d == 0)


def _interrupt_on_call(monkeypatch, module, name, calls_before):
    """Replace ``module.name`` by a wrapper that raises KeyboardInterrupt on call number ``calls_before + 1``."""
    real = getattr(module, name)
    count = [0]

    def wrapper(*args, **kwargs):
        count[0] += 1
        if count[0] > calls_before:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return count


def test_ctrl_c_during_the_argument_checks_carries_the_given_params(toy, monkeypatch):
    params, x, y = toy
    _interrupt_on_call(monkeypatch, _fit_args, "prepare", 0)
    with pytest.raises(jaxnet.TrainingInterrupted) as err:
        jaxnet.fit(params, x, y, steps=10, progress=False)
    assert err.value.params is params and err.value.opt_state is None
    assert err.value.history["steps_done"] == 0 and err.value.history["loss"].size == 0
    assert err.value.history["stopped"] == "interrupted"


@pytest.mark.parametrize("calls_before", [0, 1])  # 0: while compiling the first chunk; 1: in the second chunk
def test_ctrl_c_during_a_chunk_carries_the_last_completed_one(toy, monkeypatch, calls_before):
    params, x, y = toy
    optimizer = optax.sgd(0.1, momentum=0.9)
    _interrupt_on_call(monkeypatch, _fit_loop, "run_steps", calls_before)
    with pytest.raises(jaxnet.TrainingInterrupted) as err:
        jaxnet.fit(params, x, y, optimizer=optimizer, steps=20, chunk=5, progress=False)
    monkeypatch.undo()
    done = err.value.history["steps_done"]
    assert done == 5 * calls_before and err.value.history["loss"].size == done
    replay, state, _ = jaxnet.fit(params, x, y, optimizer=optimizer, steps=max(done, 1), progress=False)
    if done == 0:  # the initial params and the optimizer's initial state
        replay, state = params, optimizer.init(params)
    for k in params:
        np.testing.assert_allclose(err.value.params[k], replay[k], rtol=0, atol=1e-12)
    for a, b in zip(jax.tree.leaves(err.value.opt_state), jax.tree.leaves(state)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_ctrl_c_during_validation_carries_the_state_before_it(toy, monkeypatch):
    params, x, y = toy
    _interrupt_on_call(monkeypatch, _fit_loop, "scores", 1)  # the step-5 evaluation passes
    with pytest.raises(jaxnet.TrainingInterrupted) as err:
        jaxnet.fit(params, x, y, steps=20, validation=(x, y), eval_every=5, progress=False)
    h = err.value.history
    assert h["steps_done"] == 10 and h["val_step"].tolist() == [5] and finite(err.value.params)


def test_ctrl_c_during_the_divergence_replay_keeps_a_consistent_state(toy, monkeypatch):
    params, x, y = toy
    fit = lambda: jaxnet.fit(params, x, y, optimizer=optax.sgd(40.0), steps=50, chunk=10, progress=False)  # noqa: E731
    with pytest.warns(jaxnet.DivergenceWarning):
        _, _, diverged = fit()
    assert diverged["steps_done"] == 2  # diverged in the first chunk: the second run_steps call is the replay
    _interrupt_on_call(monkeypatch, _fit_loop, "run_steps", 1)
    with pytest.raises(jaxnet.TrainingInterrupted) as err:
        fit()
    h = err.value.history
    assert h["steps_done"] == 0 and h["loss"].size == 0 and not h["diverged"]
    for k in params:  # the last completed state: the start
        np.testing.assert_array_equal(err.value.params[k], params[k])


def test_ctrl_c_at_the_end_carries_the_finished_state(toy, monkeypatch):
    params, x, y = toy
    expected, _, _ = jaxnet.fit(params, x, y, steps=12, progress=False)
    _interrupt_on_call(monkeypatch, _fit_loop, "_finish", 0)
    with pytest.raises(jaxnet.TrainingInterrupted) as err:
        jaxnet.fit(params, x, y, steps=12, progress=False)
    assert err.value.history["steps_done"] == 12
    for k in params:
        np.testing.assert_allclose(err.value.params[k], expected[k], rtol=0, atol=0)


def test_ctrl_c_in_a_sweep_carries_the_starting_or_the_trained_nets(monkeypatch):
    params, x, y = jaxnet.seed_example(jnp.float64)
    rates = jnp.array([0.1, 0.2])
    _interrupt_on_call(monkeypatch, _sweep_checks, "check_kernel", 0)  # during the checks
    with pytest.raises(jaxnet.TrainingInterrupted) as err:
        jaxnet.sweep(x, y, params=params, learning_rates=rates, steps=5)
    assert err.value.params is params and err.value.history["steps_done"] == 0
    monkeypatch.undo()
    _interrupt_on_call(monkeypatch, _sweep_kernels, "run", 0)  # compiling or training
    with pytest.raises(jaxnet.TrainingInterrupted) as err:
        jaxnet.sweep(x, y, params=params, learning_rates=rates, steps=5)
    assert err.value.history["steps_done"] == 0 and err.value.params["W1"].shape == (1, 3, 2)
    np.testing.assert_array_equal(err.value.params["W1"][0], params["W1"])
    monkeypatch.undo()
    rates = jnp.array([0.1, 1e200])  # the second net diverges: a warning after training
    with pytest.warns(jaxnet.DivergenceWarning):
        expected, losses, _ = jaxnet.sweep(x, y, params=params, learning_rates=rates, steps=5)
    _interrupt_on_call(monkeypatch, sweeps.warnings, "warn", 0)  # after training: the trained nets
    with pytest.raises(jaxnet.TrainingInterrupted) as err:
        jaxnet.sweep(x, y, params=params, learning_rates=rates, steps=5)
    assert err.value.history["steps_done"] == 5
    np.testing.assert_array_equal(err.value.history["loss"], losses)
    for k in params:
        np.testing.assert_array_equal(err.value.params[k], expected[k])


def test_a_callback_that_raises_keeps_the_state(toy):
    params, x, y = toy

    def broken(step, p, history):
        if step >= 20:
            raise ZeroDivisionError("user bug")

    with pytest.raises(jaxnet.CallbackError) as err:
        jaxnet.fit(params, x, y, steps=100, chunk=10, callback=broken, progress=False)
    assert isinstance(err.value.__cause__, ZeroDivisionError)
    assert err.value.history["steps_done"] >= 20 and finite(err.value.params)


@pytest.mark.slow
def test_validation_on_the_users_schedule_with_accuracy(toy):
    params, x, y = toy
    _, _, history = jaxnet.fit(
        params, x[:48], y[:48], steps=60, validation=(x[48:], y[48:]), eval_every=15, progress=False
    )
    np.testing.assert_array_equal(history["val_step"], [15, 30, 45, 60])
    assert history["val_loss"].shape == (4,) and history["val_accuracy"].shape == (4,)
    assert np.all((history["val_accuracy"] >= 0) & (history["val_accuracy"] <= 1))


@pytest.mark.slow
def test_validation_schedule_does_not_depend_on_chunking(toy):
    params, x, y = toy
    runs = [
        jaxnet.fit(
            params, x[:48], y[:48], steps=60, validation=(x[48:], y[48:]), eval_every=20, chunk=c, progress=False
        )[2]
        for c in (1, 7, None)
    ]
    for h in runs[1:]:
        np.testing.assert_array_equal(h["val_step"], runs[0]["val_step"])
        np.testing.assert_allclose(h["val_loss"], runs[0]["val_loss"], rtol=0, atol=1e-12)


@pytest.mark.slow
def test_early_stopping_restores_the_best_evaluation(toy):
    params, x, y = toy
    noisy_val = (x[48:], 1.0 - y[48:])  # a validation set the training makes worse: stops early
    out, _, history = jaxnet.fit(
        params,
        x[:48],
        y[:48],
        optimizer=optax.sgd(1.0),
        steps=2000,
        validation=noisy_val,
        eval_every=10,
        early_stopping=3,
        progress=False,
    )
    assert history["stopped"] == "early_stopping" and history["steps_done"] < 2000
    best = int(np.argmin(history["val_loss"]))
    assert history["best_step"] == history["val_step"][best]
    assert history["steps_done"] == history["val_step"][best + 3]  # three evaluations without improvement
    assert float(jaxnet.loss(out, *noisy_val)) == pytest.approx(float(history["val_loss"][best]), rel=1e-12)


@pytest.mark.slow
def test_validation_split_is_stratified_and_seeded(toy):
    params, x, y = toy
    out = [
        jaxnet.fit(params, x, y, steps=20, validation_split=0.25, key=k, eval_every=20, progress=False)[2]
        for k in (3, 3, 4)
    ]
    assert out[0]["val_loss"] == pytest.approx(out[1]["val_loss"])
    assert not np.allclose(out[0]["val_loss"], out[2]["val_loss"])
    with pytest.raises(ValueError, match="validation_split"):
        jaxnet.fit(params, x, y, steps=2, validation_split=1.5, progress=False)
    with pytest.raises(ValueError, match="validation_split"):
        jaxnet.fit(params, x, y, steps=2, validation_split=0.2, validation=(x, y), progress=False)


def test_eval_and_early_stopping_need_a_validation_set(toy):
    params, x, y = toy
    for kwargs in ({"eval_every": 5}, {"early_stopping": 2}):
        with pytest.raises(ValueError, match="needs a validation set"):
            jaxnet.fit(params, x, y, steps=10, progress=False, **kwargs)
    with pytest.raises(TypeError, match="early_stopping"):
        jaxnet.fit(params, x, y, steps=10, validation=(x, y), early_stopping=True, progress=False)


@pytest.mark.slow
def test_softmax_and_identity_heads_train(toy):
    with jax.numpy_dtype_promotion("standard"):  # optax's adam mixes its int32 count with floats
        _heads_train(*toy)


def _heads_train(_, x, y):
    classes = (np.asarray(x[:, 0]) > 0).astype(int) + (np.asarray(x[:, 1]) > 0).astype(int)  # 0, 1, 2
    p = jaxnet.init_mlp(1, (4, 8, 3), dtype=jnp.float64)
    out, _, h = jaxnet.fit(p, x, classes, head="softmax", optimizer=optax.adam(0.05), steps=200, progress=False)
    assert h["loss"][-1] < h["loss"][0] and jaxnet.accuracy(out, x, classes, head="softmax") > 0.8
    target = np.asarray(x[:, :1] * 2 - x[:, 1:2])
    p = jaxnet.init_mlp(2, (4, 8, 1), dtype=jnp.float64)
    out, _, h = jaxnet.fit(
        p, x, target, head="identity", activation="tanh", optimizer=optax.adam(0.05), steps=300, progress=False
    )
    assert jaxnet.evaluate(out, x, target, head="identity", activation="tanh")["r2"] > 0.9


@pytest.mark.slow
def test_default_record_every_every_step_for_short_runs_and_about_a_hundred_points_for_long_ones(toy):
    params, x, y = toy
    _, _, history = jaxnet.fit(params, x, y, steps=20_000, progress=False)
    assert history["loss"].size == 100 and history["step"][1] - history["step"][0] == 200
    _, _, short = jaxnet.fit(params, x, y, steps=5000, progress=False)
    assert short["loss"].size == 5000
    _, _, every = jaxnet.fit(params, x, y, steps=40, record_every=1, progress=False)
    assert every["loss"].size == 40


def test_the_loss_buffer_is_sized_by_what_is_recorded_not_by_chunk():
    """fit(steps=10, chunk=10**9) allocated 4 GB for a loss buffer of `chunk` entries."""
    import resource

    params, x, y = jaxnet.seed_example(jnp.float64)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    _, _, history = jaxnet.fit(params, x, y, steps=10, chunk=10**9, progress=False)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert history["steps_done"] == 10 and grown_mib < 500


@pytest.mark.slow
def test_numerical_grads_in_float32_picks_a_usable_eps_and_warns_about_a_bad_one():
    params, x, y = jaxnet.seed_example(jnp.float32)
    g = jaxnet.numerical_grads(params, x, y)
    assert float(g["W1"][1, 0]) == pytest.approx(0.09635162, abs=2e-4)  # 0.0596 (40% off) with eps=1e-6 before
    with pytest.warns(jaxnet.NumericalPrecisionWarning, match="float32"):
        jaxnet.numerical_grads(params, x, y, 1e-6)


def test_the_returned_state_is_checked_too_not_only_block_starts():
    """One step of sgd(1e6) on raw breast-cancer data: the loss before it is fine, after it 1e18."""
    xs, ys, _ = jaxnet.data.load_breast_cancer()
    params = jaxnet.init_mlp(0, (30, 16, 1), dtype=jnp.float64)
    with pytest.warns(jaxnet.DivergenceWarning):
        out, _, history = jaxnet.fit(params, xs, ys, optimizer=optax.sgd(1e6), steps=1, progress=False)
    assert history["diverged"] and history["steps_done"] == 0
    assert_consistent(out, xs, ys, history)
    for k in params:
        np.testing.assert_array_equal(out[k], params[k])


@pytest.mark.slow
def test_divergence_after_early_stopping_found_a_best_state_returns_that_state(toy):
    params, x, y = toy
    blow_up_later = optax.sgd(optax.piecewise_constant_schedule(0.5, {40: 2e8}))  # lr 0.5, then 1e8 from step 40
    with pytest.warns(jaxnet.DivergenceWarning, match="best validation loss"), jax.numpy_dtype_promotion("standard"):
        out, _, history = jaxnet.fit(
            params,
            x[:48],
            y[:48],
            optimizer=blow_up_later,
            steps=400,
            chunk=10,
            validation=(x[48:], y[48:]),
            eval_every=10,
            early_stopping=50,
            record_every=1,
            progress=False,
        )
    assert history["diverged"] and history["best_step"] is not None
    best = history["val_loss"][list(history["val_step"]).index(history["best_step"])]
    assert float(jaxnet.loss(out, x[48:], y[48:])) == pytest.approx(float(best), rel=1e-12)


def test_schedule_options_that_could_not_work_are_refused(toy):
    params, x, y = toy
    with pytest.raises(ValueError, match="eval_every: expected at most steps"):
        jaxnet.fit(params, x, y, steps=10, validation=(x, y), eval_every=50, early_stopping=1, progress=False)
    with pytest.raises(ValueError, match="chunk: expected at least record_every"):
        jaxnet.fit(params, x, y, steps=10, chunk=1, record_every=2, progress=False)
    _, _, h = jaxnet.fit(params, x, y, steps=25, validation=(x, y), eval_every=10, progress=False)
    np.testing.assert_array_equal(h["val_step"], [10, 20, 25])  # and the final state


@pytest.mark.slow
def test_validation_split_that_leaves_no_training_weight_is_refused(toy):
    params, x, y = toy
    w = np.zeros(64)
    w[np.flatnonzero(np.asarray(y) == 1)[0]] = 1.0
    refused = 0
    for key in range(6):
        try:
            jaxnet.fit(params, x, y, steps=2, validation_split=0.5, sample_weight=w, key=key, progress=False)
        except ValueError as err:
            assert str(err).startswith("validation_split:") and "sample_weight 0" in str(err)
            refused += 1
    assert refused >= 1  # the one weighted example lands in the validation part for some keys


def test_a_callback_returning_numpy_true_stops(toy):
    params, x, y = toy
    _, _, h = jaxnet.fit(params, x, y, steps=100, chunk=10, callback=lambda s, p, hh: np.bool_(s >= 20), progress=False)
    assert h["stopped"] == "callback" and h["steps_done"] <= 30


# --- training equals step-by-step optax, compiles once, stops on divergence ----------------------------------------


@pytest.fixture
def seed64():
    return jaxnet.seed_example(jnp.float64)


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
    x = np.arange(n, dtype=np.float64)[:, None]
    y = (np.arange(n) % 2).astype(np.float64)
    seen = []

    def loss_fn(params, xb, yb, w):  # records each step's minibatch, in step order
        jax.debug.callback(lambda v: seen.append(np.asarray(v)), xb[:, 0], ordered=True)
        return jaxnet.loss(params, xb, yb, w)

    params = jaxnet.init_mlp(0, (1, 1), dtype=jnp.float64)
    jaxnet.fit(params, x, y, steps=2 * n // b, batch_size=b, key=0, loss_fn=loss_fn, progress=False)
    assert all(batch.shape == (b,) for batch in seen)
    first, second = np.concatenate(seen[:3]), np.concatenate(seen[3:6])
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


@pytest.mark.parametrize("loss_dtype", [jnp.bfloat16, jnp.float16])
def test_a_custom_loss_in_another_float_dtype_trains_and_records_it(loss_dtype):
    """A loss_fn may return a narrower float than the params (mixed precision); the recorded losses are its
    values in the params' dtype (the compiled loop once failed: dynamic_update_slice of a bfloat16 into float32)."""
    params, x, y = jaxnet.seed_example(jnp.float32)
    loss_fn = lambda p, x, y, w: jaxnet._kernels.loss(p, x, y, w).astype(loss_dtype)  # noqa: E731
    fitted, _, history = jaxnet.fit(params, x, y, loss_fn=loss_fn, steps=3, progress=False)
    exact = float(jaxnet.loss(params, x, y))  # XLA may keep the float32 value (excess precision, as on a GPU)
    assert history["loss"].dtype == np.float32 and history["steps_done"] == 3
    assert abs(history["loss"][0] - exact) <= float(jnp.finfo(loss_dtype).eps) * exact
    assert jaxnet.loss(fitted, x, y) < jaxnet.loss(params, x, y)


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


@pytest.mark.parametrize("seed", [0, 7, 2**31 + 5, 2**32 - 1, 2**32, 2**63 - 1])
def test_an_int_key_is_the_threefry_key_of_its_two_words_and_compiles_nothing(seed, count_compiles):
    from jaxnet._keys import seed_key

    with count_compiles() as compiles:
        key = seed_key(seed)
        assert compiles() == 0
    want = np.array([seed >> 32, seed & 0xFFFFFFFF], np.uint32)
    np.testing.assert_array_equal(jax.random.key_data(key), want)
    if seed < 2**31:  # what jax.random.key gives, x64 or not
        np.testing.assert_array_equal(jax.random.key_data(key), jax.random.key_data(jax.random.key(seed)))


def test_a_second_fit_does_not_trace_the_optimizers_init_again(toy):
    """fit's one-program optimizer init (jaxnet._hyper.initial_state) checks its state against optax's own init
    once per kind of optimizer and params: another learning rate neither traces nor runs ``init`` again."""
    params, x, y = toy
    calls = []

    def counting_sgd(learning_rate):
        sgd = optax.sgd(learning_rate)

        def init(p):
            calls.append(1)  # once per trace or eager run
            return sgd.init(p)

        return optax.GradientTransformation(init, sgd.update)

    first, _, _ = jaxnet.fit(params, x, y, optimizer=counting_sgd(0.1), steps=3, progress=False)
    assert len(calls) >= 1
    calls.clear()
    second, _, _ = jaxnet.fit(params, x, y, optimizer=counting_sgd(0.2), steps=3, progress=False)
    assert calls == []
    reference, _, _ = jaxnet.fit(params, x, y, optimizer=optax.sgd(0.2), steps=3, progress=False)
    assert_same(second, reference, atol=0)

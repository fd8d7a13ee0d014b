"""The public API refuses bad inputs naming the argument (model, losses, gradients, validation, fit).

Each test asserts the exception type and that the message names the
argument at fault (or, for inputs that are valid, the exact right answer).
CLI, checkpoint, CSV and sweep inputs are tested in their own files.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnet
from jaxnet import _kernels
from jaxnet.parallel import check_mesh


def seed(dtype=jnp.float64):
    return jaxnet.seed_example(dtype)


def batch(dtype):
    x = jnp.asarray([[0.5, 0.8], [0.1, -0.3], [-1.0, 2.0]], dtype)
    y = jnp.asarray([1.0, 0.0, 1.0], dtype)
    return x, y


def raises(error, *words):
    """``pytest.raises`` that also checks every word is in the message (the argument's name first)."""

    class Check:
        def __enter__(self):
            self.ctx = pytest.raises(error)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            suppressed = self.ctx.__exit__(*exc)
            message = str(self.info.value)
            for word in words:
                assert word in message, f"{word!r} not in {message!r}"
            return suppressed

    return Check()


# --- section 3: values checked in the dtype they will be used in -------------------------------------------------


def test_x_that_overflows_float32_is_refused_naming_x():
    params, _, _ = seed(jnp.float32)
    with raises(ValueError, "x:", "float32"):
        jaxnet.loss(params, np.array([1e39, 0.8]), 1.0)


def test_x_that_overflows_float16_is_refused_naming_x():
    params, _, _ = seed(jnp.float16)
    with raises(ValueError, "x:", "float16"):
        jaxnet.loss(params, np.array([7e4, 0.8]), 1.0)
    with raises(ValueError, "x:", "float16"):
        jaxnet.forward(params, np.array([7e4, 0.8]))


@pytest.mark.slow
def test_sample_weight_that_overflows_float32_is_refused():
    params, x, _ = seed(jnp.float32)
    with raises(ValueError, "sample_weight:", "float32"):
        jaxnet.loss(params, x, 1.0, 1e39)
    xb, yb = batch(jnp.float32)
    with raises(ValueError, "sample_weight:", "float32"):
        jaxnet.grads(params, xb, yb, np.array([1e39, 1.0, 1.0]))


@pytest.mark.parametrize("value", [3e38, 1e-45], ids=["huge", "subnormal"])
@pytest.mark.slow
def test_equal_extreme_float32_weights_give_the_unweighted_loss_and_gradient(value):
    # XLA on CPUs flushes subnormals to zero: w / max(w) read 3e38 * (1 / 3e38 -> 0) = 0 (NaN shares), and
    # 1e-45 as 0 ("all zero" refused). _kernels.shares normalises by frexp's exponent instead.
    params, _, _ = seed(jnp.float32)
    x, y = batch(jnp.float32)
    w = np.full(3, value, np.float32)
    assert np.all(w > 0)  # numpy keeps the subnormal
    want_loss = float(jaxnet.loss(params, x, y))
    got = float(jaxnet.loss(params, x, y, w))
    assert np.isfinite(got) and got == pytest.approx(want_loss, rel=1e-6)
    want = jaxnet.grads(params, x, y)
    for fn in (jaxnet.grads, jaxnet.manual_grads):
        g = fn(params, x, y, w)
        for k in want:
            assert np.all(np.isfinite(g[k])), k
            np.testing.assert_allclose(g[k], want[k], rtol=1e-5, atol=1e-7, err_msg=k)


@pytest.mark.parametrize("scale", [3e38 / 2, 1e-45, 1.0], ids=["huge", "subnormal", "plain"])
def test_extreme_weight_ratios_are_kept_exactly(scale):
    # [2s, s, 0] must weigh like [2, 1, 0], whatever s (1e-45 is float32's smallest subnormal, 2e-45 its double).
    params, _, _ = seed(jnp.float32)
    x, y = batch(jnp.float32)
    w = np.array([2.0, 1.0, 0.0], np.float32) * np.float32(scale)
    assert w[0] == 2 * w[1]
    want = float(jaxnet.loss(params, x, y, np.array([2.0, 1.0, 0.0], np.float32)))
    assert float(jaxnet.loss(params, x, y, w)) == pytest.approx(want, rel=1e-6)


def test_shares_kernel_is_safe_under_jit_too():
    z = jnp.zeros((2, 1), jnp.float32)
    for w in ([3e38, 3e38], [1e-45, 1e-45], [3e38, 0.0], [3e38, 1e-45]):
        w32 = np.asarray(w, np.float32)
        r = np.asarray(jax.jit(_kernels.shares)(z, jnp.asarray(w32))[:, 0])
        np.testing.assert_allclose(
            r, w32.astype(np.float64) / np.sum(w32, dtype=np.float64), rtol=1e-7, atol=1e-38
        )  # below float32


@pytest.mark.slow
def test_equal_weights_give_the_unweighted_mean():
    params, _, _ = seed()
    x, y = batch(jnp.float64)
    w = jnp.full((3,), 7.0)
    assert float(jaxnet.loss(params, x, y, w)) == pytest.approx(float(jaxnet.loss(params, x, y)), rel=1e-15)
    g, want = jaxnet.manual_grads(params, x, y, w), jaxnet.manual_grads(params, x, y)
    for k in want:
        np.testing.assert_allclose(g[k], want[k], rtol=1e-14, atol=1e-16, err_msg=k)


def test_negative_subnormal_weight_is_refused():
    # On a CPU device -1e-45 >= 0 is True (flushed to -0): the sign must come from the bits, as it does.
    params, _, _ = seed(jnp.float32)
    x, y = batch(jnp.float32)
    with raises(ValueError, "sample_weight:", ">= 0"):
        jaxnet.loss(params, x, y, np.array([1.0, -1e-45, 1.0], np.float32))


def test_all_zero_weights_are_refused():
    params, _, _ = seed()
    x, y = batch(jnp.float64)
    with raises(ValueError, "sample_weight:", "positive"):
        jaxnet.loss(params, x, y, np.zeros(3))


def test_bce_refuses_nan():
    with raises(ValueError, "y_pred:", "NaN"):
        jaxnet.bce(1.0, np.nan)
    with raises(ValueError, "y_true:", "NaN"):
        jaxnet.bce(np.nan, 0.5)


def test_bce_refuses_labels_outside_0_1():
    with raises(ValueError, "y_true:", "[0, 1]"):
        jaxnet.bce(2.0, 0.5)
    with raises(ValueError, "y_pred:", "[0, 1]"):
        jaxnet.bce(1.0, -0.1)


def test_bce_refuses_complex_input():
    with raises(TypeError, "y_pred:", "complex"):
        jaxnet.bce(1.0, 0.5 + 0.1j)
    with raises(TypeError, "y_true:", "complex"):
        jaxnet.bce(np.array([1.0 + 0j]), 0.5)


# --- section 5: obscure errors become clear ones ----------------------------------------------------------------


def test_forward_of_none_names_x():
    params, _, _ = seed()
    with raises(TypeError, "x:", "None"):
        jaxnet.forward(params, None)


def test_loss_with_none_labels_names_y():
    params, x, _ = seed()
    with raises(TypeError, "y:", "None"):
        jaxnet.loss(params, x, None)
    with raises(TypeError, "y:", "None"):
        jaxnet.grads(params, x, None)


class Recorder:
    """A fit callback that records that training ran."""

    def __init__(self):
        self.calls = 0

    def __call__(self, step, params, history):
        self.calls += 1


def fit_with(**kw):
    params, _, _ = seed()
    x, y = batch(jnp.float64)
    callback = Recorder()
    try:
        jaxnet.fit(params, x, y, steps=2, progress=False, callback=callback, **kw)
    finally:
        assert callback.calls == 0, "fit trained before refusing its arguments"


def test_fit_validation_not_a_pair():
    x, _ = batch(jnp.float64)
    with raises(TypeError, "validation:", "pair"):
        fit_with(validation=x)


def test_fit_validation_one_tuple_fails_before_training():
    x, _ = batch(jnp.float64)
    with raises(TypeError, "validation:", "length 1"):
        fit_with(validation=(x,))


def test_fit_validation_three_tuple_is_refused():
    x, y = batch(jnp.float64)
    with raises(TypeError, "validation:", "length 3"):
        fit_with(validation=(x, y, y))


def test_fit_bad_validation_labels_name_the_validation_argument():
    x, _ = batch(jnp.float64)
    with raises(ValueError, "validation") as info:
        fit_with(validation=(x, np.array([2.0, 0.0, 1.0])))
    assert not str(info.value).startswith("y:")
    with raises(ValueError, "validation") as info:
        fit_with(validation=(x, np.array([1.0, 0.0])))  # wrong length
    assert not str(info.value).startswith("y:")
    with raises(ValueError, "validation"):
        fit_with(validation=(np.array([[np.nan, 1.0]]), np.array([1.0])))


def test_numerical_grads_weights_passed_positionally_name_eps():
    params, _, _ = seed()
    x, y = batch(jnp.float64)
    with raises(TypeError, "eps:", "sample_weight="):
        jaxnet.numerical_grads(params, x, y, np.ones(3))


@pytest.mark.parametrize("eps", [np.inf, -np.inf, np.nan, 0.0, -1e-3, 10**400, -(10**400)])
def test_numerical_grads_refuses_non_positive_or_non_finite_eps(eps):
    params, x, y = seed()
    with raises(ValueError, "eps:"):
        jaxnet.numerical_grads(params, x, y, eps)


def test_fit_key_string_is_refused():
    with raises(TypeError, "key:", "jax.random.key(0)"):
        fit_with(key="abc")


def test_fit_opt_state_string_is_refused():
    with raises(TypeError, "opt_state:"):
        fit_with(opt_state="x")


def test_fit_opt_state_huge_int_is_refused_naming_opt_state():
    with raises(TypeError, "opt_state:"):
        fit_with(opt_state=2**70)


def test_fit_opt_state_of_shapes_without_values_is_refused_naming_opt_state():
    params, x, y = jaxnet.seed_example()
    opt = optax.adam(1e-3)
    with jax.numpy_dtype_promotion("standard"), pytest.raises(TypeError, match=r"^opt_state: .*ShapeDtypeStruct"):
        jaxnet.fit(params, x, y, steps=2, optimizer=opt, opt_state=jax.eval_shape(opt.init, params), progress=False)


def test_fit_opt_state_of_another_optimizer_is_refused():
    params, _, _ = seed()
    other = optax.sgd(0.1, momentum=0.9).init(params)
    with raises(TypeError, "opt_state:"):
        fit_with(optimizer=optax.adam(1e-3), opt_state=other)


@pytest.mark.slow
def test_fit_opt_state_for_other_params_is_refused():
    other = optax.adam(1e-3).init(jaxnet.init_mlp(0, (2, 4, 1), dtype=jnp.float64))
    with raises(TypeError, "opt_state:"):
        fit_with(optimizer=optax.adam(1e-3), opt_state=other)


class FourDeviceMesh:
    """Stands in for a jax.sharding.Mesh with 4 devices on its 'data' axis."""

    shape = {"data": 4}
    axis_names = ("data",)


def test_check_mesh_n_not_divisible_when_batch_size_is():
    with raises(ValueError, "mesh:", "number of examples", "10", "4"):
        check_mesh(FourDeviceMesh(), 10, 4)
    check_mesh(FourDeviceMesh(), 12, 4)  # both divide: accepted
    with raises(ValueError, "mesh:", "batch_size", "6"):
        check_mesh(FourDeviceMesh(), 12, 6)


def test_layer_sizes_with_a_gap_is_a_value_error():
    params, _, _ = seed()
    gap = {"W1": params["W1"], "b1": params["b1"], "W3": params["W2"], "b3": params["b2"]}
    with raises(ValueError, "params:", "W2"):
        jaxnet.layer_sizes(gap)
    with raises(ValueError, "params:", "W2"):
        jaxnet.forward(gap, jnp.ones(2, jnp.float64))


def test_seed_example_refuses_an_integer_dtype():
    with raises(TypeError, "dtype:", "int32"):
        jaxnet.seed_example(jnp.int32)


def test_init_mlp_accepts_an_int_seed():
    a = jaxnet.init_mlp(0, (2, 3, 1))
    b = jaxnet.init_mlp(jax.random.key(0), (2, 3, 1))
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_init_mlp_string_key_shows_the_fix():
    with raises(TypeError, "key:", "jax.random.key(0)"):
        jaxnet.init_mlp("abc", (2, 3, 1))


def test_fit_validation_split_too_small_names_validation_split():
    params, _, _ = seed()
    x, y = batch(jnp.float64)
    with raises(ValueError, "validation_split"):  # one example of each class: nothing to hold out per class
        jaxnet.fit(params, x[:2], y[:2], steps=2, progress=False, validation_split=0.5)


def test_bce_shapes_that_do_not_broadcast_are_refused():
    # Found by tests/test_fuzz.py: a JAX broadcasting error that named neither argument.
    with raises(ValueError, "y_true:", "y_pred"):
        jaxnet.bce(np.array([1.0, 0.0]), np.array([0.5, 0.5, 0.5]))
    with raises(ValueError, "y_true:"):
        jaxnet.bce(np.zeros((0, 2)), np.array([0.5, 0.5, 0.5]))
    got = jaxnet.bce(1.0, np.array([0.5, 0.25]))  # a scalar label broadcasts
    np.testing.assert_allclose(got, -np.log([0.5, 0.25]), rtol=1e-15)


def test_finite_inputs_that_overflow_the_network_are_refused_naming_x():
    params, _, _ = seed()  # float64: 1e200 squared overflows the identity head's squared error
    x, y = np.array([[1e200, 1e200]]), np.array([1.0])
    with raises(ValueError, "x:", "every input is finite", "overflowed float64"):
        jaxnet.loss(params, x, y, head="identity")


@pytest.mark.slow
def test_fit_minibatches_whose_weights_are_all_zero_do_not_diverge():
    # A minibatch of zero-weight rows had shares 0 / 0 = NaN, which fit read as divergence.
    params, _, _ = seed()
    x, y = batch(jnp.float64)
    w = np.array([1.0, 0.0, 0.0])
    new, _, history = jaxnet.fit(
        params,
        x,
        y,
        steps=6,
        batch_size=1,
        key=0,
        sample_weight=w,
        progress=False,
        record_every=1,
        optimizer=optax.sgd(0.1),
    )
    assert history["diverged"] is False and history["stopped"] == "completed" and history["steps_done"] == 6
    assert np.all(np.isfinite(history["loss"]))
    assert any(not np.array_equal(new[k], params[k]) for k in params)  # the weighted row was trained on


def test_fit_loss_fn_of_the_wrong_signature_names_loss_fn():
    with raises(TypeError, "loss_fn"):
        fit_with(loss_fn=two_arguments)


def two_arguments(params, x):  # named so that Python's own message cannot contain "loss_fn"
    return jnp.sum(x)


def test_fit_loss_fn_returning_none_names_loss_fn():
    with raises(TypeError, "loss_fn"):
        fit_with(loss_fn=returns_none)


def returns_none(params, x, y, sample_weight):
    return None


@pytest.mark.parametrize("eps", [1e-50, 1e39])
def test_numerical_grads_eps_is_checked_in_the_params_dtype(eps):
    params, x, y = jaxnet.seed_example(jnp.float32)
    with raises(ValueError, "eps:", "float32"):
        jaxnet.numerical_grads(params, x, y, eps)


@pytest.mark.slow
def test_evaluate_and_numerical_grads_refuse_finite_inputs_that_overflow():
    params, _, _ = seed()
    params = dict(params, W2=jnp.asarray([[1e300, -1e300, 1e300]]))
    x, y = np.array([[1e10, 1e10], [0.5, 0.8]]), np.array([1.0, 0.0])
    with raises(ValueError, "params:", "overflowed"):
        jaxnet.evaluate(params, x, y, head="identity")
    with raises(ValueError, "params:", "overflowed"):
        jaxnet.accuracy(params, x, y)


def test_load_csv_and_plot_loss_name_their_bad_arguments():
    with raises(TypeError, "path:"):
        jaxnet.data.load_csv(None)
    with raises(ValueError, "history:"):
        jaxnet.plotting.plot_loss({}, "unused.png")

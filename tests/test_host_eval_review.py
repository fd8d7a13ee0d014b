"""Review of jaxnet._host_eval: primitives whose numpy meaning differed from XLA's, silently.

Each case is a program ``call`` evaluated (it did not fall back) to a value the compiled program does not
give; the oracle is the compiled program of the same trace, compared to the bit (integers, exact products).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnet
from jaxnet import _host_eval as host_eval

_OUT_OF_RANGE = [1e10, -1e10, np.nan, np.inf, -np.inf, 2.7, -2.7, 300.0, -1.0, -0.5, 2.0**31, -(2.0**31)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("to", [jnp.int32, jnp.int8, jnp.uint8, jnp.uint32, jnp.int64])
def test_a_float_converted_to_an_integer_saturates_and_nan_is_zero(dtype, to):
    """XLA truncates toward zero and saturates at the integer type's bounds, NaN giving 0; numpy's cast of an
    out-of-range float is undefined (x86: INT_MIN, or the low bits), so 1e10 came out as -2147483648."""
    fn = jax.jit(lambda a: a.astype(to))
    x = np.array(_OUT_OF_RANGE, dtype)
    host = host_eval.call(fn, x)
    assert host is not None
    np.testing.assert_array_equal(host, np.asarray(fn(x)))


def test_a_dot_accumulates_in_its_preferred_element_type():
    """``preferred_element_type=int32`` on int8 operands: XLA's products and sums are int32 (3 * 100 * 100 =
    30000); numpy's tensordot of int8 wrapped them to 48 before the conversion."""
    a, b = np.full((2, 3), 100, np.int8), np.full((3, 2), 100, np.int8)
    for pet in (jnp.int32, jnp.float32):
        fn = jax.jit(lambda a, b, pet=pet: jnp.dot(a, b, preferred_element_type=pet))
        host = host_eval.call(fn, a, b)
        assert host is not None
        np.testing.assert_array_equal(host, np.asarray(fn(a, b)))
    f32 = np.random.default_rng(0).normal(size=(4, 50)).astype(np.float32)
    fn = jax.jit(lambda a, b: jnp.dot(a, b, preferred_element_type=jnp.float64))  # float32 products, float64 sums
    np.testing.assert_allclose(host_eval.call(fn, f32, f32.T), np.asarray(fn(f32, f32.T)), rtol=1e-14)


def test_an_arithmetic_shift_of_an_unsigned_integer_copies_its_top_bit():
    """``shift_right_arithmetic`` on uint32 replicates the top bit (XLA); numpy's right_shift of an unsigned
    integer is a logical shift: 2**31 >> 1 gave 2**30 instead of 3 * 2**30."""
    fn = jax.jit(jax.lax.shift_right_arithmetic)
    for dtype in (np.uint8, np.uint32):
        bits = 8 * np.dtype(dtype).itemsize
        x = np.array([2 ** (bits - 1), 2**bits - 8, 5, 2 ** (bits - 1) + 3], dtype)
        s = np.array([1, bits + 8, 1, 3], dtype)
        host = host_eval.call(fn, x, s)
        assert host is not None
        np.testing.assert_array_equal(host, np.asarray(fn(x, s)))


def test_arguments_are_read_in_the_dtypes_they_were_traced_with():
    """Without x64 a float64 array is traced as float32: the compiled program rounds it to float32 first.
    numpy multiplied the float64 values and rounded once, (1 + 2**-24 + 2**-50) * 3 -> 3.0000002 where the
    compiled program gives 3.0000005."""
    fn = jax.jit(lambda a, b: a * b)
    a, b = np.array([1 + 2.0**-24 + 2.0**-50, 0.1]), np.array([3.0, 3.0], np.float32)
    with jax.enable_x64(False):
        host, compiled = host_eval.call(fn, a, b), np.asarray(fn(a, b))
    assert host is not None and host.dtype == compiled.dtype == np.float32
    np.testing.assert_array_equal(host, compiled)


@pytest.mark.parametrize("host_work", [host_eval.HOST_WORK, 0], ids=["numpy", "compiled"])
def test_predict_refuses_an_overflow_that_the_head_saturates_away(host_work, monkeypatch):
    """``z2 = 3 * 2e38 - 3 * 3e38 = -3e38`` is finite, so ``predict`` should say 0; the float32 sum overflows
    on its way (+inf), the sigmoid turns that into 1.0, and predict checked only ``y_hat`` and the decision:
    it answered [1, 1] with no error, on both paths (before this change too), while ``predict_proba`` (which
    checks every ``z``) refused the same call. Now ``y_hat`` is NaN in a row whose ``z`` overflowed
    (``jaxnet.model.outputs_or_nan``). Whether the sum overflows depends on its order (a BLAS's, XLA's),
    hence the property asserted: predict refuses, or it answers what exact arithmetic answers."""
    monkeypatch.setattr(host_eval, "HOST_WORK", host_work)
    params = {
        "W1": np.eye(6, dtype=np.float32),
        "b1": np.zeros(6, np.float32),
        "W2": np.array([[2e38, 2e38, 2e38, -3e38, -3e38, -3e38]], np.float32),
        "b2": np.zeros(1, np.float32),
    }
    x = np.ones((2, 6), np.float32)
    with pytest.raises(ValueError, match="overflowed"):
        jaxnet.predict_proba(params, x, activation="identity", head="sigmoid")
    try:
        decisions = np.asarray(jaxnet.predict(params, x, activation="identity", head="sigmoid"))
    except ValueError as e:
        assert "overflowed" in str(e)
    else:
        exact = x.astype(np.float64) @ params["W2"].astype(np.float64).T  # -3e38 per row: finite, negative
        np.testing.assert_array_equal(decisions, (exact[:, 0] >= 0).astype(np.int32))


def test_estimator_refuses_rows_whose_hidden_layer_overflowed_and_saturated():
    """The estimators' predictions: a hidden ``z`` of +-inf that tanh saturates to +-1 gave finite outputs,
    as if nothing had happened; its row is now counted as overflowing and refused, on both paths."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)
    clf = jaxnet.MLPClassifier(hidden_layer_sizes=(4,), activation="tanh", max_iter=2, random_state=0).fit(x, y)
    clf.params_ = {k: np.asarray(v).copy() for k, v in clf.params_.items()}
    clf.params_["W1"][0] = [3e38, 0, 0]  # z1[0] = 3e38 x_0 + b: inf where |x_0| (scaled) exceeds ~1.13
    scaled = np.asarray(clf._tabular.inputs(x, np.float32))
    with np.errstate(over="ignore"):
        z = np.float32(3e38) * scaled[:, 0] + clf.params_["b1"][0]
    overflowing = int(np.sum(~np.isfinite(z)))
    assert 0 < overflowing < len(x)
    for host_work in (host_eval.HOST_WORK, 0):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(host_eval, "HOST_WORK", host_work)
            with pytest.raises(ValueError, match=rf"^X: the network's outputs overflow for {overflowing} row"):
                clf.predict_proba(x)

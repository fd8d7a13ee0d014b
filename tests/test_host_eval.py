"""numpy evaluation of traced kernels (jaxnet._host_eval): one-off work on host-sized data compiles nothing.

The oracle is the compiled program of the same trace: every primitive, every kernel of every head and
activation, float32 and float64, must agree with it to the dtype's last bits (numpy's exp/log/tanh and
summation order are not XLA's), decisions exactly; what numpy does not evaluate falls back to compiling.
"""

import itertools

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import jaxnet
from jaxnet import _host_eval as host_eval
from jaxnet._estimator_parts import PREDICT_ROWS, _forward
from jaxnet.gradients import _grads_checked, _manual_checked
from jaxnet.losses import _loss_checked
from jaxnet.metrics import scores
from jaxnet.model import _predict_checked, _trace_checked
from jaxnet.network import ACTIVATIONS, HEADS, multiply_adds

RTOL = {np.float32: 3e-5, np.float64: 1e-13}  # relative to the array's largest entry: a few ulps of it


def _agree(host, compiled, dtype):
    host, compiled = jax.tree.leaves(host), jax.tree.leaves(compiled)
    assert len(host) == len(compiled)
    for a, b in zip(host, compiled, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert type(a) is np.ndarray and a.dtype == b.dtype and a.shape == b.shape
        if a.dtype.kind != "f":
            np.testing.assert_array_equal(a, b)  # decisions, counts
        else:
            scale = float(np.max(np.abs(b), initial=0.0))
            np.testing.assert_allclose(a, b, rtol=0, atol=RTOL[dtype.type] * max(scale, np.finfo(dtype).tiny))


def _net(rng, dtype, head, rows=7):
    n_out = 3 if HEADS[head].labels == "classes" else 2
    sizes = (3, 4, 5, n_out)
    params = {}
    for l, (a, b) in enumerate(itertools.pairwise(sizes), start=1):
        params[f"W{l}"] = rng.normal(size=(b, a)).astype(dtype)
        params[f"b{l}"] = rng.normal(size=b).astype(dtype)
    x = rng.normal(size=(rows, 3)).astype(dtype)
    y = (rng.dirichlet(np.ones(n_out), rows) if n_out == 3 else rng.uniform(size=(rows, n_out))).astype(dtype)
    return params, x, y, rng.uniform(0.5, 2.0, rows).astype(dtype)


@pytest.mark.parametrize("dtype", [np.dtype(np.float32), np.dtype(np.float64)])
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("head", list(HEADS))
def test_every_kernel_agrees_with_its_compiled_program(activation, head, dtype):
    """predict, forward_trace, loss, grads (autodiff), manual_grads, the metrics' scores (padded and
    weighted) and the estimators' forward pass, for one example and a batch."""
    params, x, y, w = _net(np.random.default_rng(len(activation) * 7 + len(head)), dtype, head)
    calls = [
        (_predict_checked.bare, (params, x, None, None), {}),
        (_trace_checked.bare, (params, x[0], None, None), {}),
        (_loss_checked.bare, (params, x, y, w), {}),
        (_grads_checked.bare, (params, x, y, w), {}),
        (_grads_checked.bare, (params, x[0], y[0], None), {}),
        (_manual_checked.bare, (params, x, y, None), {}),
        (scores, (params, x, y, None), {"n": np.int32(5)}),
        (scores, (params, x, y, w), {"n": None}),
        (_forward, (params, x), {}),
    ]
    for fn, args, extra in calls:
        kwargs = {"activation": activation, "head": head, **extra}
        host = host_eval.call(fn, *args, **kwargs)
        assert host is not None, fn
        _agree(host, fn(*args, **kwargs), dtype)


_ELEMENTWISE = {  # a jax function of two float arrays -> the primitives it traces to
    "arithmetic": lambda a, b: (a + b, a - b, a * b, a / b, -a, jnp.abs(a), jnp.square(a)),
    "max min": lambda a, b: (jnp.maximum(a, b), jnp.minimum(a, b), jax.nn.relu(a)),
    "transcendental": lambda a, b: (jnp.exp(a), jnp.log(jnp.abs(a)), jnp.log1p(jnp.abs(b)), jnp.tanh(a)),
    "powers": lambda a, b: (a**3, a**-2, a**0, jnp.sqrt(jnp.abs(b)), jnp.abs(a) ** b),
    "tests": lambda a, b: (a == b, a != b, a < b, a <= b, a > b, a >= b, jnp.isfinite(a), jnp.sign(a)),
    "logic": lambda a, b: (
        (a > 0) & (b > 0),
        (a > 0) | (b > 0),
        ~(a > 0),
        jnp.where(a > b, a, b),
        jnp.all(a > b, axis=1),
        jnp.any(a > b, axis=0),
    ),
    "reductions": lambda a, b: (jnp.sum(a, axis=0), jnp.max(a, axis=1), jnp.min(b), jnp.argmax(a, axis=1)),
    "shapes": lambda a, b: (a.T, a[:, None, :], jnp.reshape(a, (-1,)), jnp.broadcast_to(b[:1], a.shape)),
    "matmul": lambda a, b: (a @ b.T, jnp.tensordot(a, b, axes=((0,), (0,)))),
    "conversions": lambda a, b: (
        jnp.where(jnp.isfinite(a), a, 0).astype(jnp.int32),  # a NaN or inf as an integer: undefined
        (a > b).astype(a.dtype),
        jax.lax.iota(jnp.int32, 3) + (a[0, :3] > 0).astype(jnp.int32),
    ),
    "bits": lambda a, b: jax.lax.shift_right_arithmetic(jax.lax.bitcast_convert_type(a, jnp.int32), jnp.int32(3)),
    "softmax": lambda a, b: (jax.nn.softmax(a, axis=-1), jax.nn.logsumexp(a, axis=-1), jnp.logaddexp(a, b)),
}
_SPECIAL = st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, -3.5, 0.5, 100.0])
_VALUES = hnp.arrays(
    np.float32, (3, 4), elements=st.one_of(st.floats(-5, 5, width=32, allow_subnormal=False), _SPECIAL)
)


_CANCELLING = {"softmax"}
"""Groups whose results may cancel: logaddexp(-1.28125, -0.328125) = -0.0020391267 is -0.002039194 by numpy
and -0.0020391345 compiled, each a couple of ulps of the operands (~0.3) off, 3e-5 of the result apart."""


def _tolerance(name, *operands):
    """float32's smallest normal number; for a cancelling group, a few ulps of the largest finite operand."""
    finite = np.abs(np.concatenate([o.ravel() for o in operands]))
    reach = float(np.max(finite[np.isfinite(finite)], initial=0.0)) if name in _CANCELLING else 0.0
    return max(float(np.finfo(np.float32).tiny), 3e-6 * reach)


@pytest.mark.parametrize("name", list(_ELEMENTWISE))
@settings(max_examples=25, deadline=None)
@given(values=_VALUES, other=_VALUES)
@example(values=np.full((3, 4), -1.28125, np.float32), other=np.full((3, 4), -0.328125, np.float32))
def test_each_primitive_means_in_numpy_what_it_means_compiled(name, values, other):
    """NaN, infinities, signed zeros and ties included: the same values (to float32's last bits), the same
    NaNs and signs of zero, the same decisions. Not subnormal numbers: XLA:CPU flushes them to zero, numpy
    keeps them (IEEE 754), so results are compared to within float32's smallest normal number."""
    fn = jax.jit(_ELEMENTWISE[name])
    host = host_eval.call(fn, values, other)
    assert host is not None
    compiled = fn(values, other)
    for a, b in zip(jax.tree.leaves(host), jax.tree.leaves(compiled), strict=True):
        b = np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape
        if a.dtype.kind != "f":
            np.testing.assert_array_equal(a, b)
            continue
        np.testing.assert_allclose(a, b, rtol=3e-6, atol=_tolerance(name, values, other))
        zeros = (a == 0) & (b == 0)
        if name != "max min":  # max(-0.0, 0.0): IEEE 754 leaves the sign open
            np.testing.assert_array_equal(np.signbit(a[zeros]), np.signbit(b[zeros]))


def test_integer_powers_are_the_products_xla_is_given():
    """``x ** 3`` is ``x * (x * x)`` compiled (jax's lowering of integer_pow): numpy forms the same products,
    to the bit, where ``np.power`` would round differently."""
    x = np.random.default_rng(0).normal(size=1000)
    for y in (-3, -1, 2, 3, 5, 7):
        fn = jax.jit(lambda a, y=y: a**y)
        np.testing.assert_array_equal(host_eval.call(fn, x), np.asarray(fn(x)))


@pytest.mark.parametrize(
    "fn, args",
    [
        (jax.jit(jax.vmap(lambda a, b: a @ b)), (np.ones((2, 3, 4)), np.ones((2, 4, 5)))),  # batch dimensions
        (jax.jit(lambda a, b: a // b), (np.arange(1, 7), np.full(6, -4))),  # integer division
        (jax.jit(lambda a: jnp.cumsum(a)), (np.ones(4),)),  # a primitive numpy does not evaluate here
        (jax.jit(lambda a: a * 2), (np.ones(3, jnp.bfloat16),)),  # numpy has no bfloat16 arithmetic
        (jax.jit(lambda a: jax.debug.print("{}", a) or a), (np.ones(3),)),  # an effect
    ],
)
def test_what_numpy_does_not_evaluate_is_left_to_the_compiled_program(fn, args, count_compiles):
    """``call`` says None, having compiled nothing to find out (its callers then compile the kernel)."""
    with count_compiles() as compiles:
        assert host_eval.call(fn, *args) is None
    assert compiles() == 0


def test_run_compiles_only_a_problem_too_large_for_numpy_or_params_numpy_does_not_compute_in(
    count_compiles, monkeypatch
):
    rng = np.random.default_rng(3)
    params, x, _, _ = _net(rng, np.dtype(np.float64), "sigmoid", rows=40)
    kwargs = {"activation": "tanh", "head": "sigmoid"}
    with count_compiles() as compiles:
        host = host_eval.run(_forward, params, x, **kwargs)
    assert type(host) is np.ndarray and compiles() == 0
    per_row = multiply_adds((3, 4, 5, 2))
    assert host_eval.small(params, host_eval.HOST_WORK // per_row)
    assert not host_eval.small(params, host_eval.HOST_WORK // per_row + 1)
    with monkeypatch.context() as m, count_compiles() as compiles:
        m.setattr(host_eval, "HOST_WORK", per_row * len(x) - 1)  # 40 rows: one multiply-add too many
        compiled = host_eval.run(_forward, params, x, **kwargs)
    assert isinstance(compiled, jax.Array) and compiles() == 1
    _agree(host, compiled, np.dtype(np.float64))
    half = {k: v.astype(np.float16) for k, v in params.items()}
    assert not host_eval.small(half, 1)
    assert isinstance(host_eval.run(_forward, half, x.astype(np.float16), **kwargs), jax.Array)


def test_run_leaves_an_accelerator_default_or_data_off_the_host_to_the_compiled_program(monkeypatch):
    """numpy runs only where the default device is the CPU and every array is the host's (as on a CPU machine)."""
    params, x, _, _ = _net(np.random.default_rng(7), np.dtype(np.float64), "softmax")
    kwargs = {"activation": "relu", "head": "softmax"}
    assert type(host_eval.run(_forward, params, x, **kwargs)) is np.ndarray
    with monkeypatch.context() as m:
        m.setattr(host_eval, "default_platform", lambda: "gpu")
        assert isinstance(host_eval.run(_forward, params, x, **kwargs), jax.Array)
    with monkeypatch.context() as m:
        m.setattr(host_eval, "on_host", lambda a: not isinstance(a, jax.Array))  # jax arrays: as if on a GPU
        assert type(host_eval.run(_forward, params, x, **kwargs)) is np.ndarray  # all numpy
        assert isinstance(host_eval.run(_forward, params, jax.device_put(x), **kwargs), jax.Array)


def test_under_an_outer_jit_the_kernel_is_traced_not_evaluated():
    params, x, _, _ = _net(np.random.default_rng(4), np.dtype(np.float64), "identity")
    kwargs = {"activation": "relu", "head": "identity"}
    want = host_eval.run(_forward, params, x, **kwargs)
    got = jax.jit(lambda p: host_eval.run(_forward, p, x, **kwargs))(params)
    _agree(want, got, np.dtype(np.float64))


def test_public_functions_on_host_data_compile_nothing_and_keep_their_types(count_compiles):
    """The first call of each, on a network shape no other test uses: no program; jax arrays out, as before."""
    model = jaxnet.init_model(jax.random.key(0), (13, 9, 3), activation="gelu", head="softmax", dtype=np.float32)
    rng = np.random.default_rng(5)
    x, labels = rng.normal(size=(31, 13)).astype(np.float32), rng.integers(0, 3, 31)
    with count_compiles() as compiles:
        outs = [
            jaxnet.predict(model, x),
            jaxnet.predict_proba(model, x),
            jaxnet.forward_trace(model, x[0]),
            jaxnet.loss(model, x, labels),
            jaxnet.grads(model, x, labels),
            jaxnet.manual_grads(model, x, labels),
        ]
        scores_ = jaxnet.evaluate(model, x, labels)
        acc = jaxnet.accuracy(model, x, labels)
    assert compiles() == 0
    assert all(isinstance(a, jax.Array) for a in jax.tree.leaves(outs))
    assert acc == scores_["accuracy"] == float(np.mean(np.asarray(outs[0]) == labels))
    assert outs[3].dtype == np.float32 and outs[0].dtype == np.int32


def test_estimator_predictions_compile_nothing_and_a_row_is_the_same_in_any_call(count_compiles):
    """Blocks of PREDICT_ROWS rows all take one path, so a row's output does not depend on the call's size."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2 * PREDICT_ROWS + 37, 5))
    y = (x[:, 0] + x[:, 1] ** 2 > 1).astype(int)
    clf = jaxnet.MLPClassifier(hidden_layer_sizes=(7,), max_iter=3, random_state=0).fit(x[:100], y[:100])
    with count_compiles() as compiles:
        whole = clf.predict_proba(x)
        score = clf.score(x, y)
    assert compiles() == 0
    for rows in (slice(0, 1), slice(3, 40), slice(PREDICT_ROWS - 2, PREDICT_ROWS + 5), slice(1000, None)):
        np.testing.assert_array_equal(clf.predict_proba(x[rows]), whole[rows])
    assert score == float(np.mean(clf.classes_[np.argmax(whole, axis=1)] == y))

"""jaxnet._validate: every bad input gets a clear TypeError/ValueError naming the argument, before anything
compiles."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnet


def seed():
    return jaxnet.seed_example(jnp.float64)


def with_params(**changes):
    params, x, y = seed()
    params = dict(params)
    for k, v in changes.items():
        if v is None:
            params.pop(k)
        else:
            params[k] = v
    return params, x, y


def nan_at(a):
    return a.at[(0,) * a.ndim].set(jnp.nan)


# (case id, callable producing (params, x, y, sample_weight), expected error, words the message must contain)
CASES = [
    ("params not a dict", lambda: ([1, 2], *seed()[1:], None), TypeError, ["params", "dict", "list"]),
    ("params empty", lambda: ({}, *seed()[1:], None), ValueError, ["params", "empty"]),
    ("missing key", lambda: (*with_params(b2=None), None), ValueError, ["params", "missing", "b2"]),
    ("extra key", lambda: (*with_params(W9x=jnp.ones(1)), None), ValueError, ["params", "W9x"]),
    (
        "gap in numbering",
        lambda: (*with_params(W3=jnp.ones((1, 1)), b3=jnp.ones(1), W2=None, b2=None), None),
        ValueError,
        ["params", "missing", "W2"],
    ),
    (
        "shapes do not chain",
        lambda: (*with_params(W2=jnp.ones((1, 4)), b2=jnp.ones(1)), None),
        ValueError,
        ["W2", "(1, 4)", "3"],
    ),
    ("bias shape", lambda: (*with_params(b1=jnp.ones(4)), None), ValueError, ["b1", "(4,)", "(3,)"]),
    ("W not 2-D", lambda: (*with_params(W1=jnp.ones(6)), None), ValueError, ["W1", "2-D", "(6,)"]),
    (
        "integer dtype",
        lambda: (*with_params(W1=jnp.ones((3, 2), jnp.int32)), None),
        TypeError,
        ["W1", "int32", "floating"],
    ),
    ("complex dtype", lambda: (*with_params(W1=jnp.ones((3, 2), jnp.complex128)), None), TypeError, ["W1", "complex"]),
    (
        "mixed dtypes",
        lambda: (*with_params(W1=jnp.ones((3, 2), jnp.float32)), None),
        TypeError,
        ["params", "mixed", "float32", "float64"],
    ),
    ("NaN in params", lambda: (*with_params(W2=nan_at(seed()[0]["W2"])), None), ValueError, ["W2", "NaN"]),
    ("inf in params", lambda: (*with_params(b1=jnp.array([jnp.inf, 0, 0])), None), ValueError, ["b1", "inf"]),
    ("x trailing dim", lambda: (seed()[0], jnp.ones(3), 1.0, None), ValueError, ["x", "(3,)", "(2,)", "(N, 2)"]),
    ("x rank 3", lambda: (seed()[0], jnp.ones((2, 2, 2)), 1.0, None), ValueError, ["x", "(2, 2, 2)"]),
    ("x strings", lambda: (seed()[0], ["a", "b"], 1.0, None), TypeError, ["x", "numeric"]),
    ("x NaN", lambda: (seed()[0], jnp.array([jnp.nan, 0.0]), 1.0, None), ValueError, ["x", "NaN"]),
    ("x inf", lambda: (seed()[0], jnp.array([[jnp.inf, 0.0]]), jnp.ones(1), None), ValueError, ["x", "inf"]),
    ("y batch mismatch", lambda: (seed()[0], jnp.ones((4, 2)), jnp.ones(5), None), ValueError, ["y", "(5,)", "(4,"]),
    (
        "y above 1",
        lambda: (seed()[0], jnp.ones((2, 2)), jnp.array([0.0, 2.0]), None),
        ValueError,
        ["y", "[0, 1]", "2.0"],
    ),
    (
        "y negative",
        lambda: (seed()[0], jnp.ones((2, 2)), jnp.array([-0.5, 1.0]), None),
        ValueError,
        ["y", "[0, 1]", "-0.5"],
    ),
    ("y NaN", lambda: (seed()[0], jnp.ones((2, 2)), jnp.array([jnp.nan, 1.0]), None), ValueError, ["y", "NaN"]),
    (
        "weight negative",
        lambda: (seed()[0], jnp.ones((2, 2)), jnp.ones(2), jnp.array([1.0, -1.0])),
        ValueError,
        ["sample_weight", ">= 0", "-1"],
    ),
    (
        "weight length",
        lambda: (seed()[0], jnp.ones((2, 2)), jnp.ones(2), jnp.ones(3)),
        ValueError,
        ["sample_weight", "(3,)", "(2,)"],
    ),
    (
        "weight all zero",
        lambda: (seed()[0], jnp.ones((2, 2)), jnp.ones(2), jnp.zeros(2)),
        ValueError,
        ["sample_weight", "all zero"],
    ),
]


@pytest.mark.parametrize("make, error, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.parametrize("entry", ["validate", "loss", "grads", "manual_grads", "numerical_grads"])
@pytest.mark.slow
def test_bad_input_is_refused_with_a_clear_message(entry, make, error, words):
    params, x, y, w = make()
    with pytest.raises(error) as info:
        getattr(jaxnet, entry)(params, x, y, sample_weight=w)
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)


PARAMS_AND_X_CASES = [c for c in CASES if not c[0].startswith(("y ", "weight "))]  # forward takes no y or weights


@pytest.mark.parametrize(
    "make, error, words", [c[1:] for c in PARAMS_AND_X_CASES], ids=[c[0] for c in PARAMS_AND_X_CASES]
)
def test_forward_and_fit_check_too(make, error, words):
    params, x, y, _ = make()
    with pytest.raises(error) as from_forward:
        jaxnet.forward(params, x)
    with pytest.raises(error) as from_fit:
        jaxnet.fit(params, x, y, steps=1, progress=False)
    assert str(from_forward.value) == str(from_fit.value)
    assert all(word in str(from_fit.value) for word in words)


@pytest.mark.parametrize(
    "sizes, error, word",
    [
        ((2,), ValueError, "at least 2"),
        ((2, 0, 1), ValueError, "positive"),
        ((2, -3, 1), ValueError, "positive"),
        ((2, 3.5, 1), TypeError, "integer"),
        ((2, True, 1), TypeError, "integer"),
        (5, TypeError, "sequence"),
    ],
)
def test_bad_sizes(sizes, error, word):
    with pytest.raises(error, match="sizes") as info:
        jaxnet.init_mlp(jax.random.key(0), sizes)
    assert word in str(info.value)


def test_validation_is_skipped_under_tracing_but_shapes_still_checked():
    params, x, y = seed()
    # value checks need concrete arrays; under jit they are skipped and the function still works
    value = jax.jit(jaxnet.loss)(params, x, y)
    assert abs(float(value) - 0.6573131577049656) < 1e-12
    with pytest.raises(ValueError, match="x: expected shape"):
        jax.jit(jaxnet.loss)(params, jnp.ones(3), y)


def test_integer_and_bool_labels_accepted():
    params, x, _ = seed()
    xb = jnp.stack([x, x])
    assert float(jaxnet.loss(params, xb, np.array([1, 1]))) == float(jaxnet.loss(params, xb, np.array([True, True])))

"""The optimizer's initial state filled in by numpy (jaxnet._host_init): optax's own init exactly, no program
compiled, and a compiled init wherever numpy could not compute it exactly."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import optax_promotion

from jaxnet import _host_init as host_init
from jaxnet import _hyper
from jaxnet._estimator_parts import _optimizer

OPTIMIZERS = {
    "adam": lambda lr: optax.adam(lr),
    "adamw": lambda lr: optax.adamw(lr, weight_decay=0.1),
    "sgd": lambda lr: optax.sgd(lr),
    "nesterov": lambda lr: optax.sgd(lr, momentum=0.9, nesterov=True),
    "rmsprop": lambda lr: optax.rmsprop(lr),
    "adagrad": lambda lr: optax.adagrad(lr, initial_accumulator_value=0.3),  # a number broadcast: an input
    "lion": lambda lr: optax.lion(lr),
    "clipped_adam": lambda lr: optax.chain(optax.clip_by_global_norm(1.0), optax.adam(lr)),
    "inject_adamw": lambda lr: optax.inject_hyperparams(optax.adamw)(learning_rate=lr, weight_decay=0.01),
    "bfloat16_mu": lambda lr: optax.adam(lr, mu_dtype=jnp.bfloat16),
    "estimator_adam": lambda lr: _optimizer("adam"),
    "estimator_sgd": lambda lr: _optimizer("sgd"),
}


def _params(dtype, width):
    return {"W1": np.full((width, 3), 0.5, dtype), "b1": np.zeros(width, dtype)}


def _same(got, want):
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        assert jax.typeof(g) == jax.typeof(w)  # shape, dtype and weak type, as a program sees them
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_numpy_fills_in_optaxs_init_exactly_and_compiles_nothing(name, dtype, count_compiles):
    width = 40 + sorted(OPTIMIZERS).index(name) + (0 if dtype == np.float32 else 20)  # shapes no other test uses
    params = _params(dtype, width)
    with optax_promotion():
        for lr in (1e-3, 0.3):  # the second number: the same kind, its own values
            optimizer = OPTIMIZERS[name](lr)
            with count_compiles() as compiles:
                got = _hyper.initial_state(optimizer, params)
                assert compiles() == 0
            assert all(isinstance(leaf, np.ndarray) for leaf in jax.tree.leaves(got))  # numpy filled it in
            _same(got, optimizer.init(params))


def test_each_state_has_arrays_of_its_own():
    params = _params(np.float32, 4)
    with optax_promotion():
        first = _hyper.initial_state(optax.adam(1e-3), params)
        first[0].mu["W1"][:] = 7.0  # a caller writing into its state changes no other state
        second = _hyper.initial_state(optax.adam(1e-3), params)
    assert not np.any(second[0].mu["W1"]) and not np.any(second[0].nu["W1"])
    assert not np.shares_memory(second[0].mu["W1"], second[0].nu["W1"])


def _custom(init):
    return optax.GradientTransformation(init, lambda g, s, p=None: (g, s))


CANNOT = {  # what numpy would not compute exactly as XLA does, or cannot compute at all
    "keeps_the_params": lambda h, p: {"slow": p["W1"]},
    "arithmetic": lambda h, p: jnp.float32(h[0]) * 3.0,
    "uses_the_params": lambda h, p: jnp.zeros_like(p["W1"]) + p["b1"][0],
    "weak_output": lambda h, p: h[0],
    "nested_program": lambda h, p: jax.jit(jnp.zeros_like)(p["W1"]),
    "an_effect": lambda h, p: (jax.debug.print("init"), jnp.zeros(2))[1],
    "a_float_to_int": lambda h, p: jnp.asarray(h[0]).astype(jnp.int32),
}


@pytest.mark.parametrize("name", sorted(CANNOT))
def test_what_numpy_cannot_fill_in_is_left_to_the_compiled_init(name):
    params = {"W1": np.full((3, 2), 0.5, np.float64), "b1": np.full(3, 2.0, np.float64)}
    assert host_init.program(CANNOT[name], (0.25,), params) is None


def test_an_init_numpy_cannot_fill_in_is_still_optaxs_init_exactly():
    params = {"W1": np.full((3, 2), 0.5, np.float32), "b1": np.full(3, 2.0, np.float32)}
    with optax_promotion():
        adam = optax.adam(1e-3)  # with a copy of the params kept, as a slow-weights optimizer does
        optimizer = optax.GradientTransformation(lambda p: (adam.init(p), {"slow": p}), adam.update)
        got = _hyper.initial_state(optimizer, params)
        _same(got, optimizer.init(params))
    assert not all(isinstance(leaf, np.ndarray) for leaf in jax.tree.leaves(got))  # the compiled init's arrays


def test_the_number_is_rounded_as_jax_rounds_it():
    """A learning rate kept in the state (inject_hyperparams) reaches it as jax's conversion of the Python float."""
    params = _params(np.float32, 3)
    for lr in (0.1, 1 / 3, 1e-45, 3.4028235e38):
        with optax_promotion():
            optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=lr)
            _same(_hyper.initial_state(optimizer, params), optimizer.init(params))

"""Optimizer numbers are runtime inputs: another learning rate or weight decay compiles nothing, and an
optimizer is never confused with another one (issue 18 §2.1: bound methods, class-based optimizers)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import optax_promotion

import jaxnet
from jaxnet import _hyper


@pytest.fixture
def seed64():
    return jaxnet.seed_example(jnp.float64)


def moved(a, b):
    return max(float(jnp.max(jnp.abs(a[k] - b[k]))) for k in a)


def loop(optimizer, params, x, y, steps):
    """The reference: a Python loop of jitted steps with the optimizer's numbers as compiled constants."""
    step, state = jaxnet.make_train_step(optimizer), optimizer.init(params)
    for _ in range(steps):
        params, state, _ = step(params, state, x, y)
    return params


@pytest.mark.slow
def test_another_adam_learning_rate_compiles_nothing_and_trains_with_it(seed64, count_compiles):
    params, x, y = seed64
    with optax_promotion():
        jaxnet.fit(params, x, y, optimizer=optax.adam(1e-3), steps=5, progress=False)
        with count_compiles() as compiles:
            fast, _, _ = jaxnet.fit(params, x, y, optimizer=optax.adam(0.05), steps=5, progress=False)
        assert compiles() == 0
        reference = loop(optax.adam(0.05), params, x, y, 5)
    for k in params:
        np.testing.assert_allclose(fast[k], reference[k], rtol=0, atol=1e-12, err_msg=k)


@pytest.mark.slow
def test_inject_hyperparams_weight_decay_and_learning_rate_compile_nothing(seed64, count_compiles):
    params, x, y = seed64

    def make(lr, wd):
        return optax.inject_hyperparams(optax.adamw)(learning_rate=lr, weight_decay=wd)

    with optax_promotion():
        jaxnet.fit(params, x, y, optimizer=make(1e-3, 1e-4), steps=5, progress=False)
        with count_compiles() as compiles:
            a, _, _ = jaxnet.fit(params, x, y, optimizer=make(0.05, 1e-4), steps=5, progress=False)
            b, _, _ = jaxnet.fit(params, x, y, optimizer=make(0.05, 0.5), steps=5, progress=False)
        assert compiles() == 0
    assert moved(a, b) > 1e-6  # the weight decay reached the program


@pytest.mark.slow
def test_multisteps_built_twice_trains_with_its_own_optimizer(seed64):
    """Issue 18 §2.1: the second optimizer (lr 0) reused the first one's program and moved the params."""
    params, x, y = seed64

    def m(o):
        return optax.MultiSteps(o, every_k_schedule=1).gradient_transformation()

    with optax_promotion():
        first, _, _ = jaxnet.fit(params, x, y, steps=5, optimizer=m(optax.sgd(0.1)), progress=False)
        still, _, _ = jaxnet.fit(params, x, y, steps=5, optimizer=m(optax.sgd(0.0)), progress=False)
    assert moved(first, params) > 1e-3
    assert moved(still, params) == 0.0


@pytest.mark.slow
def test_class_based_optimizer_uses_its_own_attributes(seed64):
    params, x, y = seed64

    class Scaled:
        def __init__(self, lr):
            self.lr = lr

        def init(self, params):
            return optax.EmptyState()

        def update(self, g, state, params=None):
            return jax.tree.map(lambda v: -self.lr * v, g), state

    def opt(lr):
        o = Scaled(lr)
        return optax.GradientTransformation(o.init, o.update)

    a, _, _ = jaxnet.fit(params, x, y, steps=3, optimizer=opt(0.1), progress=False)
    b, _, _ = jaxnet.fit(params, x, y, steps=3, optimizer=opt(0.0), progress=False)
    assert moved(a, params) > 1e-3 and moved(b, params) == 0.0
    assert moved(a, loop(optax.sgd(0.1), params, x, y, 3)) < 1e-14


@pytest.mark.slow
def test_bound_method_schedule_uses_its_own_object(seed64):
    params, x, y = seed64

    class Schedule:
        def __init__(self, lr):
            self.lr = lr

        def __call__(self, count):  # a callable object too: never read, kept by identity
            return self.lr

        def at(self, count):
            return self.lr

    for make in (lambda s: s.at, lambda s: s):
        a, _, _ = jaxnet.fit(params, x, y, steps=3, optimizer=optax.sgd(make(Schedule(0.1))), progress=False)
        b, _, _ = jaxnet.fit(params, x, y, steps=3, optimizer=optax.sgd(make(Schedule(0.0))), progress=False)
        assert moved(a, params) > 1e-3 and moved(b, params) == 0.0


@pytest.mark.slow
def test_an_update_that_branches_on_a_number_stays_static_and_correct(seed64):
    params, x, y = seed64

    def opt(lr):
        def update(g, state, params=None):
            scale = lr if lr < 1.0 else 1.0  # Python control flow on the number: it cannot be traced
            return jax.tree.map(lambda v: -scale * v, g), state

        return optax.GradientTransformation(lambda p: optax.EmptyState(), update)

    a, b = opt(0.1), opt(0.0)
    assert _hyper.lifted(a, params, a.init(params))[1] == ()  # kept whole
    fa, _, _ = jaxnet.fit(params, x, y, steps=3, optimizer=a, progress=False)
    fb, _, _ = jaxnet.fit(params, x, y, steps=3, optimizer=b, progress=False)
    assert moved(fa, loop(optax.sgd(0.1), params, x, y, 3)) < 1e-14 and moved(fb, params) == 0.0


def test_a_chained_optimizer_with_a_schedule_is_one_program_across_fits(seed64, count_compiles):
    """Deep enough to reach the split's depth limit, whose cut kept a tuple built afresh by each split: the same
    optimizer compiled fit's program (and its init) again at every call, and the jit cache grew without bound."""
    params, x, y = seed64

    def make(lr):
        return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(optax.exponential_decay(lr, 100, 0.9)))

    optimizer = make(1e-3)
    with optax_promotion():
        jaxnet.fit(params, x, y, optimizer=optimizer, steps=3, progress=False)
        with count_compiles() as compiles:
            jaxnet.fit(params, x, y, optimizer=optimizer, steps=3, progress=False)
            fast, _, _ = jaxnet.fit(params, x, y, optimizer=make(0.05), steps=3, progress=False)  # its own numbers
        assert compiles() == 0
        reference = loop(make(0.05), params, x, y, 3)
    for k in params:
        np.testing.assert_allclose(fast[k], reference[k], rtol=0, atol=1e-15, err_msg=k)


@pytest.mark.parametrize(
    "boxed", [False, True], ids=["odd", "even"]
)  # the cut falls on a function / its cells (the bug)
@pytest.mark.parametrize("levels", [12, 30])
def test_split_past_the_depth_limit_is_the_same_for_the_same_optimizer(levels, boxed):
    def nest(inner):  # each level a closure over the one inside it: two levels of the split
        return lambda: inner

    scale = 0.5
    for _ in range(levels):
        scale = nest(scale)
    held = (scale,) if boxed else scale
    optimizer = optax.GradientTransformation(lambda p: optax.EmptyState(), lambda g, s, p=None: (g, s, held))
    (a, leaves_a), (b, leaves_b) = _hyper.split(optimizer), _hyper.split(optimizer)
    assert a == b and hash(a) == hash(b) and leaves_a == leaves_b


_INIT_CALLS = {"count": 0}  # a global: not read by the split, so the counting optimizer keeps one skeleton


def _counting_adam(lr):
    base = optax.adam(lr)

    def init(params):
        _INIT_CALLS["count"] += 1
        return base.init(params)

    return optax.GradientTransformation(init, base.update)


def test_a_given_opt_state_is_checked_without_tracing_init_again(seed64):
    """An estimator passes its opt_state back at every fit call: its shapes come from initial_state's comparison,
    not from tracing optimizer.init each time; a state of another structure is still refused."""
    params, x, y = seed64
    with optax_promotion():
        _, state, _ = jaxnet.fit(params, x, y, optimizer=_counting_adam(1e-3), steps=2, progress=False)
        before = _INIT_CALLS["count"]
        resumed, _, _ = jaxnet.fit(
            params, x, y, optimizer=_counting_adam(0.05), steps=2, opt_state=state, progress=False
        )
        assert _INIT_CALLS["count"] == before
        with pytest.raises(TypeError, match="opt_state"):
            jaxnet.fit(params, x, y, optimizer=_counting_adam(0.05), steps=2, opt_state=state[0], progress=False)
        reference, _, _ = jaxnet.fit(params, x, y, optimizer=optax.adam(0.05), steps=2, opt_state=state, progress=False)
    for k in params:
        assert np.array_equal(resumed[k], reference[k]), k


def test_split_keeps_non_numbers_apart():
    class Opaque:
        scale = 0.1

    def make(o):
        return optax.GradientTransformation(lambda p: optax.EmptyState(), lambda g, s, p=None: (g, s, o))

    assert _hyper.split(make(Opaque()))[0] != _hyper.split(make(Opaque()))[0]
    assert _hyper.split(optax.sgd(0.1, momentum=0.9))[0] == _hyper.split(optax.sgd(0.3, momentum=0.5))[0]
    assert _hyper.split(optax.sgd(0.1, momentum=0.9))[0] != _hyper.split(optax.sgd(0.1))[0]
    assert _hyper.split((1, 1.0, True))[0] != _hyper.split((1.0, 1, True))[0]
    skeleton, leaves = _hyper.split(optax.adam(1e-3))
    rebuilt = _hyper.build(skeleton, leaves)
    assert isinstance(rebuilt, optax.GradientTransformation) and rebuilt.update is not optax.adam(1e-3).update


OPTIMIZERS = {
    "sgd_nesterov": lambda: optax.sgd(0.1, momentum=0.9, nesterov=True),
    "adamw": lambda: optax.adamw(0.05, weight_decay=0.1),
    "clipped_adam": lambda: optax.chain(optax.clip_by_global_norm(0.5), optax.adam(0.05)),
    "cosine_schedule": lambda: optax.adam(optax.warmup_cosine_decay_schedule(0.0, 0.1, 2, 5)),
    "piecewise_schedule": lambda: optax.sgd(optax.piecewise_constant_schedule(0.1, {2: 0.5})),  # int keys: kept
    "lion": lambda: optax.lion(0.01),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_the_lifted_optimizer_computes_what_the_optimizer_computes(seed64, name):
    params, x, y = seed64
    with optax_promotion():
        optimizer = OPTIMIZERS[name]()
        skeleton, leaves = _hyper.lifted(optimizer, params, optimizer.init(params))
        assert leaves and not isinstance(skeleton, _hyper.Same)  # its numbers are runtime inputs
        fitted, _, _ = jaxnet.fit(params, x, y, steps=6, optimizer=optimizer, progress=False)
        reference = loop(optimizer, params, x, y, 6)
    for k in params:
        np.testing.assert_allclose(fitted[k], reference[k], rtol=0, atol=1e-15, err_msg=k)


def _same_tree(got, want):
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        assert np.asarray(g).dtype == np.asarray(w).dtype and np.array_equal(g, w)


@pytest.mark.parametrize(
    "make",
    [
        lambda lr: optax.adam(lr),
        lambda lr: optax.chain(optax.add_decayed_weights(1e-4), optax.sgd(lr, momentum=0.9)),
        lambda lr: optax.inject_hyperparams(optax.adamw)(learning_rate=lr, weight_decay=0.01),
    ],
    ids=["adam", "chain", "inject_hyperparams"],
)
def test_initial_state_is_the_optimizers_init_and_another_number_compiles_nothing(make, count_compiles):
    params = {"W1": np.ones((3, 2), np.float32), "b1": np.zeros(3, np.float32)}
    with optax_promotion():
        _same_tree(_hyper.initial_state(make(1e-3), params), make(1e-3).init(params))
        with count_compiles() as compiles:
            _same_tree(_hyper.initial_state(make(0.25), params), make(0.25).init(params))
            assert compiles() == 0


def test_initial_state_of_an_init_that_branches_on_its_number_runs_it_as_is():
    def picky(lr):  # its init reads the number in Python: it cannot trace with the number as an input
        base = optax.sgd(lr)
        return optax.GradientTransformation(lambda p: base.init(p) if lr > 0 else None, base.update)

    params = {"W1": np.ones((3, 2), np.float32), "b1": np.zeros(3, np.float32)}
    _same_tree(_hyper.initial_state(picky(0.1), params), picky(0.1).init(params))


@pytest.mark.parametrize(
    "make, dtype",
    [
        (
            lambda: optax.inject_hyperparams(optax.adam)(learning_rate=np.float64(1e-2)),
            np.float32,
        ),  # a numpy grid value
        (lambda: optax.adagrad(0.1, initial_accumulator_value=1 + 2**-8 + 2**-30), jnp.bfloat16),  # one rounding
        (lambda: optax.inject_hyperparams(optax.adam)(learning_rate=1e-2), jnp.bfloat16),
    ],
    ids=["numpy-float64-learning-rate", "bfloat16-accumulator", "bfloat16-inject"],
)
def test_initial_state_is_bit_for_bit_the_eager_init_in_the_traps(make, dtype):
    # conftest turns x64 on: a numpy float64 leaf traced as an input would stay float64 where optax makes it the
    # params' float32; a Python float meeting bfloat16 params in a program would be rounded twice
    params = {"W1": jnp.full((3, 2), 0.5, dtype), "b1": jnp.zeros(3, dtype)}
    got, want = _hyper.initial_state(make(), params), make().init(params)
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        assert (g.dtype, g.weak_type, g.shape) == (w.dtype, w.weak_type, w.shape)
        np.testing.assert_array_equal(np.asarray(g, np.float64), np.asarray(w, np.float64))


def test_initial_state_with_its_verdict_cache_full_still_uses_the_one_program(monkeypatch):
    """Past the bound of remembered verdicts, a new optimizer kind is compared as on its first call and gets
    the compiled state (it used to fall back to optax's eager init on every call once the cache was full)."""
    monkeypatch.setattr(_hyper, "_INIT_VERDICTS", {("full", i): True for i in range(1024)})
    eager = []  # optax's init run on values (its traces, by eval_shape or the one program, are not counted)
    adam = optax.adam(1e-3)

    def init(p):
        if not isinstance(jax.tree.leaves(p)[0], jax.core.Tracer):
            eager.append(1)
        return adam.init(p)

    spy = optax.GradientTransformation(init, adam.update)
    params = {"W1": np.ones((3, 2), np.float32), "b1": np.zeros(3, np.float32)}
    for _ in range(2):
        state = _hyper.initial_state(spy, params)
    assert eager == [] and len(_hyper._INIT_VERDICTS) == 1024
    assert jax.tree.all(jax.tree.map(lambda a, b: np.array_equal(a, b), state, adam.init(params)))

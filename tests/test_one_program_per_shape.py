"""One compiled program per shape family (the time to a first model): the checks of host data compile nothing,
and the programs that remain (evaluation, fit's validation, init_mlp) are shared by neighbouring row counts
and widths, with the results of unpadded runs."""

import warnings

import jax
import numpy as np
import optax
import pytest

import jaxnet
from jaxnet import _validate, gradients, losses, metrics, model


@pytest.fixture(scope="module")
def net():
    rng = np.random.default_rng(0)
    params = {
        "W1": jax.device_put(rng.normal(size=(4, 3))),
        "b1": jax.device_put(np.zeros(4)),
        "W2": jax.device_put(rng.normal(size=(2, 4))),
        "b2": jax.device_put(np.zeros(2)),
    }
    x = rng.normal(size=(40, 3))
    labels = (rng.random(40) < 0.5).astype(np.int64)
    return params, x, labels


def test_value_checks_of_host_data_compile_nothing_for_any_row_count(net, count_compiles):
    params, x, labels = net
    jaxnet.validate(params, x[:20], np.eye(2)[labels[:20]], head="sigmoid")
    with count_compiles() as compiles:
        for n in (21, 22, 37):
            jaxnet.validate(params, x[:n], np.eye(2)[labels[:n]], np.ones(n), head="sigmoid")
            jaxnet.validate(params, x[:n], labels[:n], head="softmax")
    assert compiles() == 0
    with pytest.raises(ValueError, match=r"^x: expected finite values"):
        jaxnet.validate(params, np.where(np.arange(3) == 1, np.nan, x[:5]), head="softmax")


CASES = {  # (x, y, w, head) -> one case each for every flag the checks can clear
    "good": (0, [[0.0, 1.0]], [1.0], "sigmoid"),
    "x inf": (np.inf, None, None, "sigmoid"),
    "label above 1": (0, [[0.0, 1.5]], None, "sigmoid"),
    "label NaN": (0, [[0.0, np.nan]], None, "sigmoid"),
    "row sum 0.9": (0, [[0.4, 0.5]], None, "softmax"),
    "one-hot": (0, [[0.0, 1.0]], None, "softmax"),
    "regression inf": (0, [[0.0, np.inf]], None, "identity"),
    "weight -0.0": (0, None, [-0.0], "sigmoid"),
    "weight negative": (0, None, [-1.0], "sigmoid"),
    "weight zero": (0, None, [0.0], "sigmoid"),
    "weight NaN": (0, None, [np.nan], "sigmoid"),
    "weight tiny": (0, None, [1e-300], "sigmoid"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_host_checks_give_the_device_checks_flags(net, case):
    params, _, _ = net
    x0, y, w, head = CASES[case]
    x = np.full((1, 3), x0, np.float64)
    y = None if y is None else np.asarray(y, np.float64)
    w = None if w is None else np.asarray(w, np.float64)
    device = np.asarray(_validate._flags(params, x, y, w, head))
    np.testing.assert_array_equal(_validate.host_flags(params, x, y, w, head), device)
    bad = dict(params, b2=params["b2"].at[0].set(np.nan))
    np.testing.assert_array_equal(
        _validate.host_flags(bad, x, y, w, head), np.asarray(_validate._flags(bad, x, y, w, head))
    )


@pytest.mark.slow
@pytest.mark.parametrize("head", ["sigmoid", "softmax", "identity"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_padded_scores_equal_the_unpadded_ones(net, head, weighted):
    params, x, labels = net
    y = {"sigmoid": np.eye(2)[labels], "softmax": labels, "identity": x[:, :2] ** 2}[head]
    n = 37  # padded to 40: three rows of weight 0 that must change nothing
    w = np.linspace(0.0, 2.0, n) if weighted else None
    got = jaxnet.evaluate(params, x[:n], y[:n], sample_weight=w, head=head)
    p, xs, ys, ws = _validate.prepare(params, x[:n], y[:n], w, head=head)
    plain = jax.device_get(metrics.scores(p, xs, ys, ws, "relu", head))  # every row, nothing padded
    assert set(got) == set(plain)
    for k in got:
        np.testing.assert_allclose(got[k], plain[k], rtol=1e-12, atol=0, err_msg=k)


@pytest.mark.slow
def test_neighbouring_evaluation_sizes_share_one_program(net, count_compiles):
    params, x, labels = net
    jaxnet.evaluate(params, x[:33], labels[:33], head="softmax")
    with count_compiles() as compiles:
        accuracies = [jaxnet.accuracy(params, x[:n], labels[:n], head="softmax") for n in (34, 35, 36)]
    assert compiles() == 0
    right = np.asarray(jaxnet.predict(params, x, head="softmax")) == labels
    for n, got in zip((34, 35, 36), accuracies):  # the padded rows are not counted as right or wrong
        assert got == np.mean(right[:n])


@pytest.mark.slow
def test_fit_validation_sets_of_neighbouring_sizes_share_one_program(net, count_compiles):
    params, x, labels = net
    opt = optax.sgd(0.1)
    args = dict(steps=4, optimizer=opt, eval_every=2, head="softmax", progress=False)
    jaxnet.fit(params, x[:20], labels[:20], validation=(x[20:], labels[20:]), **args)
    with count_compiles() as compiles:
        _, _, h = jaxnet.fit(params, x[:20], labels[:20], validation=(x[21:], labels[21:]), **args)
    assert compiles() == 0
    del args["eval_every"]
    final = jaxnet.evaluate(jaxnet.fit(params, x[:20], labels[:20], **args)[0], x[21:], labels[21:], head="softmax")
    np.testing.assert_allclose(h["val_loss"][-1], final["loss"], rtol=1e-12)
    np.testing.assert_allclose(h["val_accuracy"][-1], final["accuracy"], rtol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize(  # each dtype and each init once: they pick the draw independently of each other
    "dtype, init", [(np.float32, "he"), (np.float64, "glorot")], ids=["float32-he", "float64-glorot"]
)
def test_init_mlp_draws_exactly_what_jax_random_draws(dtype, init):
    from jaxnet.model import _init_jit

    for key, sizes in ((0, (30, 100, 1)), (2**40 + 7, (3, 5, 4, 2)), (jax.random.key(9), (1, 1))):
        reference = _init_jit(_validate.as_key(key), sizes, np.dtype(dtype), init)  # jax.random in one program
        got = jaxnet.init_mlp(key, sizes, dtype=dtype, init=init)
        assert list(got) == [k for l in range(1, len(sizes)) for k in (f"W{l}", f"b{l}")]
        for k, v in got.items():
            assert v.dtype == dtype and v.shape == reference[k].shape
            np.testing.assert_array_equal(np.asarray(v), np.asarray(reference[k]), err_msg=f"{key} {sizes} {k}")


def test_init_mlp_of_a_neighbouring_width_compiles_nothing(count_compiles):
    jaxnet.init_mlp(0, (30, 100, 1), dtype=np.float32)
    with count_compiles() as compiles:
        jaxnet.init_mlp(1, (30, 101, 1), dtype=np.float32)  # 3131 weights: the same bucket as 3100
        jaxnet.init_mlp(2, (31, 99, 1), dtype=np.float32)
    assert compiles() == 0


def test_init_mlp_under_vmap_draws_what_it_draws_per_key():  # sweeps vmap it over keys: a traced key
    keys = jax.random.split(jax.random.key(3), 2)
    stacked = jax.vmap(lambda k: jaxnet.init_mlp(k, (3, 4, 2), dtype=np.float64))(keys)
    for i in range(2):
        one = jaxnet.init_mlp(keys[i], (3, 4, 2), dtype=np.float64)
        for k, v in one.items():
            np.testing.assert_array_equal(np.asarray(stacked[k][i]), np.asarray(v), err_msg=k)


# ---------------------------------------------------------------- programs per public call
# Each public function, on its first call with a shape this process has not seen, compiles at most the
# programs it needs (K below, one for most), and nothing on a repeat call: host-sized one-off work (max|g|,
# a divergence limit, a scalar step, a host array moved to the device) runs in numpy or by device_put.
def _fresh_net(n_in: int) -> tuple:
    """A softmax net with ``n_in`` inputs (a width no other test here uses), its inputs, labels and weights."""
    rng = np.random.default_rng(n_in)
    params = jaxnet.init_mlp(n_in, (n_in, 6, 3), dtype=np.float64)
    x = rng.normal(size=(23, n_in))
    labels = rng.integers(0, 3, 23)
    return params, x, labels, np.eye(3)[labels], rng.uniform(0.5, 2.0, 23)


PROGRAMS = {  # name -> (call, K: the programs its first call compiles at most; 0: numpy evaluates it)
    "loss": (lambda p, x, c, y, w: jaxnet.loss(p, x, y, w, head="softmax"), 0),
    "grads": (lambda p, x, c, y, w: jaxnet.grads(p, x, y, w, head="softmax"), 0),
    "manual_grads": (lambda p, x, c, y, w: jaxnet.manual_grads(p, x, y, w, head="softmax"), 0),
    "numerical_grads": (lambda p, x, c, y, w: jaxnet.numerical_grads(p, x, y, sample_weight=w, head="softmax"), 1),
    # its three gradients: autodiff and the hand-derived pass by numpy, the central differences (with the loss)
    "check_grads": (lambda p, x, c, y, w: jaxnet.check_grads(p, x, y, w, head="softmax"), 1),
    "check_grads directions": (lambda p, x, c, y, w: jaxnet.check_grads(p, x, y, head="softmax", directions=3), 1),
    "forward_trace": (lambda p, x, c, y, w: jaxnet.forward_trace(p, x, head="softmax"), 0),
    "forward": (lambda p, x, c, y, w: jaxnet.forward(p, x, head="softmax"), 0),
    "predict": (lambda p, x, c, y, w: jaxnet.predict(p, x, head="softmax"), 0),
    "predict sigmoid": (lambda p, x, c, y, w: jaxnet.predict(p, x, head="sigmoid"), 0),
    "predict_proba": (lambda p, x, c, y, w: jaxnet.predict_proba(p, x, head="softmax"), 0),
    "accuracy": (lambda p, x, c, y, w: jaxnet.accuracy(p, x, c, head="softmax"), 0),
    "evaluate": (lambda p, x, c, y, w: jaxnet.evaluate(p, x, c, sample_weight=w, head="softmax"), 0),
}
COMPILED = {"accuracy": 1, "evaluate": 1, "numerical_grads": 1, "check_grads": 3}
"""The programs a first call compiles where the data is off the host (as on an accelerator)."""


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_a_public_call_compiles_its_programs_once_per_shape(name, count_compiles):
    call, most = PROGRAMS[name]
    params, x, labels, y, w = _fresh_net(40 + list(PROGRAMS).index(name))
    with count_compiles() as compiles:
        call(params, x, labels, y, w)
    first = compiles()  # the counter runs on: read it before the next call
    with count_compiles() as compiles:
        call(params, x, labels, y, w)
    assert first <= most and compiles() == 0, f"{name}: {first} programs, then {compiles()}"


@pytest.mark.parametrize("name", ["accuracy", "evaluate", "numerical_grads", "check_grads"])
def test_as_on_an_accelerator_host_data_compiles_no_check_program(name, count_compiles, monkeypatch):
    """On a GPU machine the params are jax arrays off the host (here: every jax array counts as off the host).
    numpy data is checked before it moves and small params are read back for their check, so the first call
    compiles no more than on a CPU (the H200 run compiled a value-check program per row count, then one per
    network shape for the params); for the metrics, neighbouring row counts still share their program."""
    off_host = lambda a: not isinstance(a, jax.Array)  # noqa: E731
    monkeypatch.setattr(jaxnet._values, "on_host", off_host)
    monkeypatch.setattr(metrics, "on_host", off_host)
    call, most = PROGRAMS[name][0], COMPILED[name]
    params, x, labels, y, w = _fresh_net(80 + list(PROGRAMS).index(name))
    with count_compiles() as compiles:
        call(params, x[:21], labels[:21], y[:21], w[:21])
    first = compiles()
    with count_compiles() as compiles:
        call(params, x[:22], labels[:22], y[:22], w[:22])  # 21 and 22 rows: one bucket
    later = compiles()
    assert first <= most and later <= (most if name in ("numerical_grads", "check_grads") else 0), (
        f"{name}: {first} programs, then {later}"
    )


CHECKED = {  # public function -> (module, its Checked kernel, call)
    "loss": (losses, "_loss_checked", lambda p, x, y: jaxnet.loss(p, x, y, head="softmax")),
    "grads": (gradients, "_grads_checked", lambda p, x, y: jaxnet.grads(p, x, y, head="softmax")),
    "manual_grads": (gradients, "_manual_checked", lambda p, x, y: jaxnet.manual_grads(p, x, y, head="softmax")),
    "forward_trace": (model, "_trace_checked", lambda p, x, y: jaxnet.forward_trace(p, x, head="softmax")),
    "predict": (model, "_predict_checked", lambda p, x, y: jaxnet.predict(p, x, head="softmax")),
}


class _Spy:
    """One of a :class:`jaxnet._values.Checked`'s two programs, recording each run: its name when it runs
    compiled, ``"numpy"`` when :mod:`jaxnet._host_eval` traces it to evaluate it with numpy."""

    def __init__(self, real, which: str, ran: list):
        self.real, self.which, self.ran = getattr(real, which), which, ran

    def __call__(self, *a, **k):
        self.ran.append(self.which)
        return self.real(*a, **k)

    def trace(self, *a, **k):
        self.ran.append("numpy")
        return self.real.trace(*a, **k)


def _spy(monkeypatch, name: str) -> list:
    """Record which of the function's two programs (:class:`jaxnet._values.Checked`) each call runs, and how."""
    module, attr, _ = CHECKED[name]
    ran: list = []
    real = getattr(module, attr)
    monkeypatch.setattr(module, attr, type(real)(_Spy(real, "fused", ran), _Spy(real, "bare", ran)))
    return ran


@pytest.mark.parametrize("name", list(CHECKED))
def test_host_data_runs_numpy_or_the_bare_kernel_and_device_data_the_fused_one(name, monkeypatch):
    """Data the host holds is checked with numpy, then evaluated by numpy where the problem is small (nothing
    compiled: :mod:`jaxnet._host_eval`), else by the kernel alone (the value flags fused into it tripled a
    small program's compile time: predict of a 30-100-1 net, 0.11 -> 0.34 s of CPU); data off the host (here:
    every jax array counts as off the host), or numpy data bound for an accelerator, runs the fused program.
    The compiled programs agree bit for bit, numpy with them to float64's last bits; the same refusals."""
    call = CHECKED[name][2]
    ran = _spy(monkeypatch, name)
    params, x, _, y, _ = _fresh_net(120 + list(CHECKED).index(name))
    bad = x.copy()
    bad[3, 1] = np.nan
    by_numpy = jax.tree.map(np.asarray, call(params, x, y))
    with pytest.raises(ValueError, match=r"^x: expected finite values"):
        call(params, bad, y)
    assert ran == ["numpy"]  # refused before anything ran
    monkeypatch.setattr(jaxnet._host_eval, "HOST_WORK", 0)  # every problem too large for numpy
    bare = jax.tree.map(np.asarray, call(params, x, y))
    assert ran == ["numpy", "bare"]
    monkeypatch.setattr(jaxnet._values, "on_host", lambda a: not isinstance(a, jax.Array))
    device = jax.tree.map(np.asarray, call(params, jax.device_put(x), jax.device_put(y)))
    assert ran == ["numpy", "bare", "fused"]
    with pytest.raises(ValueError, match=r"^x: expected finite values"):
        call(params, jax.device_put(bad), y)
    assert ran == ["numpy", "bare", "fused", "fused"]
    for a, b, c in zip(jax.tree.leaves(by_numpy), jax.tree.leaves(bare), jax.tree.leaves(device), strict=True):
        assert a.dtype == b.dtype == c.dtype and np.array_equal(b, c)
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
        assert a.dtype.kind == "f" or np.array_equal(a, b)  # decisions: the same
    monkeypatch.setattr(_validate, "default_platform", lambda: "gpu")  # numpy data would move to a GPU
    numpy_params = {k: np.asarray(v) for k, v in params.items()}
    monkeypatch.setattr(jaxnet._values, "on_host", lambda a: True)
    call(numpy_params, x, y)
    assert ran == ["numpy", "bare", "fused", "fused", "fused"]


@pytest.mark.parametrize("name", list(CHECKED))
def test_host_data_under_an_outer_jit_is_traced_as_before(name):
    """Concrete host data inside a traced function (jit, eval_shape, scan) runs, as before: prepare moves it
    into the trace, so nothing is checked there (as for any traced value), and the output, a tracer there, is
    not read back (it raised TracerArrayConversionError)."""
    call = CHECKED[name][2]
    params, x, _, y, _ = _fresh_net(130 + list(CHECKED).index(name))
    params = {k: np.asarray(v) for k, v in params.items()}
    want = jax.tree.map(np.asarray, call(params, x, y))
    got = jax.jit(lambda: call(params, x, y))()
    for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
        np.testing.assert_allclose(np.asarray(b), a, rtol=1e-12, atol=0)
    assert jax.eval_shape(lambda: call(params, x, y)) is not None


def _bad_inputs(params, x, y, w):
    """Value refusals of the checked functions: (what to call, the message's start)."""
    nan_x, inf_w1, neg_w, row = x.copy(), dict(params), w.copy(), y.copy()
    nan_x[2, 0], neg_w[1] = np.nan, -1.0
    inf_w1["W1"] = np.asarray(params["W1"]).copy()
    inf_w1["W1"][0, 0] = np.inf
    row[0] = [0.5, 0.4, 0.4]  # a one-hot row summing to 1.3
    big = {k: np.asarray(v) * 1e150 for k, v in params.items()}  # finite, but the outputs overflow
    return {
        "nan x": (lambda: jaxnet.loss(params, nan_x, y, head="softmax"), "x: expected finite"),
        "inf params": (lambda: jaxnet.predict(inf_w1, x, head="softmax"), "params['W1']: expected finite"),
        "negative weight": (lambda: jaxnet.grads(params, x, y, neg_w, head="softmax"), "sample_weight:"),
        "zero weights": (lambda: jaxnet.manual_grads(params, x, y, 0 * w, head="softmax"), "sample_weight:"),
        "row sum": (lambda: jaxnet.loss(params, x, row, head="softmax"), "y:"),
        "overflow": (lambda: jaxnet.forward_trace(big, 1e150 * x, head="softmax"), ""),
    }


@pytest.mark.parametrize("case", ["nan x", "inf params", "negative weight", "zero weights", "row sum", "overflow"])
def test_value_refusals_are_the_same_from_the_host_check_and_the_fused_program(case, monkeypatch):
    """On a CPU machine the fused program runs only for data off the host: here it is forced (every argument
    counts as off the host) and must refuse what the host's check refuses, with the same message."""
    params, x, _, y, w = _fresh_net(140)
    call, start = _bad_inputs(params, x, y, w)[case]
    with pytest.raises(ValueError) as host:
        call()
    monkeypatch.setattr(jaxnet._values, "on_host", lambda a: False)
    with pytest.raises(ValueError) as fused:
        call()
    assert str(host.value).startswith(start) and str(fused.value) == str(host.value)


def test_as_on_an_accelerator_an_estimator_fit_compiles_its_training_only(count_compiles, monkeypatch):
    """The estimator hands fit host data (on the H200 it moved it first, and every fit call checked it with a
    program of its own)."""
    off_host = lambda a: not isinstance(a, jax.Array)  # noqa: E731
    monkeypatch.setattr(jaxnet._values, "on_host", off_host)
    monkeypatch.setattr(metrics, "on_host", off_host)
    x, y = _estimator_data(13)  # a width no other test trains
    with pytest.warns(Warning), count_compiles() as compiles:  # max_iter=3 does not converge
        jaxnet.MLPClassifier((9,), max_iter=3, batch_size=30, random_state=0).fit(x, y)
    assert compiles() == 1  # fit's program; numpy fills in the optimizer's init (jaxnet._host_init)


def test_init_mlp_compiles_one_program_for_a_new_size_then_none(count_compiles):
    with count_compiles() as compiles:
        jaxnet.init_mlp(0, (61, 700, 2), dtype=np.float64)  # 43,400 weights: a bucket no other test draws
    assert compiles() <= 1
    with count_compiles() as compiles:
        jaxnet.init_mlp(1, (61, 700, 2), dtype=np.float64)
    assert compiles() == 0


def test_divergence_limit_of_host_values_compiles_nothing_and_equals_jax(count_compiles):
    from jaxnet.errors import divergence_limit

    bf16 = np.asarray([3.3, 0.5], jax.numpy.bfloat16)  # numpy calls bfloat16 kind 'V': still a float here
    values = (
        0.5,
        4.0,
        1.2345678901,
        7,
        np.float32(3.3),
        np.array([0.25, 3.3], np.float32),
        np.array([2.2, 9.9]),
        bf16,
        np.float32(3e38),
    )  # the last: inf, as jnp, no overflow warning
    with count_compiles() as compiles, warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow to inf is the answer, not a RuntimeWarning
        got = [divergence_limit(v) for v in values]
    assert compiles() == 0
    for v, limit in zip(values, got):  # what jnp computes, bit for bit and in its dtype
        want = jaxnet.errors.DIVERGENCE_FACTOR * jax.numpy.maximum(v, 1)
        assert np.asarray(limit).dtype == want.dtype
        np.testing.assert_array_equal(np.asarray(limit), np.asarray(want))
    traced = jax.jit(divergence_limit)(jax.numpy.float32(3.0))  # the sweep kernel's use, inside jit
    assert traced.dtype == np.float32 and float(traced) == 3000.0


@pytest.mark.parametrize("bad", [None, [1.0, 2.0], "a", True, np.array(["x"])])
def test_divergence_limit_refuses_what_is_not_a_real_number(bad):
    with pytest.raises(TypeError, match="initial: expected a real number or an array of them, got"):
        jaxnet.errors.divergence_limit(bad)


def _estimator_data(n_features: int) -> tuple:
    rng = np.random.default_rng(n_features)
    x = rng.normal(size=(90, n_features))
    return x, (x[:, 0] + 0.3 * rng.normal(size=90) > 0).astype(int)


def test_an_estimator_fit_compiles_its_training_then_nothing(count_compiles):
    x, y = _estimator_data(11)  # a width no other test trains
    make = lambda **kw: jaxnet.MLPClassifier((9,), max_iter=3, batch_size=30, **{"random_state": 0, **kw})  # noqa: E731
    with pytest.warns(Warning), count_compiles() as compiles:  # max_iter=3 does not converge
        clf = make().fit(x, y)
    assert compiles() == 1  # fit's program; numpy fills in the optimizer's init (jaxnet._host_init)
    with count_compiles() as compiles:
        clf.predict(x), clf.predict_proba(x[:5]), clf.score(x, y)
    assert compiles() <= 1  # one prediction block
    with pytest.warns(Warning), count_compiles() as again:  # other numbers, the same shapes: nothing
        make(learning_rate_init=0.02, alpha=0.3).fit(x, y).score(x, y)
        make(random_state=5).partial_fit(x, y, classes=[0, 1]).predict(x)
    assert again() == 0


@pytest.mark.parametrize("optimizer", ["adam", "sgd", optax.adamw])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_estimators_optimizer_init_is_optaxs_eager_init_exactly(optimizer, dtype):
    from jaxnet._estimator_parts import _init_state, _initial_params, _optimizer

    params = {k: v.astype(dtype) for k, v in _initial_params(0, (5, 7, 2)).items()}
    eager, eager_tree = jax.tree.flatten(_optimizer(optimizer).init(params))
    compiled, compiled_tree = jax.tree.flatten(_init_state(optimizer, params))
    assert compiled_tree == eager_tree
    for a, b in zip(eager, compiled):  # numpy leaves where numpy filled it in (jaxnet._host_init): as jax sees them
        assert (jax.typeof(b).dtype, jax.typeof(b).weak_type) == (a.dtype, a.weak_type)
        np.testing.assert_array_equal(np.asarray(b), np.asarray(a))

"""sweep: K nets in one program equal K separate fits, with both kernels; divergence and bad input are loud."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnet
from jaxnet import _sweep_kernels as sk
from jaxnet._recording import sweep_record_every
from jaxnet.fitting import DivergenceWarning

KERNELS = ["broadcast", "dense"]


def _sweep_quiet(*args, **kwargs):
    """sweep, failing the test on any DivergenceWarning (these nets are expected to train)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DivergenceWarning)
        return jaxnet.sweep(*args, **kwargs)


def _reference(params, x, y, rate, steps, activation="relu", head="sigmoid"):
    """``steps`` SGD steps of one net with make_train_step; returns (params, loss before each step)."""
    opt = optax.sgd(rate)
    step = jaxnet.make_train_step(opt, activation=activation, head=head)
    state, losses = opt.init(params), []
    for _ in range(steps):
        params, state, value = step(params, state, x, y)
        losses.append(value)
    return params, jnp.stack(losses)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.slow
def test_learning_rate_sweep_equals_separate_fits(kernel):
    params, x, y = jaxnet.seed_example(jnp.float64)
    rates = jnp.array([0.01, 0.1, 0.5, 2.0])
    stacked, losses, diverged = _sweep_quiet(
        x, y, params=params, learning_rates=rates, steps=40, record_every=4, kernel=kernel
    )
    assert stacked["W1"].shape == (4, 3, 2) and losses.shape == (4, 10) and diverged.shape == (4,)
    assert diverged.dtype == jnp.bool_ and not diverged.any()
    for k, rate in enumerate(rates):
        fitted, _, history = jaxnet.fit(
            params, x, y, optimizer=optax.sgd(float(rate)), steps=40, record_every=4, progress=False
        )
        for name in params:
            np.testing.assert_allclose(stacked[name][k], fitted[name], rtol=0, atol=1e-14, err_msg=name)
        np.testing.assert_allclose(losses[k], history["loss"], rtol=0, atol=1e-14)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.slow
def test_seed_sweep_equals_separate_fits_on_a_deeper_net(kernel):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(24, 5)))
    y = jnp.asarray(rng.uniform(size=(24, 2)))  # soft labels, two outputs
    keys = jax.random.split(jax.random.key(7), 5)
    stacked, losses, _ = _sweep_quiet(
        x,
        y,
        keys=keys,
        sizes=(5, 6, 4, 2),
        learning_rates=0.3,
        steps=25,
        dtype=jnp.float64,
        record_every=1,
        kernel=kernel,
    )
    for k in (0, 3):
        start = jaxnet.init_mlp(keys[k], (5, 6, 4, 2), dtype=jnp.float64)
        fitted, _, history = jaxnet.fit(start, x, y, optimizer=optax.sgd(0.3), steps=25, progress=False)
        for name in start:
            np.testing.assert_allclose(stacked[name][k], fitted[name], rtol=0, atol=1e-13, err_msg=name)
        np.testing.assert_allclose(losses[k], history["loss"], rtol=0, atol=1e-13)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize(("activation", "head"), [("tanh", "softmax"), ("gelu", "identity"), ("leaky_relu", "sigmoid")])
@pytest.mark.slow
def test_every_activation_and_head_in_both_kernels_equals_separate_steps(kernel, activation, head):
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(12, 3)))
    n_out = {"softmax": 3, "identity": 2, "sigmoid": 2}[head]
    y = {
        "softmax": jnp.asarray(rng.integers(0, 3, size=12)),  # integer classes: one-hot rows inside
        "identity": jnp.asarray(rng.normal(size=(12, 2))),
        "sigmoid": jnp.asarray(rng.uniform(size=(12, 2))),
    }[head]
    keys = jax.random.split(jax.random.key(3), 3)
    rates = jnp.array([0.05, 0.2, 0.4])
    stacked, losses, diverged = _sweep_quiet(
        x,
        y,
        keys=keys,
        sizes=(3, 5, n_out),
        learning_rates=rates,
        steps=15,
        dtype=jnp.float64,
        activation=activation,
        head=head,
        kernel=kernel,
    )
    assert not diverged.any()
    y_rows = jax.nn.one_hot(y, 3, dtype=jnp.float64) if head == "softmax" else y
    for k in range(3):
        start = jaxnet.init_mlp(keys[k], (3, 5, n_out), dtype=jnp.float64)
        fitted, expected = _reference(start, x, y_rows, float(rates[k]), 15, activation, head)
        for name in start:
            np.testing.assert_allclose(stacked[name][k], fitted[name], rtol=0, atol=1e-13, err_msg=name)
        np.testing.assert_allclose(losses[k], expected, rtol=0, atol=1e-13)


@pytest.mark.slow
def test_both_kernels_agree_on_a_larger_batch_and_auto_runs_the_dense_program(count_compiles):
    rng = np.random.default_rng(2)
    x, y = jnp.asarray(rng.normal(size=(64, 4))), jnp.asarray(rng.integers(0, 2, size=64).astype(np.float64))
    keys = jax.random.split(jax.random.key(5), 4)
    runs = [_sweep_quiet(x, y, keys=keys, sizes=(4, 8, 1), steps=20, dtype=jnp.float64, kernel=k) for k in KERNELS]
    for name in runs[0][0]:
        np.testing.assert_allclose(runs[0][0][name], runs[1][0][name], rtol=0, atol=1e-13, err_msg=name)
    np.testing.assert_allclose(runs[0][1], runs[1][1], rtol=0, atol=1e-13)
    with count_compiles() as compiles:  # a net-step of 64 x 40 multiply-adds: above the broadcast kernel's range
        auto = _sweep_quiet(x, y, keys=keys, sizes=(4, 8, 1), steps=20, dtype=jnp.float64)
    assert compiles() == 0  # the dense run's program
    for name in auto[0]:
        np.testing.assert_array_equal(auto[0][name], runs[1][0][name], err_msg=name)


@pytest.mark.parametrize(("activation", "head", "n_out"), [("tanh", "sigmoid", 2), ("relu", "softmax", 3)])
def test_broadcast_layout_is_the_per_net_recursion_with_the_net_axis_last(activation, head, n_out):
    rng = np.random.default_rng(6)
    x = jnp.asarray(rng.normal(size=(5, 3)))
    y = jax.nn.one_hot(jnp.asarray(rng.integers(0, n_out, size=5)), n_out, dtype=jnp.float64)
    nets = [jaxnet.init_mlp(key, (3, 4, n_out), dtype=jnp.float64) for key in jax.random.split(jax.random.key(2), 3)]
    soa = {n: jnp.stack([p[n] for p in nets], axis=-1) for n in nets[0]}  # W_l: (out, in, K)
    broadcast = jax.jit(lambda *a: jaxnet._kernels.value_and_grads_in(sk.BROADCAST, *a, None, activation, head))
    per_net = jax.jit(lambda p: jaxnet._kernels.value_and_grads(p, x, y, None, activation, head))
    value, grads = broadcast(soa, x[:, :, None], y[:, :, None])
    assert value is not None and value.shape == (3,)
    for k, p in enumerate(nets):
        one_value, one_grads = per_net(p)
        np.testing.assert_allclose(value[k], one_value, rtol=0, atol=1e-15)
        for name in p:
            np.testing.assert_allclose(grads[name][..., k], one_grads[name], rtol=0, atol=1e-15, err_msg=name)


@pytest.mark.slow
def test_auto_runs_the_broadcast_program_for_the_worked_example(count_compiles):
    _, x, y = jaxnet.seed_example(jnp.float64)  # one example, a 2-3-1 net: 9 multiply-adds per net-step
    kw = {"keys": jax.random.split(jax.random.key(0), 3), "sizes": (2, 3, 1), "steps": 4, "dtype": jnp.float64}
    broadcast = _sweep_quiet(x, y, kernel="broadcast", **kw)
    with count_compiles() as compiles:
        auto = _sweep_quiet(x, y, **kw)
    assert compiles() == 0  # the broadcast run's program
    for name in auto[0]:
        np.testing.assert_array_equal(auto[0][name], broadcast[0][name], err_msg=name)


@pytest.mark.slow
def test_thousand_seeds_of_the_worked_example_in_float32():
    _, x, y = jaxnet.seed_example(jnp.float32)
    keys = jax.random.split(jax.random.key(0), 1000)
    stacked, losses, diverged = jaxnet.sweep(
        x, y, keys=keys, sizes=(2, 3, 1), steps=100, record_every=100, dtype=jnp.float32
    )
    assert losses.shape == (1000, 1) and losses.dtype == jnp.float32 and diverged.shape == (1000,)
    assert stacked["W1"].shape == (1000, 3, 2)
    final = jax.vmap(lambda p: jaxnet._kernels.loss(p, x, y))(stacked)
    assert float(jnp.median(final)) < float(jnp.median(losses[:, 0]))  # training helped most nets


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.slow
def test_many_nets_in_padded_blocks_equal_separate_fits(kernel, monkeypatch):
    params, x, y = jaxnet.seed_example(jnp.float64)
    asked = []

    def four(kernel, k, *rest):  # blocks of 4 nets, whatever the device
        asked.append((kernel, k))
        return 4

    monkeypatch.setattr(sk, "block_size", four)
    rates = jnp.linspace(0.01, 1.0, 13)  # 13 nets: 4 blocks of 4, the last one padded with 3 copies
    k_all = rates.shape[0]
    stacked, losses, _ = _sweep_quiet(
        x, y, params=params, learning_rates=rates, steps=12, record_every=3, kernel=kernel
    )
    assert asked == [(kernel, k_all)] and k_all % 4  # the blocks were of 4 nets: padding was needed
    assert stacked["W1"].shape == (k_all, 3, 2) and losses.shape == (k_all, 4)
    for k in sorted({0, 3, 4, k_all // 2, k_all - 1}):
        fitted, _, history = jaxnet.fit(
            params, x, y, optimizer=optax.sgd(float(rates[k])), steps=12, record_every=3, progress=False
        )
        for name in params:
            np.testing.assert_allclose(stacked[name][k], fitted[name], rtol=0, atol=1e-14, err_msg=(k, name))
        np.testing.assert_allclose(losses[k], history["loss"], rtol=0, atol=1e-14)


@pytest.mark.slow
def test_device_and_precision_options():
    params, x, y = jaxnet.seed_example(jnp.float64)
    rates = jnp.array([0.1, 0.3])
    base = _sweep_quiet(x, y, params=params, learning_rates=rates, steps=10, kernel="dense")
    cpu = jax.devices("cpu")[0]
    for precision in ("default", "high", "highest"):
        out = _sweep_quiet(
            x, y, params=params, learning_rates=rates, steps=10, kernel="dense", device=cpu, precision=precision
        )
        assert next(iter(out[0]["W1"].devices())) == cpu
        for name in params:  # float64 on a CPU: every precision is exact
            np.testing.assert_allclose(out[0][name], base[0][name], rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="precision: expected one of"):
        jaxnet.sweep(x, y, params=params, steps=1, precision="tf32")
    with pytest.raises(TypeError, match="device: expected a jax.Device"):
        jaxnet.sweep(x, y, params=params, steps=1, device="cpu")
    with pytest.raises(ValueError, match="kernel: expected one of"):
        jaxnet.sweep(x, y, params=params, steps=1, kernel="fast")


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.slow
def test_diverged_nets_are_flagged_and_keep_their_last_finite_parameters(kernel):
    params, x, y = jaxnet.seed_example(jnp.float64)
    rates = jnp.array([0.1, 1e200, 0.5])  # the middle net overflows in its first steps
    with pytest.warns(DivergenceWarning, match="1 of 3 nets diverged"):
        stacked, losses, diverged = jaxnet.sweep(
            x, y, params=params, learning_rates=rates, steps=20, record_every=2, kernel=kernel
        )
    assert diverged.tolist() == [False, True, False]
    for v in stacked.values():
        assert bool(jnp.all(jnp.isfinite(v)))
    finite = np.isfinite(np.asarray(losses[1]))
    assert finite[0] and not finite[1:].any()  # NaN from the first failed check on
    for name in params:  # it failed at the first record after its start: it keeps its start
        np.testing.assert_array_equal(stacked[name][1], params[name])
    kept = jaxnet._kernels.loss({n: v[1] for n, v in stacked.items()}, x, y)
    np.testing.assert_allclose(losses[1][finite][-1], kept, rtol=0, atol=1e-15)
    assert np.isfinite(np.asarray(losses)[[0, 2]]).all()


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.slow
def test_a_finite_blow_up_counts_as_divergence(kernel):
    rng = np.random.default_rng(4)
    x, y = jnp.asarray(rng.normal(size=(16, 3))), jnp.asarray(rng.normal(size=16))
    keys = jax.random.split(jax.random.key(1), 2)
    rates = jnp.array([0.01, 3.0])  # regression at lr 3: the loss grows geometrically while it is finite
    with pytest.warns(DivergenceWarning, match="1 of 2 nets diverged"):
        stacked, losses, diverged = jaxnet.sweep(
            x,
            y,
            keys=keys,
            sizes=(3, 4, 1),
            learning_rates=rates,
            steps=20,
            record_every=1,
            dtype=jnp.float64,
            head="identity",
            kernel=kernel,
        )
    assert diverged.tolist() == [False, True]
    last = np.asarray(losses[1])[np.isfinite(np.asarray(losses[1]))]
    assert 0 < last.size < 20
    assert last[-1] <= 1e3 * max(float(losses[1, 0]), 1.0)  # every loss returned passed the rule
    kept = jaxnet._kernels.loss({n: v[1] for n, v in stacked.items()}, x, y[:, None], head="identity")
    assert bool(jnp.isfinite(kept)) and float(kept) <= 1e3 * max(float(losses[1, 0]), 1.0)
    np.testing.assert_allclose(last[-1], kept, rtol=1e-14)


@pytest.mark.slow
def test_zero_learning_rate_is_a_control_net():
    params, x, y = jaxnet.seed_example(jnp.float64)
    stacked, losses, _ = _sweep_quiet(x, y, params=params, learning_rates=jnp.array([0.0, 0.1]), steps=5)
    for name in params:
        np.testing.assert_array_equal(stacked[name][0], params[name])
    assert float(losses[0, 0]) == float(losses[0, -1])


@pytest.mark.slow
def test_bad_arguments():
    params, x, y = jaxnet.seed_example(jnp.float64)
    keys2 = jax.random.split(jax.random.key(0), 2)
    with pytest.raises(TypeError, match="params: expected a dict"):
        jaxnet.sweep(x, y, params=[params["W1"]], steps=1)
    with pytest.raises(ValueError, match="exactly one of"):
        jaxnet.sweep(x, y, steps=1)
    with pytest.raises(ValueError, match="sizes: required"):
        jaxnet.sweep(x, y, keys=keys2, steps=1)
    with pytest.raises(ValueError, match="sizes: only used with keys="):
        jaxnet.sweep(x, y, params=params, sizes=(2, 3, 1), steps=1)
    with pytest.raises(ValueError, match="learning_rates"):
        jaxnet.sweep(x, y, keys=keys2, sizes=(2, 1), learning_rates=jnp.ones(3), steps=1)
    with pytest.raises(ValueError, match="x: expected shape"):
        jaxnet.sweep(jnp.ones(3), y, params=params, steps=1)
    with pytest.raises(ValueError, match="params: expected one net or a stack"):
        jaxnet.sweep(x, y, params={n: jnp.zeros((0,) + v.shape) for n, v in params.items()}, steps=1)
    with pytest.raises(ValueError, match="params: expected a leading axis of 1 or K=3"):
        jaxnet.sweep(x, y, params={n: jnp.stack([v] * (3 if n == "W1" else 2)) for n, v in params.items()}, steps=1)


@pytest.mark.parametrize(
    ("rates", "error", "message"),
    [
        (jnp.array([0.1, jnp.nan]), ValueError, "learning_rates: expected finite values"),
        (jnp.array([0.1, jnp.inf]), ValueError, "learning_rates: expected finite values"),
        (-0.1, ValueError, r"learning_rates: expected a number >= 0, got -0.1"),
        (jnp.array([0.1, -0.2]), ValueError, r"learning_rates\[1\]: expected a number >= 0, got -0.2"),
        (jnp.ones((2, 2)), ValueError, "learning_rates: expected a scalar or a 1-D array"),
        (jnp.ones(0), ValueError, "learning_rates: expected at least one rate"),
        ("0.1", TypeError, "learning_rates"),
        (jnp.array([True]), TypeError, "learning_rates"),
    ],
)
def test_bad_learning_rates_are_refused(rates, error, message):
    params, x, y = jaxnet.seed_example(jnp.float64)
    with pytest.raises(error, match=message):
        jaxnet.sweep(x, y, params=params, learning_rates=rates, steps=2)


def test_learning_rates_are_checked_in_the_params_dtype():
    params, x, y = jaxnet.seed_example(jnp.float32)
    with pytest.raises(ValueError, match="learning_rates: expected finite values in float32"):
        jaxnet.sweep(x, y, params=params, learning_rates=np.array([1e39]), steps=2)  # finite in float64 only


@pytest.mark.parametrize(
    ("record_every", "error", "message"),
    [
        (True, TypeError, "record_every: expected a positive integer, got True"),
        (3, ValueError, 'record_every: expected "auto" or a positive divisor of steps=10'),
        (0, ValueError, "record_every: expected a positive integer"),
        (2.0, TypeError, "record_every"),
        ("every", TypeError, "record_every"),
    ],
)
def test_bad_record_every_is_refused(record_every, error, message):
    params, x, y = jaxnet.seed_example(jnp.float64)
    with pytest.raises(error, match=message):
        jaxnet.sweep(x, y, params=params, steps=10, record_every=record_every)


@pytest.mark.parametrize(
    ("steps", "error"), [(2**31, ValueError), (0, ValueError), (True, TypeError), (5.0, TypeError)]
)
def test_bad_steps_are_refused(steps, error):
    params, x, y = jaxnet.seed_example(jnp.float64)
    with pytest.raises(error, match="steps: expected a positive integer"):
        jaxnet.sweep(x, y, params=params, steps=steps)


@pytest.mark.parametrize("bad", [jnp.nan, jnp.inf])
def test_nan_in_any_net_of_stacked_params_is_refused(bad):
    params, x, y = jaxnet.seed_example(jnp.float64)
    stacked = {n: jnp.stack([v] * 4) for n, v in params.items()}
    stacked["b1"] = stacked["b1"].at[2, 1].set(bad)  # net 2 only; net 0 is clean
    with pytest.raises(
        ValueError,
        match=r"params\['b1'\]: expected finite values in float64 in every net, got NaN/inf in 1 net\(s\), first \[2\]",
    ):
        jaxnet.sweep(x, y, params=stacked, steps=2)


@pytest.mark.slow
def test_stacked_params_are_checked_in_their_own_dtype():
    params, x, y = jaxnet.seed_example(jnp.float32)
    stacked = {n: jnp.stack([v] * 3) for n, v in params.items()}
    stacked["W2"] = stacked["W2"].at[1, 0, 0].set(jnp.float32(3e38) * 2)  # overflows float32 to inf
    with pytest.raises(ValueError, match=r"params\['W2'\]: expected finite values in float32 in every net"):
        jaxnet.sweep(x, y, params=stacked, steps=2)


@pytest.mark.parametrize("keys", [[0, 1], 3, jnp.array([1, 2]), jax.random.key(0), np.zeros((2, 2), np.uint32)])
def test_keys_that_are_not_keys_are_refused(keys):
    _, x, y = jaxnet.seed_example(jnp.float64)
    with pytest.raises(TypeError, match=r"keys: expected a \(K,\) array of jax.random keys"):
        jaxnet.sweep(x, y, keys=keys, sizes=(2, 3, 1), steps=2)


@pytest.mark.slow
def test_legacy_uint32_keys_are_accepted():
    _, x, y = jaxnet.seed_example(jnp.float64)
    legacy = jax.random.split(jax.random.PRNGKey(0), 3)  # (3, 2) uint32
    typed = jax.random.wrap_key_data(legacy)
    a = _sweep_quiet(x, y, keys=legacy, sizes=(2, 3, 1), steps=4, dtype=jnp.float64)
    b = _sweep_quiet(x, y, keys=typed, sizes=(2, 3, 1), steps=4, dtype=jnp.float64)
    for name in a[0]:
        np.testing.assert_array_equal(a[0][name], b[0][name])


@pytest.mark.slow
def test_auto_record_every_bounds_the_loss_buffer():
    assert sweep_record_every(5000, 100, 4) == 5  # 1000 points
    assert sweep_record_every(500, 100, 4) == 1  # every step
    assert sweep_record_every(5000, 10**6, 4) == 100  # 50 points: 256 MiB of losses at most
    assert sweep_record_every(1009, 10, 8) == 1  # a prime, few nets: every step, as fit
    assert sweep_record_every(1009, 10**5, 8) == 1009  # a prime, many nets: only the first loss
    for steps, k in [(5000, 10**5), (12345, 7), (2**20, 3 * 10**6), (1, 1), (999_983, 10**6)]:
        every = sweep_record_every(steps, k, 8)
        assert steps % every == 0 and k * (steps // every) * 8 <= max(2**28, k * 8), (steps, k, every)
    params, x, y = jaxnet.seed_example(jnp.float64)
    _, losses, _ = _sweep_quiet(x, y, params=params, learning_rates=jnp.array([0.1, 0.2]), steps=3000)
    assert losses.shape == (2, 1000)  # the default is "auto"


def test_a_loss_buffer_over_a_gibibyte_is_refused_before_training():
    params, x, y = jaxnet.seed_example(jnp.float64)
    rates = jnp.full(300_000, 0.1)  # 300k nets x 1000 float64 losses = 2.4 GB
    with pytest.raises(
        ValueError, match=r"record_every: .*\(2\.40 GB\), over the 1 GiB limit; .*record_every=\"auto\""
    ):
        jaxnet.sweep(x, y, params=params, learning_rates=rates, steps=1000, record_every=1)

"""fit(drop_last=False): every row once an epoch, the last minibatch holding the remainder (padded with rows of
weight 0), checked against a loop written out step by step; and its refusals."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import optax_promotion

import jaxnet
from jaxnet._padding import bucket


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    return jaxnet.init_mlp(0, (3, 4, 1), dtype=np.float64), x, (x[:, :1] + 0.3 * rng.normal(size=(n, 1)) > 0) * 1.0


def _reference(params, x, y, key, size, steps, lr, w=None):
    """Plain SGD over epochs of ceil(n / size) minibatches; epoch e's order is fit's: the real rows by
    jax.random bits of fold_in(key, e) drawn for the padded length, ties by index."""
    n = len(x)
    padded = -(-bucket(n) // size) * size
    per_epoch = -(-n // size)
    losses = []
    for step in range(steps):
        epoch, pos = divmod(step, per_epoch)
        bits = np.asarray(jax.random.bits(jax.random.fold_in(key, epoch), (padded,), jnp.uint32))[:n]
        rows = np.lexsort((np.arange(n), bits))[pos * size : (pos + 1) * size]  # the last: the remainder
        weights = None if w is None else w[rows]
        losses.append(float(jaxnet.loss(params, x[rows], y[rows], sample_weight=weights)))
        g = jaxnet.grads(params, x[rows], y[rows], sample_weight=weights)
        params = {k: params[k] - lr * g[k] for k in params}
    return params, np.asarray(losses)


@pytest.mark.parametrize("n, size", [(45, 20), (7, 3), (40, 20), (5, 5)])
def test_every_row_once_an_epoch_the_last_minibatch_the_remainder(n, size):
    params, x, y = _data(n)
    key = jax.random.key(3)
    steps = 3 * -(-n // size) + 1  # three epochs and the first step of a fourth
    fitted, _, history = jaxnet.fit(
        params, x, y, steps=steps, optimizer=optax.sgd(0.5), batch_size=size, key=key, drop_last=False,
        record_every=1, progress=False,
    )  # fmt: skip
    want, losses = _reference(params, x, y, key, size, steps, 0.5)
    np.testing.assert_allclose(history["loss"], losses, rtol=1e-12, atol=0)
    for k in params:
        np.testing.assert_allclose(fitted[k], want[k], rtol=1e-12, atol=1e-15, err_msg=k)


def test_sample_weights_weigh_each_minibatch_the_last_one_too():
    """With sample weights the minibatches carry them (the padding's are 0): each step's loss is the weighted
    mean of its rows, the last minibatch's too."""
    params, x, y = _data(45, seed=2)
    w = np.random.default_rng(5).uniform(0.1, 3.0, 45)
    key = jax.random.key(8)
    fitted, _, history = jaxnet.fit(
        params, x, y, steps=7, optimizer=optax.sgd(0.5), batch_size=20, key=key, drop_last=False, sample_weight=w,
        record_every=1, progress=False,
    )  # fmt: skip
    want, losses = _reference(params, x, y, key, 20, 7, 0.5, w)
    np.testing.assert_allclose(history["loss"], losses, rtol=1e-12, atol=0)
    for k in params:
        np.testing.assert_allclose(fitted[k], want[k], rtol=1e-12, atol=1e-15, err_msg=k)


def test_drop_last_true_leaves_the_remainder_to_later_epochs():
    """The default: 45 rows in minibatches of 20 are 2 steps an epoch; drop_last=False makes it 3, so the same
    steps end elsewhere."""
    params, x, y = _data(45)
    run = lambda **kw: jaxnet.fit(params, x, y, steps=6, batch_size=20, key=1, progress=False, **kw)[0]  # noqa: E731
    dropped, default, kept = run(drop_last=True), run(), run(drop_last=False)
    assert all(np.array_equal(dropped[k], default[k]) for k in params)
    assert not all(np.allclose(dropped[k], kept[k]) for k in params)


def test_drop_last_changes_nothing_for_a_full_batch():
    params, x, y = _data(45)
    a = jaxnet.fit(params, x, y, steps=5, progress=False)[0]
    b = jaxnet.fit(params, x, y, steps=5, progress=False, drop_last=False)[0]
    assert all(np.array_equal(a[k], b[k]) for k in params)


def test_neighbouring_row_counts_share_one_program(count_compiles):
    """45 and 43 rows (buckets 48 and 44) both pad to 60 rows for minibatches of 20: one program."""
    params, x, y = _data(45, seed=7)
    with optax_promotion():
        fit = lambda rows: jaxnet.fit(  # noqa: E731
            params, x[:rows], y[:rows], steps=4, optimizer=optax.adam(1e-3), batch_size=20, key=0,
            drop_last=False, progress=False,
        )  # fmt: skip
        fit(45)
        with count_compiles() as compiles:
            fit(43)
            assert compiles() == 0


@pytest.mark.parametrize("bad", ["yes", None, 1, 0.0, np.array([True])])
def test_drop_last_must_be_a_bool(bad):
    params, x, y = _data(10)
    with pytest.raises(TypeError, match="drop_last: expected True or False, got"):
        jaxnet.fit(params, x, y, steps=1, batch_size=5, key=0, drop_last=bad, progress=False)


def test_drop_last_accepts_numpy_bools():
    params, x, y = _data(10)
    a = jaxnet.fit(params, x, y, steps=3, batch_size=4, key=0, drop_last=np.False_, progress=False)[0]
    b = jaxnet.fit(params, x, y, steps=3, batch_size=4, key=0, drop_last=False, progress=False)[0]
    assert all(np.array_equal(a[k], b[k]) for k in params)


def test_drop_last_false_refuses_a_loss_fn_and_a_mesh():
    params, x, y = _data(10)

    def loss_fn(p, xb, yb, w):
        return jaxnet.loss(p, xb, yb)

    with pytest.raises(ValueError, match="drop_last: False .* got a loss_fn"):
        jaxnet.fit(params, x, y, steps=1, batch_size=4, key=0, drop_last=False, loss_fn=loss_fn, progress=False)
    mesh = jaxnet.data_parallel_mesh(jax.devices()[:1])
    with pytest.raises(ValueError, match="drop_last: False .* got a mesh"):
        jaxnet.fit(params, x, y, steps=1, batch_size=4, key=0, drop_last=False, mesh=mesh, progress=False)


def test_drop_last_false_is_refused_only_after_mesh_and_batch_size_are_checked():
    """A junk mesh or batch_size is reported as itself, not as drop_last=False needing no mesh or loss_fn (whose
    fix, drop_last=True, would only reveal the real error next)."""
    params, x, y = _data(10)

    def loss_fn(p, xb, yb, w):
        return jaxnet.loss(p, xb, yb)

    kw = dict(steps=1, key=0, drop_last=False, progress=False)
    with pytest.raises(TypeError, match="mesh: expected a jax.sharding.Mesh"):
        jaxnet.fit(params, x, y, batch_size=4, mesh="junk", **kw)
    with pytest.raises(TypeError, match="batch_size: expected"):
        jaxnet.fit(params, x, y, batch_size="4", loss_fn=loss_fn, **kw)
    with pytest.raises(ValueError, match="batch_size: expected at most the number of examples 10"):
        jaxnet.fit(params, x, y, batch_size=11, loss_fn=loss_fn, **kw)


@pytest.mark.parametrize("gradients", ["manual", "autodiff"])
def test_the_masked_padding_is_sample_weights_of_one_bit_for_bit(gradients):
    """Without sample weights the engine masks the padding (_kernels.Mask, no power-of-two scaling); with
    weights of 1 it gathers them and scales them (by 2^0): the same arithmetic, so the same bits."""
    params, x, y = _data(47, seed=3)
    params, x, y = {k: v.astype(np.float32) for k, v in params.items()}, x.astype(np.float32), y.astype(np.float32)
    run = lambda **kw: jaxnet.fit(  # noqa: E731
        params, x, y, steps=11, optimizer=optax.sgd(0.5), batch_size=10, key=3, drop_last=False, record_every=1,
        gradients=gradients, progress=False, **kw,
    )  # fmt: skip
    masked, weighted = run(), run(sample_weight=np.ones(47, np.float32))
    np.testing.assert_array_equal(masked[2]["loss"], weighted[2]["loss"])
    for k in params:
        np.testing.assert_array_equal(masked[0][k], weighted[0][k], err_msg=k)

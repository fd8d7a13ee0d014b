"""fit's compiled loop stays one XLA:CPU kernel for the worked example (the per-step regression of 6f6486d).

XLA:CPU compiles a ``while`` loop whose one iteration (body and condition) touches under 1 KiB in its HLO
cost analysis (``xla_cpu_small_while_loop_byte_threshold``) into one kernel, a ``call`` marked
``xla_cpu_small_call``; a larger loop runs op by op, about 50 ns per op per iteration. When the learning
rate became a runtime input (6f6486d) the worked example's float64 loop went from 995 to 1,035 bytes, and a
block of ``fit``'s default ``record_every=1`` from ~60 ns to ~630 ns. These tests read the optimized
program, not a clock: they fail on that commit's loop and pass on one that fits. The minibatch program's
shape is checked the same way: each XLA:CPU kernel costs ~10 ms of compile time.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnet
from jaxnet import _engine as engine
from jaxnet import _fit_args as args
from jaxnet._engine import State, _epoch_bits, run_steps, unrolled_threefry
from jaxnet._fit_loop import _engine

SMALL_CALL = 'xla_cpu_small_call="true"'  # XLA:CPU's mark on a while loop compiled as one kernel

pytestmark = pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU's small-loop kernels")


def compiled_loop(dtype, record_every: int, steps: int = 10_000, example=None, batch_size=None) -> str:
    """The optimized HLO text of ``fit``'s ``run_steps`` for the worked example (or ``example``, ``(params, x,
    y)``), as ``fit`` would compile it."""
    params, x, y = jaxnet.seed_example(jnp.dtype(dtype)) if example is None else example
    key = None if batch_size is None else 0
    training = args.Training(steps=steps, optimizer=optax.sgd(0.1), batch_size=batch_size, key=key)
    recording = args.Recording(record_every=record_every, progress=False)
    run = args.check(
        params, x, y, None, jaxnet.Spec(), training, args.Gradients(), args.Validation(), recording, args.Execution()
    )
    engine, carry = _engine(run, State(run.params, run.opt_state))
    limit = np.asarray(np.inf, dtype)
    lowered = run_steps.lower(engine.cfg, carry, engine.data, engine.key, np.int32(1), limit, run.hyper)
    return lowered.compile().as_text()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_recording_every_step_of_the_worked_example_is_one_kernel(dtype):
    """fit's default for <= 10,000 steps: one block per step, so the block loop is the step loop."""
    text = compiled_loop(dtype, record_every=1)
    assert text.count(" while(") == 1  # no inner scan: the one loop is the block loop
    assert SMALL_CALL in text, (
        "fit's block loop for the worked example runs op by op (~10x slower per step): its body grew past "
        "XLA:CPU's small-loop size (see jaxnet._engine.run_steps)"
    )


def test_the_default_record_every_uses_the_one_kernel_loop():
    """The program checked above is the one fit's default picks for a 10,000-step run."""
    params, x, y = jaxnet.seed_example(jnp.float64)
    _, _, history = jaxnet.fit(params, x, y, steps=10_000, progress=False)
    assert history["loss"].shape == (10_000,)


@pytest.mark.skipif(
    not unrolled_threefry(jax.random.key(0)), reason="jax.random's partitionable threefry (default since jax 0.5)"
)
def test_minibatches_compile_no_hash_loop_and_one_finiteness_reduction():
    """The per-epoch shuffle's threefry hash is unrolled (jax lowers it on CPU as a 5-trip ``while``, twice:
    fold-in and bits, ~10 kernels more to compile), and the final parameters are tested for finiteness by one
    reduction, not one per leaf, each a reduce-window and a reduce when over 32 entries (W1 has 120 here)."""
    x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    example = (jaxnet.init_mlp(0, (3, 40, 1), dtype=np.float32), x, (x[:, :1] > 0).astype(np.float32))
    text = compiled_loop(np.float32, record_every=1, example=example, batch_size=5)
    assert text.count(" while(") == 1  # the block loop only
    assert re.findall(r"= \(?pred\[[^=]*? (reduce(?:-window)?)\(", text) == ["reduce"]  # reductions of flags


@pytest.mark.parametrize("seed", [0, 1, 2**32 + 5])
def test_the_epoch_bits_are_jax_randoms(seed):
    """The unrolled hash draws jax.random's own bits: the same key gives the same shuffles as before."""
    key = jaxnet._keys.seed_key(seed)
    if not unrolled_threefry(key):
        pytest.skip("jax.random's threefry is not partitionable here: fit uses jax.random itself")
    draw = jax.jit(_epoch_bits, static_argnums=2)
    for n in (1, 2, 7, 480):
        for epoch in (0, 1, 12, 2**31 - 1):
            expected = jax.random.bits(jax.random.fold_in(key, epoch), (n,), jnp.uint32)
            np.testing.assert_array_equal(draw(key, jnp.int32(epoch), n), expected)


@pytest.mark.parametrize("seed", range(6))
def test_the_one_key_shuffle_orders_the_real_rows_as_the_two_key_sort(seed, monkeypatch):
    """Padding rows get the largest bits, so one sort key does what (is padding, bits, index) did: real rows
    first, by bits then index, even a real row whose bits are the largest (drawn from 4 values here, so ties
    and that case are common); the padding, never drawn, last in index order."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    rows = int(rng.integers(1, n + 1))
    bits = rng.choice(np.array([0, 1, 0xFFFFFFFE, 0xFFFFFFFF], np.uint32), n)
    monkeypatch.setattr(engine, "_epoch_bits", lambda key, epoch, n: jnp.asarray(bits))
    got = np.asarray(engine._shuffle(jax.random.key(0), jnp.int32(0), n, jnp.int32(rows)))
    index = np.arange(n)
    before = np.lexsort((index, bits, index >= rows))  # the old sort (the last key sorts first)
    np.testing.assert_array_equal(got[:rows], before[:rows])  # the real rows: the same order
    np.testing.assert_array_equal(got[rows:], np.arange(rows, n))  # then the padding, in index order

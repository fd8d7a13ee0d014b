"""Data-parallel fit over 8 simulated CPU devices equals single-device fit."""

import os
import subprocess
import sys
import textwrap

import jax
import pytest

import jaxnet

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "data_parallel.py")

# One process of 8 CPU devices runs the example as `python examples/data_parallel.py` would (runpy as __main__,
# float32, before x64 is turned on), then the float32 and float64 checks: one `import jax` (~1.5 s), not two.
SCRIPT = textwrap.dedent(
    """
    import contextlib, io, runpy, sys
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        try:
            runpy.run_path(sys.argv[1], run_name="__main__")
        except SystemExit as e:
            code = e.code
    print(printed.getvalue())
    assert code == 0, ("example exit", code)
    assert "8 device(s)" in printed.getvalue() and "57 per device" in printed.getvalue()
    print("EXAMPLE OK")
    import jax, jax.numpy as jnp, numpy as np, optax
    jax.config.update("jax_enable_x64", True)
    import jaxnet
    assert jax.device_count() == 8, jax.devices()
    mesh = jaxnet.data_parallel_mesh()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)); y = (x[:, 0] - x[:, 2] > 0).astype(float)
    worst = {}
    for dtype, tol in ((jnp.float32, 1e-6), (jnp.float64, 1e-12)):
        p = jaxnet.init_mlp(jax.random.key(1), (6, 16, 8, 1), dtype=dtype)
        for kwargs in ({}, {"batch_size": 16, "key": jax.random.key(2)}):
            one = jaxnet.fit(p, x, y, steps=40, optimizer=optax.sgd(0.2), progress=False, **kwargs)
            many = jaxnet.fit(p, x, y, steps=40, optimizer=optax.sgd(0.2), progress=False, mesh=mesh, **kwargs)
            assert len(many[0]["W1"].sharding.device_set) == 8
            diff = max(float(jnp.max(jnp.abs(one[0][k] - many[0][k]))) for k in p)
            assert diff <= tol, (dtype, kwargs, diff)
            assert np.allclose(one[2]["loss"], many[2]["loss"], rtol=0, atol=tol)
    try:
        jaxnet.fit(p, x[:60], y[:60], steps=1, mesh=mesh, progress=False)
    except ValueError as e:
        assert "not divisible" in str(e) and "8" in str(e)
    else:
        raise AssertionError("indivisible batch accepted")
    print("SHARDED OK")
    """
)


@pytest.mark.slow
def test_data_parallel_fit_on_eight_devices_equals_one_device_and_the_example_agrees():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", SCRIPT, EXAMPLE], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "EXAMPLE OK" in out.stdout and "SHARDED OK" in out.stdout


def test_mesh_must_have_a_data_axis():
    params, x, y = jaxnet.seed_example()
    mesh = jax.sharding.Mesh(jax.devices()[:1], ("model",))
    with pytest.raises(TypeError, match="'data' axis"):
        jaxnet.fit(params, x, y, steps=1, mesh=mesh, progress=False)


def test_small_problems_run_on_the_cpu_of_an_accelerator_machine(monkeypatch):
    from jaxnet.parallel import CROSSOVER_WORK, small_problem_device

    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    assert small_problem_device((2, 3, 1), 1) == (None, "")  # a CPU-only machine: nothing to say
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    device, note = small_problem_device((2, 3, 1), 1)
    assert device.platform == "cpu" and "9 multiply-adds" in note and "GPU" in note
    width = CROSSOVER_WORK // 1024
    assert small_problem_device((1024, width), 1) == (None, "")  # at the crossover: the accelerator

"""The persistent compilation cache (jaxnet.cache): switched on at the first call that compiles (init_mlp,
fit, ...), not at import; off with JAXNET_CACHE=0 (the suite runs so); never over a cache the user
configured; a second process reads it."""

import os
import subprocess
import sys

import jax
import pytest

import jaxnet.cache

_SCRIPT = """
import jax, jaxnet, sys
events = {"hits": 0, "compiles": 0}
jax.monitoring.register_event_listener(
    lambda e, **k: events.__setitem__("hits", events["hits"] + 1) if e == "/jax/compilation_cache/cache_hits" else None
)
jax.monitoring.register_event_duration_secs_listener(
    lambda e, d, **k: events.__setitem__("compiles", events["compiles"] + 1)
    if e == "/jax/core/compile/backend_compile_duration" else None
)
before = jax.config.jax_compilation_cache_dir
jaxnet.init_mlp(0, (2, 3, 1))  # the first call that compiles switches it on, so its programs are cached too
at_init = jax.config.jax_compilation_cache_dir
p, x, y = jaxnet.seed_example()
jaxnet.fit(p, x, y, steps=3, progress=False)
print(before, at_init, events["hits"], events["compiles"])
"""


def _run(env: dict) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.getcwd(), **env}
    out = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.slow
def test_a_second_process_reads_the_cache_the_first_fit_switched_on(tmp_path):
    env = {"JAXNET_CACHE": "1", "JAXNET_CACHE_DIR": str(tmp_path / "xla")}
    before, folder, hits, _ = _run(env)
    assert before == "None" and folder == str(tmp_path / "xla")  # not at import; at the first compiling call
    assert int(hits) == 0 and os.listdir(folder)
    _, _, hits, _ = _run(env)
    assert int(hits) >= 1  # the warm cache was read


@pytest.mark.slow
def test_jaxnet_cache_0_leaves_it_off_and_a_user_cache_is_kept(tmp_path):
    assert _run({"JAXNET_CACHE": "0", "JAXNET_CACHE_DIR": str(tmp_path / "a")})[1] == "None"
    mine = str(tmp_path / "mine")
    env = {"JAXNET_CACHE": "1", "JAXNET_CACHE_DIR": str(tmp_path / "a"), "JAX_COMPILATION_CACHE_DIR": mine}
    assert _run(env)[1] == mine
    assert not (tmp_path / "a").exists()


def test_cache_wanted_reads_the_environment_and_the_users_settings():
    assert not jaxnet.cache.cache_wanted({"JAXNET_CACHE": "0"})
    assert not jaxnet.cache.cache_wanted({"JAXNET_CACHE": " Off "})
    assert jax.config.jax_compilation_cache_dir is None  # the suite's process has none
    was = jax.config.jax_enable_compilation_cache
    try:
        jax.config.update("jax_enable_compilation_cache", True)
        assert jaxnet.cache.cache_wanted({})
        jax.config.update("jax_enable_compilation_cache", False)  # the user turned JAX's cache off
        assert not jaxnet.cache.cache_wanted({})
    finally:
        jax.config.update("jax_enable_compilation_cache", was)

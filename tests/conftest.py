"""Test setup: float64 on, strict dtype promotion and no implicit rank promotion.

Golden values are float64 (the notebook's numpy); strict promotion and
``rank_promotion="raise"`` make a silent upcast or broadcasting bug fail loudly.
Multi-device tests run in subprocesses with ``XLA_FLAGS`` set there.
"""

import contextlib
import os
import socket
import subprocess
import tempfile
import time

# Subprocesses (the CLI, examples, multi-device runs) share the machine with this process: on a GPU,
# JAX would otherwise preallocate 75% of its memory here and leave the subprocesses none.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
# No persistent compilation cache (jaxnet.cache): the compile counts stay honest and runs stay independent.
# tests/test_cache.py turns it on, in subprocesses, to check that a warm cache is used.
os.environ["JAXNET_CACHE"] = "0"

import jax  # noqa: E402
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")
# float32 values are compared at full precision: on GPUs JAX's default float32 matmul is TF32 (~1e-3)
jax.config.update("jax_default_matmul_precision", "highest")

_COMPILES = [0]


def _on_event(event: str, duration: float, **kwargs) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        _COMPILES[0] += 1


jax.monitoring.register_event_duration_secs_listener(_on_event)


def optax_promotion():
    """optax's adam mixes its int32 step count with Python floats: allow that promotion (jaxnet's own stays strict)."""
    return jax.numpy_dtype_promotion("standard")


@pytest.fixture
def standard_promotion():
    """The test runs under optax_promotion (as a user's program does, without strict promotion)."""
    with optax_promotion():
        yield


@pytest.fixture
def count_compiles():
    """Context manager yielding a function that returns the XLA compilations since entry."""

    @contextlib.contextmanager
    def counting():
        start = _COMPILES[0]
        yield lambda: _COMPILES[0] - start

    return counting


def _memory_maps() -> int:
    try:
        with open(f"/proc/{os.getpid()}/maps") as f:
            return sum(1 for _ in f)
    except OSError:  # not Linux: nothing to watch
        return 0


@pytest.fixture(autouse=True)
def _release_compiled_programs():
    """Each compiled XLA:CPU program holds ~3 memory maps; the property tests compile thousands (every new
    shape is a program), and past Linux's vm.max_map_count (65,530) LLVM's next allocation segfaults the
    whole run. Drop JAX's compiled programs once the process holds 20,000 maps."""
    yield
    if _memory_maps() > 20_000:
        jax.clear_caches()


def free_port() -> int:
    """A TCP port free on localhost now (for a jax.distributed coordinator)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_together(commands: list[tuple[list[str], dict]], timeout: float, cwd=None) -> list[tuple[int, str]]:
    """Start every ``(argv, env)`` at once, wait for all within ``timeout`` seconds, and kill all of them as soon
    as one fails or time runs out (a peer of a dead process would wait for it until its own timeout): each one's exit code and
    output (stdout and stderr), in order."""
    with contextlib.ExitStack() as stack:
        logs = [stack.enter_context(tempfile.TemporaryFile("w+")) for _ in commands]
        procs = [
            subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
            for (argv, env), log in zip(commands, logs)
        ]
        deadline = time.monotonic() + timeout
        try:
            while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
                if any(p.returncode not in (None, 0) for p in procs):
                    break
                time.sleep(0.1)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                p.wait()
        for log in logs:
            log.seek(0)
        return [(p.returncode, log.read()) for p, log in zip(procs, logs)]

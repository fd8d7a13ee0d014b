"""Test setup: float64 on, strict dtype promotion and no implicit rank promotion.

Golden values are float64 (the notebook's numpy); strict promotion and
``rank_promotion="raise"`` make a silent upcast or broadcasting bug fail loudly.
Multi-device tests run in subprocesses with ``XLA_FLAGS`` set there.
"""

import contextlib
import os

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

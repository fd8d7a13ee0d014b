"""JAX's persistent compilation cache in a per-user folder: on by default for the CLI and the Python API.

A second process that compiles the same program (same shapes, dtypes and
options) reads the executable from disk instead of running XLA again.

**When it is switched on.** Not at ``import jaxnet``: the first jaxnet call
that may compile (``init_mlp``, ``fit``, ``sweep``, and every function that
checks params, e.g. ``loss``, ``predict``, ``accuracy``) runs
:func:`use_default_cache`, which turns the cache on in
:func:`default_cache_dir` unless

* ``JAXNET_CACHE=0`` (or ``off``, ``false``, ``no``) is set in the
  environment: the documented way to turn it off (the test suite does);
* you configured JAX's cache yourself (``jax_compilation_cache_dir`` or
  ``$JAX_COMPILATION_CACHE_DIR`` is set, or ``jax_enable_compilation_cache``
  is False): jaxnet never overrides that.

The ``jaxnet`` command line does the same with ``--cache-dir`` and
``--no-cache``. The folder is safe to delete at any time.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import jax

__all__ = ["default_cache_dir", "enable_compilation_cache", "use_default_cache", "cache_wanted"]

_OFF = ("0", "off", "false", "no")


def default_cache_dir() -> str:
    """``$JAXNET_CACHE_DIR``, else ``$XDG_CACHE_HOME/jaxnet/xla``, else ``~/.cache/jaxnet/xla``."""
    folder = os.environ.get("JAXNET_CACHE_DIR")
    if folder:
        return folder
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "jaxnet", "xla")


def enable_compilation_cache(folder: str | None = None) -> str:
    """Turn on JAX's persistent compilation cache in ``folder`` (default :func:`default_cache_dir`).

    Every compiled program is cached, however small or quick to compile
    (``jax_persistent_cache_min_compile_time_secs = 0``,
    ``jax_persistent_cache_min_entry_size_bytes = 0``). Returns the folder.
    The folder is safe to delete at any time.

    >>> import tempfile, jaxnet.cache
    >>> folder = jaxnet.cache.enable_compilation_cache(tempfile.mkdtemp())
    """
    from jax.experimental.compilation_cache import compilation_cache

    folder = folder or default_cache_dir()
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    compilation_cache.reset_cache()  # JAX may have opened "no cache" at an earlier compilation: open it again
    return folder


def cache_wanted(environ: Any = None) -> bool:
    """Whether :func:`use_default_cache` would turn the cache on: not ``JAXNET_CACHE=0``, and no cache (or
    ``jax_enable_compilation_cache=False``) configured by the user.

    >>> cache_wanted({"JAXNET_CACHE": "0"})
    False
    """
    environ = os.environ if environ is None else environ
    if environ.get("JAXNET_CACHE", "").strip().lower() in _OFF:
        return False
    config: Any = jax.config
    return bool(config.jax_enable_compilation_cache) and not config.jax_compilation_cache_dir


@functools.cache
def use_default_cache() -> str | None:
    """Once per process (at the first call that may compile): :func:`enable_compilation_cache` if
    :func:`cache_wanted`.

    Returns the folder, or None when the cache was left as it was.
    """
    return enable_compilation_cache() if cache_wanted() else None

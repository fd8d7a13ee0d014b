"""JAX's persistent compilation cache, in a per-user folder, for programs (not libraries) to turn on.

A second process that compiles the same program (same shapes, dtypes and
options) reads the executable from disk instead of running XLA again: the
worked-example walkthrough and the CLI start faster. This sets global JAX
configuration, so jaxnet's functions never call it themselves: the ``jaxnet``
command line and the example scripts do, and your own program may.
"""

from __future__ import annotations

import os

import jax

__all__ = ["default_cache_dir", "enable_compilation_cache"]


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
    folder = folder or default_cache_dir()
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder

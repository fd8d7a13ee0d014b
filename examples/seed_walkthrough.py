"""The worked example through jaxnet's jitted JAX functions, in float64.

Prints every value the notebook prints beside the notebook's own value and the
difference, the three gradient paths side by side, and what the SGD step did
and why. Exits non-zero if any value differs from the notebook by more than 1e-12.

    python examples/seed_walkthrough.py

The persistent compilation cache (``jaxnet.cache``, in ``~/.cache/jaxnet/xla``
or ``$JAXNET_CACHE_DIR``) makes the second run start faster.
"""

import jax

jax.config.update("jax_enable_x64", True)  # the notebook's numbers are float64

from jaxnet.cache import enable_compilation_cache  # noqa: E402
from jaxnet.walkthrough import main  # noqa: E402

if __name__ == "__main__":
    enable_compilation_cache()
    raise SystemExit(main())

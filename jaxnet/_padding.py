"""Row buckets: pad a batch to one of a few sizes, so that neighbouring row counts share a compiled program.

For ``n`` rows the bucket is ``n`` rounded up to a multiple of
``2**(bit_length(n - 1) - 4)`` (8 to 16 sizes per doubling, at most 1/8
padding); the padding rows are zeros of weight 0, which change no loss and no
gradient. Used by ``fit``'s compiled loop, the estimators, the metrics and
the model's parameter-count buckets. ``fit(drop_last=False)`` rounds the bucket
up to a multiple of ``batch_size`` (``pad_rows``' ``multiple``): up to
``batch_size - 1`` rows more, nearly twice the rows when ``batch_size`` is just
under ``n`` (memory only: a step still computes ``batch_size`` rows).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

__all__ = ["bucket", "pad_rows"]


def bucket(n: int) -> int:
    """The padded row count for ``n`` rows: ``n`` rounded up to a multiple of ``2**(bit_length(n - 1) - 4)``.

    8 to 16 sizes per doubling (at most 1/8 padding, none up to 16 rows), so
    the folds of a cross-validation (379 and 380 rows) share one compiled program.

    >>> bucket(379), bucket(380), bucket(455), bucket(16), bucket(17)
    (384, 384, 480, 16, 18)
    """
    step = 1 << max(0, (n - 1).bit_length() - 4)
    return -(-n // step) * step


def pad_rows(data: tuple, dtype: Any, multiple: int = 1) -> tuple[tuple, int]:
    """``((x, y, w), n)``: padded to :func:`bucket` rows, rounded up to a ``multiple``, with zero rows of weight 0,
    ``w`` all ones if None.

    A row of weight 0 has share 0 of the mean loss (:func:`jaxnet._kernels.shares`) and of the
    gradient, and its loss is finite (zero inputs and targets): it changes nothing. Done in numpy
    (a copy on the host), so no program is compiled for a new row count.
    """
    x, y, w = data
    n = x.shape[0]
    w = np.ones((n,), dtype) if w is None else w
    extra = -(-bucket(n) // multiple) * multiple - n
    grow = lambda a: np.concatenate([np.asarray(a), np.zeros((extra,) + a.shape[1:], a.dtype)])  # noqa: E731
    return tuple(jax.device_put(grow(a)) for a in (x, y, w)), n  # device_put compiles nothing

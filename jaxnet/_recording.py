"""``record_every="auto"``: how often ``fit`` and ``sweep`` record the loss. One rule, two budgets.

The rule: record every ``e`` steps, ``e`` the largest divisor of ``steps``
(and of ``eval_every``, so evaluations fall on recorded steps) with about
``points`` recorded losses, ``e <= max(1, steps // points)``
(:func:`spaced_divisor`). What differs is the budget that sets ``points``:

* ``fit`` (:func:`fit_record_every`): **time**. Recording costs a share of a
  tiny step, so long runs of cheap steps keep ~100 points; short runs and
  expensive steps record every step.
* ``sweep`` (:func:`sweep_record_every`): **memory**. One recorded loss costs a
  sweep the same whatever the number of nets ``K``, so ~1,000 points, bounded
  by 256 MiB of losses for all ``K`` nets.

>>> fit_record_every(20_000, None, 1e-6), sweep_record_every(5000, 100, 4)
(200, 5)
"""

from __future__ import annotations

import math

__all__ = ["fit_record_every", "spaced_divisor", "sweep_record_every"]

FIT_POINTS = 100  # fit: at least about this many recorded losses per long run
SWEEP_POINTS = 1000  # sweep: at most this many recorded losses per net
SWEEP_BYTES = 2**28  # ... and at most this many bytes of losses in all


def largest_divisor_at_most(n: int, m: int) -> int:
    """The largest divisor of ``n`` that is at most ``m >= 1``: trial division up to ``sqrt(n)``, each ``d``
    giving the pair ``(d, n // d)`` (at most 46,341 tries for ``n < 2**31``).

    >>> largest_divisor_at_most(2**31 - 1, 21_474_836), largest_divisor_at_most(20_000, 200)
    (1, 200)
    >>> largest_divisor_at_most(10**6, 30)  # m below sqrt(n): pairs with both members over m are skipped
    25
    """
    best = 1
    for d in range(1, math.isqrt(n) + 1):
        if n % d == 0:
            best = max([best] + [v for v in (d, n // d) if v <= m])
    return best


def spaced_divisor(steps: int, points: int, eval_every: int | None = None) -> int:
    """The largest divisor ``e`` of ``gcd(steps, eval_every)`` with ``e <= max(1, steps // points)``.

    >>> spaced_divisor(20_000, 100), spaced_divisor(20_000, 100, 150), spaced_divisor(1009, 100)
    (200, 50, 1)
    """
    return largest_divisor_at_most(math.gcd(steps, eval_every or steps), max(1, steps // points))


def fit_record_every(steps: int, eval_every: int | None, step_seconds: float) -> int:
    """``fit``'s ``record_every="auto"``: 1 for runs of at most 10,000 steps and for steps of 10 us or more
    (there the loss, one ``softplus`` per output, is noise); else :func:`spaced_divisor` with 100 points.

    Why: on a tiny net (the 2-3-1 worked example on a CPU) recording every step is a visible share of the
    step, and a block of ``record_every > 1`` steps adds a fixed cost (an inner loop), so blocks of >= 100
    steps are what keeps the default within its 10% target, while blocks of 10 cost more than recording
    every step. The measured ratios and per-step times are in ``benchmarks/RESULTS.md``, "Ratios measured
    in this run" and section 1, "Worked-example net (2-3-1), SGD steps" (``benchmarks/seed_steps.py``).
    ``step_seconds`` is a pessimistic estimate of one step's time.

    >>> fit_record_every(500, None, 1e-6), fit_record_every(20_000, None, 1e-6), fit_record_every(20_000, 150, 1e-6)
    (1, 200, 50)
    >>> fit_record_every(10**6, None, 1e-3)  # a big network: every loss is cheap next to the step
    1
    """
    if steps <= 10_000 or step_seconds >= 1e-5:
        return 1
    return spaced_divisor(steps, FIT_POINTS, eval_every)


def sweep_record_every(steps: int, k: int, itemsize: int) -> int:
    """``sweep``'s ``record_every="auto"`` for ``k`` nets: about 1,000 losses per net, 256 MiB in all at most.

    With ``points = min(1000, 256 MiB / (k * itemsize))`` (at least 1): :func:`spaced_divisor`; if that
    would keep more than 256 MiB of losses (a ``steps`` with few divisors, e.g. a prime, and a large
    ``k``), the smallest divisor ``d`` of ``steps`` with ``steps // d <= points`` instead (the
    complement of the largest divisor at most ``steps // ceil(steps / points)``).

    >>> sweep_record_every(5000, 100, 4), sweep_record_every(500, 100, 4), sweep_record_every(5000, 10**6, 4)
    (5, 1, 100)
    >>> sweep_record_every(1009, 10, 8), sweep_record_every(1009, 10**5, 8)  # a prime: every step, or only the first
    (1, 1009)
    """
    points = max(1, min(SWEEP_POINTS, SWEEP_BYTES // (k * itemsize)))
    every = spaced_divisor(steps, points)
    if k * (steps // every) * itemsize > SWEEP_BYTES:
        every = steps // largest_divisor_at_most(steps, steps // -(-steps // points))
    return every

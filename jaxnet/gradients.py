"""Three independent ways to the same gradient of :func:`jaxnet.loss`.

1. :func:`grads` — reverse-mode autodiff, ``jax.jit(jax.grad(loss))``.
2. :func:`manual_grads` — the hand-derived backward pass (the delta recursion).
3. :func:`numerical_grads` — central finite differences of the loss alone.

:func:`check_grads` compares the three and says how far apart they are.

The hand derivation, for any activation ``f`` and head ``g`` of the table in
:mod:`jaxnet.network`, with ``r_n`` each example's share of the mean
(``1 / N`` for one unweighted output)::

    delta_L = r (g(z_L) - y)                         dL/dz_L   (every canonical head)
    dL/dW_l = sum_n delta_l a_{l-1}^T                (outer product per example)
    dL/db_l = sum_n delta_l
    delta_{l-1} = (W_l^T delta_l) * f'(z_{l-1})      dL/dz_{l-1}

The code is :func:`jaxnet._kernels.backward`, one line per equation (the sweep runs it too).

For the worked example (one example, ``r = 1``) this is the notebook line by
line: ``dL/dz2 = y_hat - y``, ``dL/dW2 = dL/dz2 a1``, ``dL/da1 = W2^T dL/dz2``,
``dL/dz1 = dL/da1 * relu'(z1)``, ``dL/dW1 = dL/dz1 x^T``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import jax
import numpy as np

from jaxnet import _kernels as kernels
from jaxnet._checks import count, finite, number, refuse
from jaxnet._validate import call_checked, check_params, prepare, resolve_spec, with_value_checks
from jaxnet.losses import loss
from jaxnet.network import ActivationName, HeadName
from jaxnet.spec import Model, Params

__all__ = ["grads", "manual_grads", "numerical_grads", "check_grads", "NumericalPrecisionWarning"]

_STATIC = ("activation", "head")
_grads_checked = with_value_checks(jax.grad(kernels.loss))
_manual_checked = with_value_checks(kernels.manual_grads)


def _numerical_and_loss(params: Params, x: Any, y: Any, w: Any, eps: Any, activation: str, head: str) -> tuple:
    """The central differences and the loss at ``params``: one program for :func:`numerical_grads`."""
    return kernels.numerical_grads(params, x, y, w, eps, activation, head), kernels.loss(
        params, x, y, w, activation, head
    )


_numerical_jit = jax.jit(_numerical_and_loss, static_argnames=_STATIC)  # eps traced: no compile per eps


class NumericalPrecisionWarning(RuntimeWarning):
    """Central differences whose error bound is large next to the gradient they estimate."""


def grads(
    params: Params | Model,
    x: Any,
    y: Any,
    sample_weight: Any = None,
    *,
    activation: ActivationName | None = None,
    head: HeadName | None = None,
) -> Params:
    """Gradient of :func:`jaxnet.loss` by autodiff: ``jax.jit(jax.grad(loss))``.

    Same arguments as :func:`jaxnet.loss`; returns a dict shaped like ``params``
    (the params dict, also when given a :class:`~jaxnet.Model`). For a small
    problem on the host's data, numpy evaluates the program ``jax.grad`` traced
    instead of compiling it (the same operations, rounded as numpy rounds:
    :mod:`jaxnet._host_eval`), as for every function of this kind.

    >>> import jaxnet
    >>> params, x, y = jaxnet.seed_example()
    >>> round(float(jaxnet.grads(params, x, y)["b2"][0]), 6)
    -0.481758
    """
    params, spec = resolve_spec(params, activation, head)
    return call_checked(_grads_checked, params, x, y, sample_weight, activation=spec.activation, head=spec.head)


def manual_grads(
    params: Params | Model,
    x: Any,
    y: Any,
    sample_weight: Any = None,
    *,
    activation: ActivationName | None = None,
    head: HeadName | None = None,
) -> Params:
    """Gradient of :func:`jaxnet.loss` by the hand-derived backward pass.

    The delta recursion of the module docstring, for any depth, activation and
    head; for a batch the (weighted) mean over examples, as :func:`jaxnet.loss`
    defines it. Jittable and loop-free over examples. Same arguments and result
    as :func:`grads`.

    >>> import jaxnet
    >>> params, x, y = jaxnet.seed_example()
    >>> g = jaxnet.manual_grads(params, x, y)
    >>> [round(float(v), 6) for v in g["W2"][0]]
    [-0.0, -0.038541, -0.004818]
    """
    params, spec = resolve_spec(params, activation, head)
    return call_checked(_manual_checked, params, x, y, sample_weight, activation=spec.activation, head=spec.head)


def numerical_grads(
    params: Params | Model,
    x: Any,
    y: Any,
    eps: float | None = None,
    *,
    sample_weight: Any = None,
    activation: ActivationName | None = None,
    head: HeadName | None = None,
) -> Params:
    """Gradient of :func:`jaxnet.loss` by central finite differences.

    ``dL/dtheta_i ~ (L(theta + eps e_i) - L(theta - eps e_i)) / (2 eps)``, all
    ``i`` at once with ``jax.vmap``; it uses the loss only, never a derivative.

    The error is ``O(eps^2)`` truncation plus ``~ machine_eps |L| / eps``
    rounding. The default ``eps`` balances the two for the params' dtype:
    ``cbrt(machine_eps) * max(1, max|theta|)``, about 6e-6 in float64 (estimates
    good to ~1e-10) and 5e-3 in float32 (~1e-4). Whatever ``eps``, a
    :class:`NumericalPrecisionWarning` is issued when that error bound exceeds
    a tenth of the largest gradient entry: the estimate is then too coarse to
    check anything (float32 with ``eps=1e-6``, say). Not valid where a ReLU
    input is within ``eps`` of its kink at 0. ``eps`` is the fourth argument;
    ``sample_weight`` is keyword-only here.

    >>> import jax, jaxnet
    >>> with jax.enable_x64(True):
    ...     params, x, y = jaxnet.seed_example()
    ...     print(round(float(jaxnet.numerical_grads(params, x, y)["b2"][0]), 6))
    -0.481758
    """
    params, spec = resolve_spec(params, activation, head)
    activation, head = spec.activation, spec.head
    params, x, y, w = prepare(params, x, y, sample_weight, activation=activation, head=head)
    dtype = np.dtype(params["W1"].dtype)
    machine = float(np.finfo(dtype).eps)
    scale = _scale(params)
    eps = _check_eps(eps, params)
    with np.errstate(over="ignore"):  # an eps beyond the dtype becomes inf, refused just below
        step = np.asarray(eps, dtype)  # the step as it is used: in the params' dtype
    if not (np.isfinite(step) and step > 0 and np.asarray(scale, dtype) + step != np.asarray(scale, dtype)):
        raise ValueError(
            f"eps: expected a step that moves every parameter in {dtype.name} (|theta| up to {scale:.3g}), got {eps!r}"
        )
    g, at = _numerical_jit(params, x, y, w, jax.device_put(step), activation=activation, head=head)
    value = abs(float(at))  # host work in numpy below: a jnp op per leaf would compile a program each
    largest = max(float(np.max(np.abs(np.asarray(v)))) for v in g.values())
    if not np.isfinite(largest):
        raise ValueError(
            f"eps: the central differences with eps={eps:g} are not finite (the loss overflowed at theta +- eps)"
        )
    bound = machine * max(value, machine) / eps + eps * eps
    if not bound <= 0.1 * largest:
        warnings.warn(
            f"numerical_grads: in {dtype.name} with eps={eps:g} the estimate's error bound {bound:.1e} exceeds a "
            f"tenth of the largest gradient entry {largest:.1e}; use float64 or the default eps",
            NumericalPrecisionWarning,
            stacklevel=2,
        )
    return g


def check_grads(
    params: Params | Model,
    x: Any,
    y: Any,
    sample_weight: Any = None,
    *,
    activation: ActivationName | None = None,
    head: HeadName | None = None,
    directions: int | None = None,
    eps: float | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The three gradients of :func:`jaxnet.loss` compared: how far manual and numerical are from autodiff.

    With ``g`` = :func:`grads`, ``scale = max(1, max|g|)`` and ``|.|`` the largest entry::

        manual    = |g - manual_grads| / scale
        numerical = |g - numerical_grads| / scale           (directions=None)
        numerical = max_v |(L(t + e v) - L(t - e v)) / 2e
                           - g . v| / scale                 (directions=k)

    ``directions=None`` differences every parameter (:func:`numerical_grads`, its
    ``eps`` and warning); ``directions=k`` uses ``k`` random unit directions ``v``
    drawn from ``seed`` (as ``jax.test_util.check_vjp`` does): two losses per
    direction, for nets too big to difference entry by entry. Both numbers are
    ~0 (float64: ~1e-10; float32: ~1e-4) on a correct gradient away from ReLU
    kinks. Returns ``{"manual": float, "numerical": float, "how": str}``.

    >>> import jax, jaxnet
    >>> with jax.enable_x64(True):
    ...     params, x, y = jaxnet.seed_example()
    ...     r = jaxnet.check_grads(params, x, y)
    >>> r["manual"] < 1e-12, r["numerical"] < 1e-8, r["how"]
    (True, True, 'central differences')
    """
    net, spec = resolve_spec(params, activation, head)
    directions, seed = _check_directions(directions), _check_seed(seed)
    kw: dict[str, Any] = {"activation": spec.activation, "head": spec.head}
    g = {k: np.asarray(v) for k, v in grads(net, x, y, sample_weight, **kw).items()}
    g_manual = manual_grads(net, x, y, sample_weight, **kw)
    scale = max(1.0, max(float(np.max(np.abs(v))) for v in g.values()))
    if directions is None:
        d_num, how = _max_abs_diff(g, numerical_grads(net, x, y, eps, sample_weight=sample_weight, **kw)), ""
    else:
        d_num = _directional(net, (x, y, sample_weight), g, kw, directions, eps, seed)
        how = f" along {directions} random directions"
    return {
        "manual": _max_abs_diff(g, g_manual) / scale,
        "numerical": d_num / scale,
        "how": "central differences" + how,
    }


def _max_abs_diff(a: dict[str, Any], b: dict[str, Any]) -> float:
    return max(float(np.max(np.abs(np.asarray(a[k]) - np.asarray(b[k])))) for k in a)


def _directional(
    params: Params, batch: tuple, g: dict[str, Any], kw: dict[str, Any], k: int, eps: float | None, seed: int
) -> float:
    """The largest ``|(L(t + e v) - L(t - e v)) / 2e - g . v|`` over ``k`` random unit directions ``v``."""
    rng = np.random.default_rng(seed)
    theta = {name: np.asarray(v) for name, v in params.items()}
    dtype = np.dtype(theta["W1"].dtype)
    eps = _check_eps(eps, theta)
    worst = 0.0
    for _ in range(k):
        v = {name: rng.normal(size=p.shape) for name, p in theta.items()}
        norm = math.sqrt(sum(float(np.sum(a * a)) for a in v.values()))
        up, down = (
            {n: jax.device_put((theta[n] + s * eps * v[n] / norm).astype(dtype)) for n in theta} for s in (1, -1)
        )
        slope = (float(loss(up, *batch, **kw)) - float(loss(down, *batch, **kw))) / (2 * eps)
        worst = max(worst, abs(slope - sum(float(np.sum(g[n] * v[n])) for n in theta) / norm))
    return worst


_MAX_DIRECTIONS = 10_000  # two losses a direction: 2**70 would run for ever, not fail


def default_eps(params: Params) -> float:
    """The central-difference step :func:`numerical_grads` and :func:`check_grads` take by default.

    ``eps = cbrt(machine_eps) * max(1, max|theta|)``: the truncation error of
    a central difference grows as ``eps**2`` and the rounding error as
    ``machine_eps / eps``; their sum is smallest near ``cbrt(machine_eps)``,
    scaled to the largest parameter. About 6.1e-6 for the worked example in
    float64 (``machine_eps = 2.2e-16``, ``max|theta| = 0.5``).

    >>> import jax, jaxnet
    >>> with jax.enable_x64(True):
    ...     print(f"{default_eps(jaxnet.seed_example()[0]):.2e}")
    6.06e-06
    """
    check_params(params)  # keys, shapes, float dtypes: a TypeError/ValueError naming params
    for name, v in params.items():
        finite(f"params['{name}']", np.asarray(v))
    return float(np.finfo(np.dtype(params["W1"].dtype)).eps) ** (1 / 3) * _scale(params)


def _scale(params: Params) -> float:
    """``max(1, max|theta|)``: the size of a parameter that a step must move."""
    return max(1.0, max(float(np.max(np.abs(np.asarray(v)))) for v in params.values()))


def _check_directions(directions: Any) -> int | None:
    """``None`` (every parameter) or a count of random directions, at most ``_MAX_DIRECTIONS``."""
    return None if directions is None else count("directions", directions, high=_MAX_DIRECTIONS)


def _check_seed(seed: Any) -> int:
    return count("seed", seed, low=0, high=None)


def _check_eps(eps: Any, params: Params) -> float:
    """``eps`` as a positive finite step; ``None`` is :func:`default_eps` of ``params``."""
    if eps is None:
        return default_eps(params)
    if getattr(eps, "shape", ()) != ():  # numerical_grads(params, x, y, w): weights passed where eps goes
        shape = f"an array of shape {tuple(eps.shape)}; pass sample weights as sample_weight="
        raise refuse("eps", "a positive finite step (a float)", shape, TypeError)
    return number("eps", eps, low=0.0, low_open=True)

"""Input checks at the Python boundary, before anything is traced or compiled.

Every public entry point calls :func:`prepare` (or :func:`validate`) once per
call. The checks are cheap: shapes and dtypes are static facts, and the value
checks (NaN/inf, labels in [0, 1], weights >= 0) run on concrete arrays only.
Under ``jax.jit``/``jax.grad`` the arguments are tracers, so the value checks
are skipped and only the static ones run; nothing here ever enters compiled
code.

Errors are ``TypeError`` for the wrong kind of thing (not a dict, integer
weights, strings) and ``ValueError`` for the wrong shape or value. Every
message names the argument, what was received and what was expected.
"""

from __future__ import annotations

import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Params = dict[str, jax.Array]

_KEY = re.compile(r"^([Wb])([1-9][0-9]*)$")


def _is_concrete(a: Any) -> bool:
    return not isinstance(a, jax.core.Tracer)


def _as_array(name: str, value: Any) -> Any:
    """Return ``value`` as something with ``.shape``/``.dtype`` or raise TypeError."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return value
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as err:  # ragged nested lists
        raise TypeError(f"{name}: expected a numeric array, got {type(value).__name__} ({err})") from None
    return arr


def _check_numeric(name: str, a: Any, *, allow_bool: bool = False) -> None:
    kind = np.dtype(a.dtype).kind
    ok = kind in "fiu" or (allow_bool and kind == "b")
    if not ok:
        raise TypeError(f"{name}: expected a real numeric array, got dtype {a.dtype}")


def _check_finite(name: str, a: Any) -> None:
    if _is_concrete(a) and not np.isfinite(np.asarray(a)).all():
        bad = int(np.size(a) - np.isfinite(np.asarray(a)).sum())
        raise ValueError(f"{name}: expected finite values, got {bad} NaN/inf entr{'y' if bad == 1 else 'ies'}")


def check_params(params: Any) -> tuple[int, ...]:
    """Check a parameter dict and return its layer sizes ``(in, h1, ..., out)``.

    Raises TypeError/ValueError naming the offending key.
    """
    if not isinstance(params, dict):
        raise TypeError(f"params: expected a dict {{'W1', 'b1', ..., 'WL', 'bL'}}, got {type(params).__name__}")
    if not params:
        raise ValueError("params: expected at least one layer ('W1', 'b1'), got an empty dict")
    layers: dict[int, set[str]] = {}
    for key in params:
        m = _KEY.match(key) if isinstance(key, str) else None
        if m is None:
            raise ValueError(f"params: unexpected key {key!r}; expected keys 'W1', 'b1', ..., 'WL', 'bL'")
        layers.setdefault(int(m.group(2)), set()).add(m.group(1))
    depth = max(layers)
    expected = {f"{p}{l}" for l in range(1, depth + 1) for p in "Wb"}
    missing = sorted(expected - set(params), key=lambda k: (int(k[1:]), k[0]))
    if missing:
        raise ValueError(
            f"params: missing key(s) {missing}; layers must be numbered 1..L without gaps "
            f"(got keys {sorted(params)})"
        )
    dtypes = set()
    sizes: list[int] = []
    for l in range(1, depth + 1):
        w = _as_array(f"params['W{l}']", params[f"W{l}"])
        b = _as_array(f"params['b{l}']", params[f"b{l}"])
        for name, a in ((f"W{l}", w), (f"b{l}", b)):
            if not jnp.issubdtype(a.dtype, jnp.floating):
                raise TypeError(f"params['{name}']: expected a real floating dtype, got {a.dtype}")
            dtypes.add(np.dtype(a.dtype))
        if len(w.shape) != 2:
            raise ValueError(f"params['W{l}']: expected a 2-D (out, in) array, got shape {tuple(w.shape)}")
        if len(b.shape) != 1 or b.shape[0] != w.shape[0]:
            raise ValueError(
                f"params['b{l}']: expected shape ({w.shape[0]},) to match W{l} {tuple(w.shape)}, got {tuple(b.shape)}"
            )
        if l == 1:
            sizes.append(int(w.shape[1]))
        elif w.shape[1] != sizes[-1]:
            raise ValueError(
                f"params['W{l}']: expected {sizes[-1]} input columns (W{l - 1} has {sizes[-1]} outputs), "
                f"got shape {tuple(w.shape)}"
            )
        sizes.append(int(w.shape[0]))
    if len(dtypes) > 1:
        raise TypeError(f"params: expected one dtype for every array, got mixed {sorted(str(d) for d in dtypes)}")
    for key, value in params.items():
        _check_finite(f"params['{key}']", value)
    return tuple(sizes)


def _convert(a: Any, dtype: Any, shape: tuple[int, ...]) -> jax.Array:
    """``a`` as a jax array of ``dtype`` and ``shape``, dispatching no JAX op when it can.

    A jax array of the right dtype is returned as it is, even where its shape
    is the other accepted one (``(...)`` for ``(..., 1)``): the compiled
    functions reshape it for free, an eager reshape costs a dispatch.
    """
    if not _is_concrete(a):
        return jnp.reshape(jnp.asarray(a).astype(dtype), shape)
    if isinstance(a, jax.Array) and a.dtype == dtype and a.size == int(np.prod(shape)):
        return a
    return jnp.asarray(np.asarray(a, dtype).reshape(shape))  # one host-to-device copy


def params_dtype(params: Params) -> np.dtype:
    return np.dtype(params["W1"].dtype)


def prepare(params: Any, x: Any = None, y: Any = None, sample_weight: Any = None):
    """Validate and canonicalise ``(params, x, y, sample_weight)``.

    Returns ``(params, x, y, sample_weight)`` as jax arrays of the params'
    dtype. ``y`` has the output's shape ``(..., n_out)``, or, for one output
    unit, possibly ``(...)``: compiled code reshapes it (``jnp.reshape`` to the
    logits' shape). ``None`` stays ``None``.
    """
    sizes = check_params(params)
    params = {k: v if isinstance(v, jax.Array) else jnp.asarray(v) for k, v in params.items()}
    dtype = params_dtype(params)
    n_in, n_out = sizes[0], sizes[-1]
    batch_shape: tuple[int, ...] | None = None
    if x is not None:
        x = _as_array("x", x)
        _check_numeric("x", x)
        if len(x.shape) not in (1, 2) or x.shape[-1] != n_in:
            raise ValueError(
                f"x: expected shape ({n_in},) or (N, {n_in}) for a network with {n_in} inputs, got {tuple(x.shape)}"
            )
        if len(x.shape) == 2 and x.shape[0] == 0:
            raise ValueError(f"x: expected at least one example, got shape {tuple(x.shape)}")
        _check_finite("x", x)
        x = _convert(x, dtype, tuple(x.shape))
        batch_shape = tuple(x.shape[:-1])
    if y is not None:
        if batch_shape is None:
            raise ValueError("y: given without x")
        y = _as_array("y", y)
        _check_numeric("y", y, allow_bool=True)
        out_shape = batch_shape + (n_out,)
        accepted = [out_shape] + ([batch_shape] if n_out == 1 else [])
        if tuple(y.shape) not in accepted:
            raise ValueError(
                f"y: expected shape {' or '.join(str(s) for s in accepted)} to match x {batch_shape + (n_in,)} "
                f"and {n_out} output(s), got {tuple(y.shape)}"
            )
        if _is_concrete(y):
            yv = np.asarray(y, dtype=np.float64)
            if np.isnan(yv).any():
                raise ValueError("y: expected labels in [0, 1], got NaN")
            if ((yv < 0) | (yv > 1)).any():
                raise ValueError(f"y: expected labels in [0, 1], got values in [{yv.min()}, {yv.max()}]")
        y = _convert(y, dtype, out_shape)
    if sample_weight is not None:
        if batch_shape is None:
            raise ValueError("sample_weight: given without x")
        w = _as_array("sample_weight", sample_weight)
        _check_numeric("sample_weight", w, allow_bool=True)
        if tuple(w.shape) != batch_shape:
            raise ValueError(f"sample_weight: expected shape {batch_shape} (one weight per example), got {tuple(w.shape)}")
        if _is_concrete(w):
            wv = np.asarray(w, dtype=np.float64)
            if not np.isfinite(wv).all():
                raise ValueError("sample_weight: expected finite weights, got NaN/inf")
            if (wv < 0).any():
                raise ValueError(f"sample_weight: expected weights >= 0, got minimum {wv.min()}")
            if not (wv > 0).any():
                raise ValueError("sample_weight: expected at least one positive weight, got all zero")
        sample_weight = _convert(w, dtype, batch_shape)
    return params, x, y, sample_weight


def validate(params: Any, x: Any = None, y: Any = None, sample_weight: Any = None) -> None:
    """Check a network and its data; raise a clear error if anything is wrong.

    This is the check every public jaxnet function runs at the Python
    boundary. Call it yourself once before a hand-written loop around
    :func:`jaxnet.make_train_step`, whose jitted step does not check.

    **Raises:** ``TypeError`` (wrong kind: not a dict, integer/complex/mixed
    dtypes, non-numeric data) or ``ValueError`` (wrong keys, shapes that do not
    chain, NaN/inf, labels outside [0, 1], negative or all-zero weights).

    >>> import jaxnet
    >>> params, x, y = jaxnet.seed_example()
    >>> jaxnet.validate(params, x, y)
    >>> jaxnet.validate(params, [1.0, 2.0, 3.0])
    Traceback (most recent call last):
    ...
    ValueError: x: expected shape (2,) or (N, 2) for a network with 2 inputs, got (3,)
    """
    prepare(params, x, y, sample_weight)


def check_sizes(sizes: Any) -> tuple[int, ...]:
    """Check the ``sizes`` argument of :func:`jaxnet.init_mlp`."""
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise TypeError(f"sizes: expected a sequence of layer widths like (2, 3, 1), got {sizes!r}") from None
    if len(sizes) < 2:
        raise ValueError(f"sizes: expected at least 2 entries (inputs, outputs), got {sizes!r}")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"sizes: expected integer widths, got {s!r} in {sizes!r}")
        if s <= 0:
            raise ValueError(f"sizes: expected positive widths, got {s!r} in {sizes!r}")
    return tuple(int(s) for s in sizes)

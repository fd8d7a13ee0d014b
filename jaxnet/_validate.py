"""Input checks at the Python boundary, before anything is traced or compiled.

Every public entry point calls :func:`prepare` once per call. It has two parts:

* **static checks** on the host, from shapes and dtypes alone (keys, shapes
  that chain, dtypes, label shapes per head, the ``activation``/``head``
  names); they run at every call and cost microseconds;
* **value checks** (NaN/inf, label ranges, weights) *after* each argument is
  cast to the parameters' dtype, so a value that overflows that dtype is
  refused too. Data the CPU holds (numpy, or jax arrays on the CPU) is
  checked with numpy: exact, and no program is compiled per row count. Data
  on an accelerator is checked there, by one jitted reduction that returns
  one flag per argument. Only when a flag fails is the detailed message
  computed, on the host.

Under ``jax.jit``/``jax.grad`` the arguments are tracers with no values, so
only the static checks run; nothing here ever enters compiled code.

Errors are ``TypeError`` for the wrong kind of thing and ``ValueError`` for
the wrong shape or value. Every message names the argument, what was
received and what was expected.
"""

from __future__ import annotations

import operator
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import _kernels as kernels
from jaxnet._kernels import all_finite
from jaxnet.cache import use_default_cache
from jaxnet.network import HEADS, activation_named, head_named, layer_count, param_keys
from jaxnet.spec import Model, Spec

Params = dict[str, jax.Array]

_ABSENT: Any = object()  # an argument that is not part of this call (distinct from an explicit None)
INT32_MAX = 2**31 - 1
ROW_SUM_TOLERANCE = 1e-6  # per class: rows normalised in float32 pass with float64 parameters too


def _is_concrete(a: Any) -> bool:
    return not isinstance(a, jax.core.Tracer)


def as_array(name: str, value: Any) -> Any:
    """Return ``value`` as something with ``.shape``/``.dtype`` or raise TypeError."""
    if value is None:
        raise TypeError(f"{name}: expected a numeric array, got None")
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return value
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError, OverflowError) as err:  # ragged nested lists, huge ints
        raise TypeError(f"{name}: expected a numeric array, got {type(value).__name__} ({err})") from None
    return arr


def check_numeric(name: str, a: Any, *, allow_bool: bool = False) -> None:
    kind = np.dtype(a.dtype).kind
    if not (kind in "fiu" or (allow_bool and kind == "b")):
        raise TypeError(f"{name}: expected a real numeric array, got dtype {a.dtype}")


def positive_int(name: str, value: Any, maximum: int = INT32_MAX) -> int:
    """``value`` as an int in ``[1, maximum]``, or a ValueError/TypeError naming ``name``.

    The one checker of counts (steps, chunk, batch_size, record_every, ...),
    shared by ``fit``, ``sweep`` and the CLI.

    >>> positive_int("steps", 10)
    10
    >>> positive_int("steps", True)
    Traceback (most recent call last):
    ...
    TypeError: steps: expected a positive integer, got True (bool)
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected a positive integer, got {value!r} ({type(value).__name__})")
    if not 1 <= value <= maximum:
        raise ValueError(f"{name}: expected a positive integer at most {maximum}, got {value}")
    return int(value)


def as_key(key: Any, name: str = "key") -> jax.Array:
    """A ``jax.random`` key from a key or an int seed; anything else is refused with the fix.

    An int seed uses all of its bits (:func:`seed_key`).

    >>> as_key(0).shape
    ()
    """
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        if not 0 <= key < 2**63:
            raise ValueError(f"{name}: expected an int seed in [0, 2**63) or a jax.random.key, got {key}")
        return seed_key(int(key))
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ():
        return key
    if isinstance(key, jax.Array) and key.dtype == jnp.uint32 and key.shape == (2,):  # legacy PRNGKey
        return jax.random.wrap_key_data(key)
    raise TypeError(f"{name}: expected a jax.random key such as jax.random.key(0), or an int seed, got {key!r}")


def seed_key(seed: int) -> jax.Array:
    """The ``jax.random`` key of an int seed in ``[0, 2**63)``, from every bit of it.

    ``jax.random.key(seed)`` keeps only the low 32 bits unless x64 is on, so
    ``2**32`` and ``0`` gave the same key. Seeds below ``2**32`` give exactly
    ``jax.random.key(seed)``. Larger ones give the key of the two 32-bit words
    ``(seed >> 32, seed & 0xFFFFFFFF)``: for the default ``threefry2x32`` that
    is what ``jax.random.key(seed)`` gives with x64 on (whatever the x64
    setting here); for other implementations the high word is folded in with
    ``jax.random.fold_in``.

    >>> import jax
    >>> bool((jax.random.key_data(seed_key(2**32)) != jax.random.key_data(seed_key(0))).any())
    True
    """
    high, low = seed >> 32, seed & 0xFFFFFFFF
    if high == 0:
        return jax.random.key(seed)
    base = jax.random.key(low)
    if jax.random.key_impl(base) == "threefry2x32":
        return jax.random.wrap_key_data(jnp.asarray(np.array([high, low], np.uint32)))
    return jax.random.fold_in(base, high)  # pragma: no cover - other PRNG implementations


def check_params(params: Any, name: str = "params") -> tuple[int, ...]:
    """Static checks of a parameter dict; returns its layer sizes ``(in, h1, ..., out)``.

    Keys come from the one parser (:func:`jaxnet.network.layer_count`); values
    are checked by :func:`check_values`.
    """
    if not isinstance(params, dict):
        raise TypeError(f"{name}: expected a dict {{'W1', 'b1', ..., 'WL', 'bL'}}, got {type(params).__name__}")
    try:  # the checks depend on keys, shapes and dtypes alone: remember the layouts that passed
        signature: Any = (name, tuple((k, v.shape, v.dtype) for k, v in params.items()))
        sizes = _PASSED.get(signature)
    except (AttributeError, TypeError):  # lists, or unhashable oddities: check in full
        signature = sizes = None
    if sizes is not None:
        return sizes
    sizes = _check_layout(params, name)
    if signature is not None and len(_PASSED) < 1024:
        _PASSED[signature] = sizes
    return sizes


_PASSED: dict[Any, tuple[int, ...]] = {}  # (name, ((key, shape, dtype), ...)) -> sizes, for layouts that passed


def resolve_spec(params: Any, activation: Any, head: Any, *, need_head: bool = False) -> tuple[Any, Spec]:
    """``(params dict, Spec)`` for a call given ``params`` (a dict or a :class:`~jaxnet.Model`) and its
    ``activation=``/``head=`` arguments (``None``: not given).

    A Model brings its spec; an argument that differs from it is refused, naming
    the argument. A dict takes the arguments, ``"relu"``/``"sigmoid"`` where not
    given; with ``need_head`` (calls that decide: predict, accuracy, save) a dict
    of several outputs must name its head, since sigmoid (multi-label) and
    softmax (classes) decide differently.
    """
    if isinstance(params, Model):
        return params.params, merge_spec(params.spec, activation, head)
    spec = merge_spec(None, activation, head)
    n_out = check_params(params)[-1] if need_head and head is None else 1
    if n_out > 1:
        raise ValueError(
            f"head: the network has {n_out} outputs and no head was given, so the decision is ambiguous; "
            f"pass head= (one of {sorted(HEADS)}) or a jaxnet.Model, which knows its head"
        )
    return params, spec


def merge_spec(built: Spec | None, activation: Any, head: Any) -> Spec:
    """``built`` (a model's spec) checked against the ``activation=``/``head=`` arguments (``None``: not
    given); without one, the arguments with ``"relu"``/``"sigmoid"`` where not given."""
    if activation is not None:
        activation_named(activation)
    if head is not None:
        head_named(head)
    if built is None:
        return Spec(activation or "relu", head or "sigmoid")
    for name, value in (("activation", activation), ("head", head)):
        if value is not None and value != getattr(built, name):
            raise ValueError(f"{name}: the model was built with {getattr(built, name)!r}, got {value!r}")
    return built


def _check_layout(params: dict, name: str) -> tuple[int, ...]:
    depth = layer_count(params, name)
    dtypes = set()
    sizes: list[int] = []
    for l in range(1, depth + 1):
        w = as_array(f"{name}['W{l}']", params[f"W{l}"])
        b = as_array(f"{name}['b{l}']", params[f"b{l}"])
        for key, a in ((f"W{l}", w), (f"b{l}", b)):
            if not jnp.issubdtype(a.dtype, jnp.floating):
                raise TypeError(f"{name}['{key}']: expected a real floating dtype, got {a.dtype}")
            dtypes.add(np.dtype(a.dtype))
        if len(w.shape) != 2 or 0 in w.shape:
            raise ValueError(f"{name}['W{l}']: expected a non-empty 2-D (out, in) array, got shape {tuple(w.shape)}")
        if len(b.shape) != 1 or b.shape[0] != w.shape[0]:
            raise ValueError(
                f"{name}['b{l}']: expected shape ({w.shape[0]},) to match W{l} {tuple(w.shape)}, got {tuple(b.shape)}"
            )
        if l > 1 and w.shape[1] != sizes[-1]:
            raise ValueError(
                f"{name}['W{l}']: expected {sizes[-1]} input columns (W{l - 1} has {sizes[-1]} outputs), "
                f"got shape {tuple(w.shape)}"
            )
        sizes += [int(w.shape[1])] if l == 1 else []
        sizes.append(int(w.shape[0]))
    if len(dtypes) > 1:
        raise TypeError(f"{name}: expected one dtype for every array, got mixed {sorted(str(d) for d in dtypes)}")
    return tuple(sizes)


def to_device(a: Any) -> jax.Array:
    """A jax array of host data ``a`` by ``jax.device_put``, which compiles nothing (``jnp.asarray`` of a
    numpy array compiles a ``stage`` program per shape)."""
    return jax.device_put(np.asarray(a))


def _convert(a: Any, dtype: Any, shape: tuple[int, ...]) -> jax.Array:
    """``a`` as a jax array of ``dtype`` and ``shape`` (overflow becomes inf, refused by the value check)."""
    if not _is_concrete(a):
        return jnp.reshape(jnp.asarray(a).astype(dtype), shape)
    if isinstance(a, jax.Array):
        if a.dtype == dtype and a.size == int(np.prod(shape)):
            return a  # compiled code reshapes for free, an eager reshape costs a dispatch
        return jnp.reshape(a.astype(dtype), shape)
    with np.errstate(over="ignore", invalid="ignore"):
        return to_device(np.asarray(a).astype(dtype).reshape(shape))  # one host-to-device copy


def _one_hot(y: Any, classes: int, dtype: Any, name: str) -> jax.Array:
    """Integer class labels (any shape) as one-hot rows; refuses non-integers and classes out of range."""
    v = np.asarray(y)
    if v.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            if not np.all(np.isfinite(v) & (v == np.round(v))):
                raise ValueError(f"{name}: expected integer class labels 0..{classes - 1}, got non-integer values")
    if v.dtype.kind == "b":
        raise TypeError(f"{name}: expected integer class labels 0..{classes - 1}, got booleans")
    if v.size and (v.min() < 0 or v.max() >= classes):
        raise ValueError(
            f"{name}: expected class labels in 0..{classes - 1} (the network has {classes} outputs), "
            f"got values in [{v.min():g}, {v.max():g}]"
        )
    return to_device(np.eye(classes, dtype=dtype)[v.astype(np.int64)])


def _canonical_y(
    y: Any, batch_shape: tuple[int, ...], sizes: tuple[int, ...], head: str, dtype: Any, name: str
) -> jax.Array:
    """Labels in the output's shape ``batch + (n_out,)`` (one-hot for class labels)."""
    n_in, n_out = sizes[0], sizes[-1]
    classes = HEADS[head].labels == "classes"  # integer class labels (N,) are accepted too
    y = as_array(name, y)
    check_numeric(name, y, allow_bool=not classes)
    out_shape = batch_shape + (n_out,)
    if classes and tuple(y.shape) == batch_shape:
        if not _is_concrete(y):
            return jax.nn.one_hot(y, n_out, dtype=dtype)
        return _one_hot(y, n_out, dtype, name)
    accepted = [out_shape] + ([batch_shape] if n_out == 1 or classes else [])
    if tuple(y.shape) not in accepted:
        raise ValueError(
            f"{name}: expected {HEADS[head].noun} of shape {' or '.join(str(s) for s in accepted)} to match x "
            f"{batch_shape + (n_in,)} and {n_out} output(s), got {tuple(y.shape)}"
        )
    return _convert(y, dtype, out_shape)


def prepare(
    params: Any,
    x: Any = _ABSENT,
    y: Any = _ABSENT,
    sample_weight: Any = None,
    *,
    activation: Any = "relu",
    head: Any = "sigmoid",
    names: tuple[str, str, str] = ("x", "y", "sample_weight"),
    check_values: bool = True,
) -> tuple[Params, Any, Any, Any]:
    """Validate and canonicalise ``(params, x, y, sample_weight)`` for ``activation`` and ``head``.

    Returns jax arrays of the params' dtype: ``x`` as given (``(in,)`` or
    ``(N, in)``), ``y`` in the output's shape (one-hot rows for class labels),
    ``sample_weight`` of the batch's shape. Arguments left out stay ``None``.
    ``names`` are the argument names used in messages (``("x_val", ...)`` for
    a validation set).
    """
    use_default_cache()  # every public function checks here before it compiles (jaxnet.cache)
    activation_named(activation)
    least = head_named(head).min_outputs
    sizes = check_params(params)
    n_in, n_out = sizes[0], sizes[-1]
    if n_out < least:
        raise ValueError(
            f"head: {head!r} needs at least {least} output units (classes), the network has {n_out}; "
            "use head='sigmoid' for two classes"
        )
    params = {
        k: params[k] if isinstance(params[k], jax.Array) else to_device(as_array(k, params[k]))
        for k in param_keys(len(sizes) - 1)
    }
    dtype = np.dtype(params["W1"].dtype)
    xn, yn, wn = names
    if x is _ABSENT:
        x = None
    else:
        x = as_array(xn, x)
        check_numeric(xn, x)
        if len(x.shape) not in (1, 2) or x.shape[-1] != n_in:
            raise ValueError(
                f"{xn}: expected shape ({n_in},) or (N, {n_in}) for a network with {n_in} inputs, got {tuple(x.shape)}"
            )
        if len(x.shape) == 2 and x.shape[0] == 0:
            raise ValueError(f"{xn}: expected at least one example, got shape {tuple(x.shape)}")
        x = _convert(x, dtype, tuple(x.shape))
    batch_shape = None if x is None else tuple(x.shape[:-1])
    if y is _ABSENT:
        y = None
    elif batch_shape is None:
        raise ValueError(f"{yn}: given without {xn}")
    else:
        y = _canonical_y(y, batch_shape, sizes, head, dtype, yn)
    if sample_weight is not None:
        if batch_shape is None:
            raise ValueError(f"{wn}: given without {xn}")
        w = as_array(wn, sample_weight)
        check_numeric(wn, w, allow_bool=True)
        if tuple(w.shape) != batch_shape:
            raise ValueError(f"{wn}: expected shape {batch_shape} (one weight per example), got {tuple(w.shape)}")
        sample_weight = _convert(w, dtype, batch_shape)
    if check_values:
        check_values_of(params, x, y, sample_weight, head=head, names=names)
    return params, x, y, sample_weight


def flags(params: Params, x: Any, y: Any, w: Any, head: str) -> jax.Array:
    """One bool per argument (params, x, y, sample_weight): its values are acceptable."""
    ok = [all_finite(params)]
    ok.append(jnp.all(jnp.isfinite(x)) if x is not None else jnp.bool_(True))
    if y is None:
        ok.append(jnp.bool_(True))
    elif HEADS[head].labels == "values":
        ok.append(jnp.all(jnp.isfinite(y)))
    else:
        in_range = jnp.all((y >= 0) & (y <= 1))
        if HEADS[head].labels == "classes":
            tol = ROW_SUM_TOLERANCE * y.shape[-1]
            in_range &= jnp.all(jnp.abs(jnp.sum(y, axis=-1) - 1) <= tol)
        ok.append(in_range)
    if w is None:
        ok.append(jnp.bool_(True))
    else:  # signs from the bits: CPUs flush a subnormal w to 0, so 1e-45 > 0 and -1e-45 < 0 are False there
        b = kernels.bits(w)
        ok.append(jnp.all(jnp.isfinite(w) & ((b >= 0) | (b == jnp.iinfo(b.dtype).min))) & jnp.any(b > 0))
    return jnp.stack(ok)


_flags = jax.jit(flags, static_argnames="head")


def with_value_checks(kernel: Any) -> Any:
    """``jit`` of ``kernel(params, x, y, w, activation, head)`` that also returns the value flags of its
    arguments, so that checking costs no dispatch of its own (see :func:`call_checked`)."""

    @partial(jax.jit, static_argnames=("activation", "head"))
    def run(params: Params, x: Any, y: Any, w: Any, activation: str, head: str) -> tuple[Any, jax.Array]:
        out = kernel(params, x, y, w, activation, head)
        return out, jnp.concatenate([flags(params, x, y, w, head), all_finite(out)[None]])

    return run


def call_checked(
    run: Any,
    params: Any,
    x: Any = _ABSENT,
    y: Any = _ABSENT,
    sample_weight: Any = None,
    *,
    activation: Any = "relu",
    head: Any = "sigmoid",
) -> Any:
    """:func:`prepare` (static checks), then ``run`` (from :func:`with_value_checks`); raise if a flag fails."""
    params, x, y, w = prepare(params, x, y, sample_weight, activation=activation, head=head, check_values=False)
    out, ok = run(params, x, y, w, activation=activation, head=head)
    if all(_is_concrete(a) for a in (*params.values(), x, y, w) if a is not None):
        ok = np.asarray(ok)
        explain_flags(ok[:4], params, x, y, w, head)
        if not ok[4]:  # every input passed, yet the result is not finite: the arithmetic overflowed
            raise overflow_error(params, x, y)
    return out


def overflow_error(params: Params, x: Any, y: Any, names: tuple[str, str] = ("x", "y")) -> ValueError:
    """The error for finite inputs whose arithmetic overflowed, naming the input of largest magnitude
    (``names``: what ``x`` and ``y`` are called in the message)."""
    sizes = {"params": max(float(jnp.max(jnp.abs(v))) for v in params.values()), names[0]: float(jnp.max(jnp.abs(x)))}
    if y is not None:
        sizes[names[1]] = float(jnp.max(jnp.abs(y)))
    culprit = max(sizes, key=sizes.__getitem__)  # the largest magnitude is the likeliest cause
    shown = ", ".join(f"{k} {v:.3g}" for k, v in sizes.items())
    return ValueError(
        f"{culprit}: every input is finite, but the network's arithmetic overflowed "
        f"{np.dtype(params['W1'].dtype).name} (largest magnitudes: {shown}); standardise the data, scale the "
        "weights down, or use float64"
    )


def check_values_of(
    params: Params,
    x: Any,
    y: Any,
    w: Any,
    *,
    head: str = "sigmoid",
    names: tuple[str, str, str] = ("x", "y", "sample_weight"),
) -> None:
    """Refuse NaN/inf (in the params' dtype), labels outside the head's range and bad weights."""
    arrays = [a for a in (*params.values(), x, y, w) if a is not None]
    if not all(_is_concrete(a) for a in arrays):
        return
    host = all(on_host(a) for a in arrays)  # numpy is exact and compiles nothing; device data stays put
    ok = host_flags(params, x, y, w, head) if host else np.asarray(_flags(params, x, y, w, head))
    explain_flags(ok, params, x, y, w, head, names)


def on_host(a: Any) -> bool:
    """``a`` is readable as numpy without a transfer: a numpy array, or a jax array held by the CPU."""
    if not isinstance(a, jax.Array):
        return True
    return a.is_fully_addressable and all(d.platform == "cpu" for d in a.devices())


def host_flags(params: Params, x: Any, y: Any, w: Any, head: str) -> np.ndarray:
    """:func:`flags` computed with numpy on host data (the same tests; nothing is compiled).

    The values are already in the params' dtype. Weights: finite, no sign bit
    except on zero (``-0.0`` passes, ``-1e-45`` does not), and one above 0.

    >>> import numpy as np
    >>> host_flags({"W1": np.ones((1, 1), np.float32)}, np.ones((2, 1)), None, np.array([0.0, -0.0]), "sigmoid")
    array([ True,  True,  True, False])
    """
    finite = lambda a: bool(np.isfinite(np.asarray(a)).all())  # noqa: E731
    ok = [all(finite(v) for v in params.values()), x is None or finite(x)]
    if y is None or HEADS[head].labels == "values":
        ok.append(y is None or finite(y))
    else:
        yv = np.asarray(y)
        in_range = bool(((yv >= 0) & (yv <= 1)).all())
        if HEADS[head].labels == "classes":
            tol = ROW_SUM_TOLERANCE * yv.shape[-1]
            in_range &= bool((np.abs(yv.sum(axis=-1, dtype=np.float64) - 1) <= tol).all())
        ok.append(in_range)
    if w is None:
        ok.append(True)
    else:
        wv = np.asarray(w)
        signed = np.signbit(wv) & (wv != 0)
        ok.append(bool(np.isfinite(wv).all() and not signed.any() and (wv > 0).any()))
    return np.array(ok)


def explain_flags(
    flags: np.ndarray,
    params: Params,
    x: Any,
    y: Any,
    w: Any,
    head: str,
    names: tuple[str, str, str] = ("x", "y", "sample_weight"),
) -> None:
    """Nothing if every flag holds; else the detailed error for the first argument at fault."""
    if flags.all():
        return
    dtype = params["W1"].dtype
    if not flags[0]:
        for k, v in params.items():
            _explain_finite(f"params['{k}']", v, dtype)
    if not flags[1]:
        _explain_finite(names[0], x, dtype)
    if not flags[2]:
        _explain_labels(names[1], np.asarray(y, np.float64), head)
    if not flags[3]:
        _explain_finite(names[2], w, dtype)
        wv = np.asarray(w, np.float64)
        if (wv < 0).any():
            raise ValueError(f"{names[2]}: expected weights >= 0, got minimum {wv.min():g}")
        raise ValueError(f"{names[2]}: expected at least one positive weight, got all zero")
    raise ValueError("arguments: a value check failed but no argument was found at fault")  # pragma: no cover


def _explain_finite(name: str, a: Any, dtype: Any) -> None:
    v = np.asarray(a)
    bad = int(v.size - np.isfinite(v).sum())
    if bad:
        raise ValueError(
            f"{name}: expected finite values in {np.dtype(dtype).name} (the params' dtype; larger magnitudes "
            f"overflow), got {bad} NaN/inf entr{'y' if bad == 1 else 'ies'}"
        )


def _explain_labels(name: str, yv: np.ndarray, head: str) -> None:
    if np.isnan(yv).any():
        raise ValueError(f"{name}: expected finite labels, got NaN")
    labels = HEADS[head].labels
    if labels == "values":
        raise ValueError(f"{name}: expected finite targets in the params' dtype, got NaN/inf")
    if ((yv < 0) | (yv > 1)).any():
        raise ValueError(f"{name}: expected labels in [0, 1], got values in [{yv.min()}, {yv.max()}]")
    sums = yv.sum(axis=-1)
    worst = float(sums.flat[np.argmax(np.abs(sums - 1))])
    raise ValueError(
        f"{name}: expected one-hot or probability rows that sum to 1 (within {ROW_SUM_TOLERANCE:g} per class), "
        f"got a row summing to {worst!r} (|sum - 1| = {abs(worst - 1):.2g})"
    )


def validate(
    params: Any,
    x: Any = None,
    y: Any = None,
    sample_weight: Any = None,
    *,
    activation: str | None = None,
    head: str | None = None,
) -> None:
    """Check a network and its data for ``activation`` and ``head``; raise a clear error if anything is wrong.

    This is the check every public jaxnet function runs at the Python
    boundary. Call it yourself once before a hand-written loop around
    :func:`jaxnet.make_train_step`, whose jitted step does not check. Labels
    are checked per head: in [0, 1] for ``"sigmoid"``; integer classes
    ``0..C-1`` of shape ``(N,)`` or rows ``(N, C)`` summing to 1 for
    ``"softmax"``; any finite value for ``"identity"``. ``params`` is a dict or
    a :class:`~jaxnet.Model`; ``activation``/``head`` default to the model's, or
    ``"relu"``/``"sigmoid"`` for a dict.

    **Raises:** ``TypeError`` (wrong kind: not a dict, integer/complex/mixed
    dtypes, non-numeric data) or ``ValueError`` (wrong keys, shapes that do not
    chain, NaN/inf in the params' dtype, labels outside the head's range,
    negative or all-zero weights).

    >>> import jaxnet
    >>> params, x, y = jaxnet.seed_example()
    >>> jaxnet.validate(params, x, y)
    >>> jaxnet.validate(params, [1.0, 2.0, 3.0])
    Traceback (most recent call last):
    ...
    ValueError: x: expected shape (2,) or (N, 2) for a network with 2 inputs,
    got (3,)
    """
    params, spec = resolve_spec(params, activation, head)
    prepare(
        params,
        _ABSENT if x is None else x,
        _ABSENT if y is None else y,
        sample_weight,
        activation=spec.activation,
        head=spec.head,
    )


def check_sizes(sizes: Any) -> tuple[int, ...]:
    """Check the ``sizes`` argument of :func:`jaxnet.init_mlp`."""
    if isinstance(sizes, (str, bytes)):
        raise TypeError(f"sizes: expected a sequence of layer widths like (2, 3, 1), got {sizes!r}")
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise TypeError(f"sizes: expected a sequence of layer widths like (2, 3, 1), got {sizes!r}") from None
    if len(sizes) < 2:
        raise ValueError(f"sizes: expected at least 2 entries (inputs, outputs), got {sizes!r}")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"sizes: expected integer widths, got {s!r} in {sizes!r}")
        if not 1 <= s <= INT32_MAX:
            raise ValueError(f"sizes: expected positive widths at most {INT32_MAX}, got {s!r} in {sizes!r}")
    return tuple(operator.index(s) for s in sizes)

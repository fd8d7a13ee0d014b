"""Input checks at the Python boundary, before anything is traced or compiled.

Every public entry point calls :func:`prepare` once per call. It has two parts:

* **static checks** on the host, from shapes and dtypes alone (keys, shapes
  that chain, dtypes, label shapes per head, the ``activation``/``head``
  names); they run at every call and cost microseconds; they are here;
* **value checks** (NaN/inf, label ranges, weights) *after* each argument is
  cast to the parameters' dtype, in :mod:`jaxnet._values`.

Under ``jax.jit``/``jax.grad`` the arguments are tracers with no values, so
only the static checks run; nothing here ever enters compiled code.

Every check is one of the vocabulary of :mod:`jaxnet._checks` (choice,
interval, count, float dtype, finite), with its one message format
``"{name}: expected {what}, got {received}"``: ``TypeError`` for the wrong
kind of thing and ``ValueError`` for the wrong shape or value.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from jaxnet import _host_eval as host_eval
from jaxnet import _values
from jaxnet._checks import INT32_MAX, count, float_dtype, refuse
from jaxnet._keys import as_key, seed_key
from jaxnet._values import (
    _flags,
    check_values_of,
    convert,
    default_platform,
    explain_flags,
    host_all_finite,
    host_flags,
    is_concrete,
    moved,
    on_host,
    one_hot,
    overflow_error,
    to_device,
    with_value_checks,
)
from jaxnet.cache import use_default_cache
from jaxnet.network import HEADS, activation_named, check_outputs, head_named, layer_count, param_keys
from jaxnet.spec import Model, Params, Spec

__all__ = [  # what other modules import from here (the value checks and keys live in _values and _keys)
    "Params",
    "_flags",
    "as_array",
    "as_key",
    "call_checked",
    "check_numeric",
    "check_params",
    "check_sizes",
    "default_platform",
    "host_flags",
    "merge_spec",
    "on_host",
    "overflow_error",
    "prepare",
    "resolve_spec",
    "seed_key",
    "validate",
    "with_value_checks",
]

_ABSENT: Any = object()  # an argument that is not part of this call (distinct from an explicit None)


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


def check_params(params: Any, name: str = "params") -> tuple[int, ...]:
    """Static checks of a parameter dict; returns its layer sizes ``(in, h1, ..., out)``.

    Keys come from the one parser (:func:`jaxnet.network.layer_count`); values
    are checked by :func:`jaxnet._values.check_values_of`.
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
            dtypes.add(float_dtype(f"{name}['{key}']", a.dtype))
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


def _canonical_y(y: Any, batch_shape: tuple[int, ...], sizes: tuple[int, ...], head: str, dtype: Any, name: str) -> Any:
    """Labels in the output's shape ``batch + (n_out,)`` (one-hot for class labels)."""
    n_in, n_out = sizes[0], sizes[-1]
    classes = HEADS[head].labels == "classes"  # integer class labels (N,) are accepted too
    y = as_array(name, y)
    check_numeric(name, y, allow_bool=not classes)
    out_shape = batch_shape + (n_out,)
    if classes and tuple(y.shape) == batch_shape:
        if not is_concrete(y):
            return jax.nn.one_hot(y, n_out, dtype=dtype)
        return one_hot(y, n_out, dtype, name)
    accepted = [out_shape] + ([batch_shape] if n_out == 1 or classes else [])
    if tuple(y.shape) not in accepted:
        raise ValueError(
            f"{name}: expected {HEADS[head].noun} of shape {' or '.join(str(s) for s in accepted)} to match x "
            f"{batch_shape + (n_in,)} and {n_out} output(s), got {tuple(y.shape)}"
        )
    return convert(y, dtype, out_shape)


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
    keep_host: bool = False,
) -> tuple[Params, Any, Any, Any]:
    """Validate and canonicalise ``(params, x, y, sample_weight)`` for ``activation`` and ``head``.

    Returns arrays of the params' dtype (jax arrays; with ``keep_host``, numpy
    where the data was given on the host): ``x`` as given (``(in,)`` or
    ``(N, in)``), ``y`` in the output's shape (one-hot rows for class labels),
    ``sample_weight`` of the batch's shape. Arguments left out stay ``None``.
    ``names`` are the argument names used in messages (``("x_val", ...)`` for
    a validation set). Data given on the host is checked there, before it
    moves to the default device; with ``keep_host`` it stays numpy (for a
    caller that pads its rows first, :func:`jaxnet.metrics.padded`).
    """
    use_default_cache()  # every public function checks here before it compiles (jaxnet.cache)
    activation_named(activation)
    head_named(head)
    sizes = check_params(params)
    check_outputs(head, sizes[-1], "head", f"a network of {sizes[-1]} output(s)")
    params = {
        k: params[k] if isinstance(params[k], jax.Array) else to_device(as_array(k, params[k]))
        for k in param_keys(len(sizes) - 1)
    }
    dtype = np.dtype(params["W1"].dtype)
    xn, yn, wn = names
    x = None if x is _ABSENT else _canonical_x(x, sizes[0], dtype, xn)
    batch_shape = None if x is None else tuple(x.shape[:-1])
    if y is _ABSENT:
        y = None
    elif batch_shape is None:
        raise refuse(yn, f"to be given with {xn}", f"{yn} without {xn}")
    else:
        y = _canonical_y(y, batch_shape, sizes, head, dtype, yn)
    if sample_weight is not None:
        if batch_shape is None:
            raise refuse(wn, f"to be given with {xn}", f"{wn} without {xn}")
        sample_weight = _canonical_weight(sample_weight, batch_shape, dtype, wn)
    if check_values:
        check_values_of(params, x, y, sample_weight, head=head, names=names)
    if not keep_host:
        x, y, sample_weight = moved((x, y, sample_weight))
    return params, x, y, sample_weight


def _canonical_x(x: Any, n_in: int, dtype: Any, name: str) -> Any:
    """``x`` of shape ``(in,)`` or ``(N, in)``, ``N >= 1``, in the params' dtype."""
    x = as_array(name, x)
    check_numeric(name, x)
    if len(x.shape) not in (1, 2) or x.shape[-1] != n_in:
        raise refuse(name, f"shape ({n_in},) or (N, {n_in}) for a network with {n_in} inputs", tuple(x.shape))
    if len(x.shape) == 2 and x.shape[0] == 0:
        raise refuse(name, "at least one example", f"shape {tuple(x.shape)}")
    return convert(x, dtype, tuple(x.shape))


def _canonical_weight(w: Any, batch_shape: tuple[int, ...], dtype: Any, name: str) -> Any:
    """``sample_weight`` of the batch's shape, in the params' dtype (values are checked later)."""
    w = as_array(name, w)
    check_numeric(name, w, allow_bool=True)
    if tuple(w.shape) != batch_shape:
        raise refuse(name, f"shape {batch_shape} (one weight per example)", tuple(w.shape))
    return convert(w, dtype, batch_shape)


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
    """:func:`prepare`, then ``run`` (:func:`with_value_checks`); raise if a value check fails.

    Where the kernel runs on the CPU (everything on a CPU machine) and the data is the host's (numpy, or jax
    arrays on the CPU), the values are checked with numpy and the bare kernel runs, its output checked on the
    host too: the flags in the program would triple its compile time (~0.11 -> ~0.34 s of CPU for ``predict``
    of a 30-100-1 network). A small problem's kernel is not even compiled: numpy evaluates its trace
    (:mod:`jaxnet._host_eval`, ~1 ms where compiling took ~0.1-0.2 s), and its outputs become jax arrays.
    Anything for an accelerator runs the kernel fused with its checks: no transfer back, no dispatch of its
    own. Under an outer ``jit``/``eval_shape``/``scan`` the data moves into the trace
    and nothing is checked (as for any traced value); the output is a tracer there, not read back.
    """
    given = [a for a in (*_param_values(params), x, y, sample_weight) if a is not _ABSENT and a is not None]
    on_cpu = all(isinstance(a, jax.Array) for a in given) or default_platform() == "cpu"  # where numpy goes
    if on_cpu and all(is_concrete(a) and _values.on_host(a) for a in given):  # (the module's: tests stand in)
        params, x, y, w = prepare(params, x, y, sample_weight, activation=activation, head=head, keep_host=True)
        out = jax.device_put(host_eval.run(run.bare, params, x, y, w, activation=activation, head=head))  # jax arrays
        if all(is_concrete(v) for v in jax.tree.leaves(out)) and not host_all_finite(out):
            raise overflow_error(params, x, y)  # every input passed, yet the result is not finite
        return out
    params, x, y, w = prepare(params, x, y, sample_weight, activation=activation, head=head, check_values=False)
    out, ok = run.fused(params, x, y, w, activation=activation, head=head)
    if all(is_concrete(a) for a in (*params.values(), x, y, w) if a is not None):
        ok = np.asarray(ok)
        explain_flags(ok[:4], params, x, y, w, head)
        if not ok[4]:  # every input passed, yet the result is not finite: the arithmetic overflowed
            raise overflow_error(params, x, y)
    return out


def _param_values(params: Any) -> list:
    """The arrays of a params dict as given (before :func:`prepare` checks it); none for anything else."""
    return list(params.values()) if isinstance(params, dict) else []


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
    """Check the ``sizes`` argument of :func:`jaxnet.init_mlp`: at least 2 positive int widths.

    >>> check_sizes([2, 3, 1])
    (2, 3, 1)
    >>> check_sizes((2, 0, 1))
    Traceback (most recent call last):
    ...
    ValueError: sizes[1]: expected a positive integer at most 2147483647, got 0
    """
    what = "a sequence of layer widths like (2, 3, 1)"
    if isinstance(sizes, (str, bytes)):
        raise refuse("sizes", what, repr(sizes), TypeError)
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise refuse("sizes", what, repr(sizes), TypeError) from None
    if len(sizes) < 2:
        raise refuse("sizes", "at least 2 entries (inputs, outputs)", repr(sizes))
    return tuple(count(f"sizes[{i}]", s, high=INT32_MAX) for i, s in enumerate(sizes))

"""A traced jaxnet kernel evaluated by numpy: one-off work on host-sized data compiles nothing.

A jitted kernel's first call on a new shape traces it (~10 ms), lowers it and
has XLA compile it (~0.1-0.2 s for ``predict``, ``loss``, ``accuracy`` or
``grads`` of a 30-100-1 network). On numpy data of a small problem, numpy
runs the same traced program in well under a millisecond: :func:`call`
traces the kernel with ``jax.jit``'s own cache (so its trace is the one the
compiled program would run, with jax's own cache key) and evaluates the
jaxpr's equations with numpy, one primitive at a time.

The arithmetic is the same, the rounding nearly: numpy's ``exp``, ``log``,
``tanh`` and summation order differ from XLA's in the last bit or two of
each operation (float32: ~1e-7 of the operands; float64: ~1e-16), which a
result that cancels, such as the loss of a confident network
``logsumexp(z) - z_y``, shows larger relative to itself (1.7e-5 measured in
float32, as far from the exact value as the compiled one); numpy keeps
subnormal numbers where XLA:CPU flushes them to zero. Decisions
(``y_hat >= 0.5``, ``argmax``) can differ only for outputs within those bits
of the threshold. The arguments are read in the dtypes they were traced in;
a float becomes an integer as XLA converts it (truncated, saturated, NaN as
0); a dot sums in its ``preferred_element_type``.

Only float32 and float64 programs (with bool and integer values beside them)
built from the primitives of :data:`_PRIMITIVES` run here, with their
parameters as listed (``dot_general`` without batch dimensions, integer
division not at all): anything else makes :func:`call` return None and the
caller runs the compiled kernel, as before. Overflow gives inf, or NaN where
an overflowing sum meets an inf of the other sign (numpy's warnings are
silenced); the callers refuse either, as they did.

>>> import jax, numpy as np
>>> f = jax.jit(lambda w, x: jax.numpy.tanh(x @ w.T).sum(axis=0))
>>> out = call(f, np.ones((2, 3), np.float32), np.full((4, 3), 0.1, np.float32))
>>> type(out).__name__, out.dtype, [round(float(v), 6) for v in out]
('ndarray', dtype('float32'), [1.165251, 1.165251])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from jaxnet._values import default_platform, is_concrete, on_host
from jaxnet.network import multiply_adds, widths

__all__ = ["HOST_WORK", "call", "eval_jaxpr", "literal", "run", "small"]

HOST_WORK = 2**24
"""The most multiply-adds of a forward pass (:func:`jaxnet.network.multiply_adds`) that numpy evaluates
instead of a compiled program: ~2-10 ms of numpy on one core, against ~0.1-0.2 s to compile."""

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class _Unsupported(Exception):
    """An equation numpy does not evaluate here (the caller compiles the kernel instead)."""


def literal(v: Any) -> bool:
    """Whether a jaxpr atom is a literal (``jax.core.Literal``; its home module moved between jax versions)."""
    return type(v).__name__ == "Literal"


def small(params: Any, rows: int) -> bool:
    """Whether a forward pass of ``rows`` examples through ``params`` is at most :data:`HOST_WORK`
    multiply-adds, with float32 or float64 params (numpy has no bfloat16 arithmetic, and its float16 is
    not XLA's)."""
    leaves = jax.tree.leaves(params)
    return all(np.dtype(a.dtype) in _FLOATS for a in leaves) and multiply_adds(widths(params), rows) <= HOST_WORK


def _dot_general(
    lhs: np.ndarray, rhs: np.ndarray, *, dimension_numbers: Any, preferred_element_type: Any = None, **_: Any
) -> np.ndarray:
    """``lax.dot_general`` without batch dimensions: lhs's free axes, then rhs's (as ``np.tensordot``), the
    products and sums in ``preferred_element_type`` (XLA's: int8 operands summed as int32, not wrapped)."""
    (lc, rc), (lb, rb) = dimension_numbers
    if lb or rb:
        raise _Unsupported("dot_general with batch dimensions")
    if preferred_element_type is not None:
        lhs, rhs = lhs.astype(preferred_element_type, copy=False), rhs.astype(preferred_element_type, copy=False)
    if all(lhs.shape[a] == 1 for a in lc):  # one product per entry: XLA multiplies (a BLAS sum from +0.0
        return np.multiply.outer(np.squeeze(lhs, tuple(lc)), np.squeeze(rhs, tuple(rc)))  # loses a -0.0)
    return np.tensordot(lhs, rhs, axes=(tuple(lc), tuple(rc)))


def _broadcast_in_dim(x: np.ndarray, *, shape: Sequence[int], broadcast_dimensions: Sequence[int], **_: Any) -> Any:
    """``x``'s axis ``i`` becomes the output's axis ``broadcast_dimensions[i]``; the others are broadcast."""
    expanded = [1] * len(shape)
    for axis, size in zip(broadcast_dimensions, np.shape(x), strict=True):
        expanded[axis] = size
    return np.broadcast_to(np.reshape(x, expanded), tuple(shape))


def _reshape(x: np.ndarray, *, new_sizes: Sequence[int], dimensions: Any = None, **_: Any) -> np.ndarray:
    if dimensions is not None:
        raise _Unsupported("reshape with dimensions")
    return np.reshape(x, tuple(new_sizes))


def _iota(*, dtype: Any, shape: Sequence[int], dimension: int, **_: Any) -> np.ndarray:
    along = [1] * len(shape)
    along[dimension] = shape[dimension]
    return np.broadcast_to(np.arange(shape[dimension], dtype=dtype).reshape(along), tuple(shape))


def _slice(x: np.ndarray, *, start_indices: Sequence[int], limit_indices: Sequence[int], strides: Any) -> Any:
    steps = strides or (1,) * len(start_indices)
    return x[tuple(slice(a, b, c) for a, b, c in zip(start_indices, limit_indices, steps, strict=True))]


def _integer_pow(x: np.ndarray, *, y: int) -> np.ndarray:
    """``x ** y`` by the products XLA is given (jax's lowering: square-and-multiply, then ``1 / acc``)."""
    if y == 0:
        return np.ones_like(x)
    acc: Any = None
    n = abs(y)
    while n > 0:
        if n & 1:
            acc = x if acc is None else acc * x
        n >>= 1
        if n > 0:
            x = x * x
    return np.ones_like(acc) / acc if y < 0 else acc


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if not np.issubdtype(np.result_type(a, b), np.inexact):
        raise _Unsupported("integer division (lax rounds toward zero, numpy down)")
    return a / b


def _select_n(which: np.ndarray, *cases: np.ndarray) -> np.ndarray:
    if which.dtype == np.bool_:
        return np.where(which, cases[1], cases[0])
    return np.choose(which, cases)


def _bitcast(x: np.ndarray, *, new_dtype: Any, **_: Any) -> np.ndarray:
    if np.dtype(new_dtype).itemsize != x.dtype.itemsize:
        raise _Unsupported("bitcast_convert_type between widths")
    return np.ascontiguousarray(x).view(new_dtype)


def _shift_right_arithmetic(x: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``x >> s`` copying the top bit, unsigned integers too (numpy shifts those logically)."""
    if x.dtype.kind != "u":
        return np.right_shift(x, s)
    signed = np.dtype(f"i{x.dtype.itemsize}")
    big = s >= 8 * x.dtype.itemsize  # XLA: every bit the top one; numpy's signed shift of those agrees
    return np.right_shift(x.view(signed), np.where(big, 8 * x.dtype.itemsize - 1, s).astype(signed)).view(x.dtype)


def _convert(x: Any, *, new_dtype: Any, **_: Any) -> np.ndarray:
    """``x`` as ``new_dtype``; a float becomes an integer as XLA converts it: truncated, saturated at the
    type's bounds, NaN as 0 (numpy's cast of an out-of-range float is undefined: INT_MIN on x86)."""
    x, new = np.asarray(x), np.dtype(new_dtype)
    if x.dtype.kind != "f" or new.kind not in "iu":
        return x.astype(new)
    low, high = np.iinfo(new).min, np.iinfo(new).max
    over, under = x >= high, x <= low  # high as a float may round up (2**31 - 1 -> 2**31): saturate at it
    inside = np.where(over | under | np.isnan(x), 0, x).astype(new)
    return np.where(over, high, np.where(under, low, inside)).astype(new)


def _argmax(x: np.ndarray, *, axes: Sequence[int], index_dtype: Any) -> np.ndarray:
    (axis,) = axes
    return np.argmax(x, axis=axis).astype(index_dtype)


def _reduce(fn: Callable) -> Callable:
    return lambda x, *, axes, out_sharding=None, **_: fn(x, axis=tuple(axes))


def _plain(fn: Callable) -> Callable:
    return lambda *xs, **_: fn(*xs)


_ELEMENTWISE: dict[str, Callable[..., Any]] = {
    "add": np.add,
    "add_any": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "max": np.maximum,
    "min": np.minimum,
    "neg": np.negative,
    "abs": np.abs,
    "sqrt": np.sqrt,
    "exp": np.exp,
    "log": np.log,
    "log1p": np.log1p,
    "tanh": np.tanh,
    "pow": np.power,
    "square": np.square,
    "is_finite": np.isfinite,
    "eq": np.equal,
    "ne": np.not_equal,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
    "and": np.bitwise_and,
    "or": np.bitwise_or,
    "not": np.invert,
    "shift_right_arithmetic": _shift_right_arithmetic,
    "stop_gradient": lambda x: x,
    "copy": np.array,
    "sign": lambda x: np.where(x == 0, x, np.sign(x)),  # keeps -0.0, as XLA's
}
"""Primitives numpy computes by one function of the operands alone."""

_PRIMITIVES: dict[str, Callable[..., Any]] = {
    **{name: _plain(fn) for name, fn in _ELEMENTWISE.items()},
    "div": _plain(_div),
    "select_n": _plain(_select_n),
    "dot_general": _dot_general,
    "broadcast_in_dim": _broadcast_in_dim,
    "reshape": _reshape,
    "iota": _iota,
    "slice": _slice,
    "integer_pow": _integer_pow,
    "bitcast_convert_type": _bitcast,
    "argmax": _argmax,
    "transpose": lambda x, *, permutation: np.transpose(x, permutation),
    "squeeze": lambda x, *, dimensions: np.squeeze(x, axis=tuple(dimensions)),
    "convert_element_type": _convert,
    "reduce_sum": _reduce(np.sum),
    "reduce_max": _reduce(np.max),
    "reduce_min": _reduce(np.min),
    "reduce_and": _reduce(np.all),
    "reduce_or": _reduce(np.any),
}
"""numpy for each primitive jaxnet's kernels trace to, with the parameters it reads."""

_CALLS = {"jit": "jaxpr", "pjit": "jaxpr", "custom_jvp_call": "call_jaxpr", "closed_call": "call_jaxpr"}
"""Primitives that call a traced program: the parameter holding it (a ClosedJaxpr), evaluated in turn."""


def _dtype_ok(aval: Any) -> bool:
    dtype = np.dtype(aval.dtype)
    return dtype in _FLOATS or dtype == np.bool_ or np.issubdtype(dtype, np.integer)


def _equation(eqn: Any, args: list[Any], any_dtype: bool) -> list[Any]:
    """The outputs of one equation, each of its outvar's dtype and shape."""
    name = eqn.primitive.name
    if eqn.effects or not (any_dtype or all(_dtype_ok(v.aval) for v in eqn.outvars)):
        raise _Unsupported(name)
    if name in _CALLS:
        closed = eqn.params[_CALLS[name]]
        return eval_jaxpr(closed.jaxpr, closed.consts, args, any_dtype=any_dtype)
    if name not in _PRIMITIVES:
        raise _Unsupported(name)
    outs = [_PRIMITIVES[name](*args, **eqn.params)]
    return [np.asarray(o).astype(v.aval.dtype, copy=False) for o, v in zip(outs, eqn.outvars, strict=True)]


def eval_jaxpr(
    jaxpr: Any, consts: Sequence[Any], args: Sequence[Any], eqns: Sequence[Any] | None = None, any_dtype: bool = False
) -> list:
    """The outputs of ``jaxpr`` (jax's ``Jaxpr``) on ``args``, by numpy; ``eqns``: only these equations (in
    order; default all). Raises ``_Unsupported`` for what numpy does not evaluate here, and (unless
    ``any_dtype``: for exact conversions only, :mod:`jaxnet._host_init`) for results other than float32,
    float64, bool or integers."""
    env: dict[Any, Any] = {}

    def read(v: Any) -> Any:
        return np.asarray(v.val, v.aval.dtype) if literal(v) else env[v]

    for v, a in zip((*jaxpr.constvars, *jaxpr.invars), (*consts, *args), strict=True):
        env[v] = np.asarray(a)
    for eqn in jaxpr.eqns if eqns is None else eqns:
        outs = _equation(eqn, [read(v) for v in eqn.invars], any_dtype)
        for v, o in zip(eqn.outvars, outs, strict=True):
            if np.shape(o) != tuple(v.aval.shape):
                raise _Unsupported(f"{eqn.primitive.name}: shape {np.shape(o)}, traced {v.aval.shape}")
            env[v] = o
    return [read(v) for v in jaxpr.outvars]


def call(jitted: Any, *args: Any, **kwargs: Any) -> Any:
    """``jitted(*args, **kwargs)`` evaluated by numpy (its outputs numpy arrays, each its own), or None where
    this module does not evaluate it (a primitive or dtype it does not know). ``jitted`` is a ``jax.jit``
    function, given its static arguments by keyword and every array on the host."""
    traced = jitted.trace(*args, **kwargs)
    closed = traced.jaxpr
    _, dynamic = jax.tree.unflatten(traced.in_tree, [None] * traced.in_tree.num_leaves)  # the traced keywords
    leaves = jax.tree.leaves((args, {k: kwargs[k] for k in dynamic}))
    if closed.effects or not all(_dtype_ok(a) for a in (*closed.in_avals, *closed.out_avals)):
        return None
    # in the traced dtypes: without x64 a float64 array is traced, and compiled, as float32
    leaves = [np.asarray(a, aval.dtype) for a, aval in zip(leaves, closed.in_avals, strict=True)]
    with np.errstate(all="ignore"):  # overflow is inf, as XLA's; the callers check the outputs
        try:
            outs = eval_jaxpr(closed.jaxpr, closed.consts, leaves)
        except _Unsupported:
            return None
    return jax.tree.unflatten(traced.out_tree, [np.array(o, copy=True) for o in outs])


def run(jitted: Any, *args: Any, **kwargs: Any) -> Any:
    """``jitted(*args, **kwargs)``, ``args[0]`` the params and ``args[1]`` the examples (``(N, in)`` or
    ``(in,)``): by numpy (numpy arrays out) where the default device is the CPU, every array is the host's
    (numpy, or a jax array on the CPU; not a tracer of an outer ``jit``), the problem is :func:`small` and
    this module evaluates it; else the compiled kernel (jax arrays, or tracers under an outer ``jit``)."""
    x = args[1]
    rows = 1 if x is None or x.ndim < 2 else x.shape[0]
    arrays = [a for a in jax.tree.leaves((args, kwargs)) if hasattr(a, "shape")]
    if default_platform() == "cpu" and all(is_concrete(a) and on_host(a) for a in arrays) and small(args[0], rows):
        out = call(jitted, *args, **kwargs)
        if out is not None:
            return out
    return jitted(*args, **kwargs)

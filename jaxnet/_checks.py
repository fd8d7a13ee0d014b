"""The vocabulary of argument checks: one message format, four kinds of rule.

Every check at jaxnet's Python boundary is one of these, in the spirit of
scikit-learn's ``_parameter_constraints``:

* :func:`one_of` -- a name from a fixed set (activations, heads, kernels, ...);
* :func:`number` -- a real number in an interval, open or closed at each end
  (fractions, learning rates, step sizes, ...); :func:`count` for integers;
* :func:`float_dtype` -- a floating dtype from the ones jaxnet computes in;
* :func:`finite` -- an array with no NaN or infinity, checked on the host.

Each raises ``TypeError`` for the wrong kind of thing and ``ValueError`` for
the wrong value, with the one message format ``"{name}: expected {what}, got
{received}"``, so the argument, what was received and what was expected are
always named. None of them runs inside traced code: they take Python values
or host (numpy) arrays.

>>> one_of("head", "sigmoid", ("identity", "sigmoid", "softmax"))
'sigmoid'
>>> number("beta", 0.9, low=0.0, high=1.0, high_open=True)
0.9
>>> number("beta", 1.0, low=0.0, high=1.0, high_open=True)
Traceback (most recent call last):
...
ValueError: beta: expected a number in [0, 1), got 1.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

INT32_MAX = 2**31 - 1
FLOAT_DTYPES = ("bfloat16", "float16", "float32", "float64")


def message(name: str, expected: str, received: Any) -> str:
    """The one message format of every check: ``"{name}: expected {expected}, got {received}"``."""
    return f"{name}: expected {expected}, got {received}"


def refuse(name: str, expected: str, received: Any, kind: type[Exception] = ValueError) -> Exception:
    """An exception (to ``raise``) in the one message format.

    >>> str(refuse("steps", "a positive integer", -1))
    'steps: expected a positive integer, got -1'
    """
    return kind(message(name, expected, received))


def flag(name: str, value: Any) -> bool:
    """``value`` as a bool: a Python or numpy bool; anything else a TypeError naming its type.

    >>> flag("drop_last", 1)
    Traceback (most recent call last):
    ...
    TypeError: drop_last: expected True or False, got int
    """
    if not isinstance(value, (bool, np.bool_)):
        raise refuse(name, "True or False", type(value).__name__, TypeError)
    return bool(value)


def one_of(name: str, value: Any, options: Iterable[Any], *, also: str = "") -> Any:
    """``value`` if it is one of ``options``; else a ValueError listing them.

    ``also`` names a further accepted form (``"or None"``) for the message only.

    >>> one_of("kernel", "fused", ("broadcast", "vmap"))
    Traceback (most recent call last):
    ...
    ValueError: kernel: expected one of ['broadcast', 'vmap'], got 'fused'
    """
    choices = list(options)
    for choice in choices:  # same kind and equal: 1 is not True, 1.0 is not "1.0"; a numpy str is a str
        same_kind = isinstance(value, type(choice)) and isinstance(value, bool) == isinstance(choice, bool)
        if same_kind and value == choice:
            return value
    shown = sorted(choices) if all(isinstance(c, str) for c in choices) else choices
    raise refuse(name, f"one of {shown}{' ' + also if also else ''}", repr(value))


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if high is None:
        return f"a number {'>' if low_open else '>='} {low:g}"
    if low is None:
        return f"a number {'<' if high_open else '<='} {high:g}"
    return f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite float in the interval; else TypeError (not a real number) or ValueError.

    Booleans are refused (``True`` is not a learning rate). NaN and infinity
    are refused whatever the interval.

    >>> number("learning_rate", 0.1, low=0.0, low_open=True)
    0.1
    >>> number("learning_rate", float("nan"), low=0.0, low_open=True)
    Traceback (most recent call last):
    ...
    ValueError: learning_rate: expected a finite number > 0, got nan
    """
    expected = _interval(low, high, low_open, high_open)
    scalar_array = getattr(value, "shape", None) == () and np.dtype(getattr(value, "dtype", object)).kind in "fiu"
    if isinstance(value, bool) or not (isinstance(value, (int, float, np.integer, np.floating)) or scalar_array):
        shape = getattr(value, "shape", ())
        shown = f"an array of shape {shape}" if shape != () else repr(value)
        raise refuse(name, expected, f"{shown} ({type(value).__name__})", TypeError)
    try:
        v = float(value)
    except OverflowError:  # an int beyond float's range
        raise refuse(name, "a finite " + expected[2:], f"an int of {len(str(abs(int(value))))} digits") from None
    inside = math.isfinite(v)
    inside = inside and (low is None or (v > low if low_open else v >= low))
    inside = inside and (high is None or (v < high if high_open else v <= high))
    if not inside:
        raise refuse(name, expected if math.isfinite(v) else "a finite " + expected[2:], v)
    return v


def count(name: str, value: Any, *, low: int = 1, high: int | None = INT32_MAX) -> int:
    """``value`` as an int in ``[low, high]`` (``high=None``: no bound); booleans and floats are refused (TypeError).

    >>> count("steps", 10)
    10
    >>> one_of("progress", "auto", (True, False, "auto"))
    'auto'
    >>> count("steps", True)
    Traceback (most recent call last):
    ...
    TypeError: steps: expected a positive integer, got True (bool)
    """
    what = "a positive integer" if low == 1 else f"an integer >= {low}"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise refuse(name, what, f"{value!r} ({type(value).__name__})", TypeError)
    if value < low or (high is not None and value > high):
        raise refuse(name, what if high is None else f"{what} at most {high}", value)
    return int(value)


def float_dtype(name: str, dtype: Any, allowed: Iterable[str] = FLOAT_DTYPES) -> np.dtype:
    """``dtype`` as a numpy dtype if it is one of the floating ``allowed`` ones; else TypeError.

    >>> float_dtype("dtype", "float64")
    dtype('float64')
    >>> float_dtype("dtype", "int32")
    Traceback (most recent call last):
    ...
    TypeError: dtype: expected a floating dtype, one of ['bfloat16', 'float16', 'float32', 'float64'], got 'int32'
    """
    names = sorted(allowed)
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise refuse(name, f"a floating dtype, one of {names}", repr(str(dtype)[:40]), TypeError) from None
    if dt.name not in names:
        raise refuse(name, f"a floating dtype, one of {names}", repr(dt.name), TypeError)
    return dt


def finite(name: str, values: Any, what: str = "finite values") -> None:
    """Refuse an array holding NaN or infinity, naming the first bad entry.

    >>> finite("x", np.array([[1.0, 2.0], [np.inf, 0.0]]))
    Traceback (most recent call last):
    ...
    ValueError: x: expected finite values, got inf at index (1, 0)
    """
    a = np.asarray(values)
    if a.dtype.kind == "V" and a.dtype.itemsize == 2:  # bfloat16 (ml_dtypes): numpy cannot test it directly
        a = a.astype(np.float32)
    if a.dtype.kind not in "fc" or np.isfinite(a).all():
        return
    index = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
    raise refuse(name, what, f"{a[index]} at index {index}")

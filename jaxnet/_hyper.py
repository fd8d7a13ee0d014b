"""Optimizers as (program, hyperparameters): numbers in an optimizer's closures become runtime inputs.

``optax.adam(1e-3)`` is a pair of Python closures whose cells hold the
learning rate, ``b1``, ``b2`` and ``eps``. Baked into a compiled program as
constants, every new learning rate (a grid search, a second ``fit``) would
compile again. :func:`split` takes an optimizer apart into

* a **skeleton**: hashable, equal for two optimizers exactly when they run
  the same code on the same non-numeric values (code objects, globals,
  strings, ints, bools, dtypes, and every other object *by identity*), and
* **leaves**: the floats and arrays found in its closures, defaults and
  ``functools.partial`` arguments, in a fixed order,

and :func:`build` puts a working optimizer back together from a skeleton and
(possibly traced) leaves. So ``build(*split(opt))`` computes what ``opt``
computes, and ``optax.adam(1e-3)``/``optax.adam(1e-2)`` share one skeleton:
``fit`` passes the skeleton as a static argument of ``jit`` and the leaves as
arguments, and a new learning rate, weight decay or momentum compiles nothing.

Anything :func:`split` cannot read (an object's attributes, a bound method's
``__self__``, a callable class) stays in the skeleton by identity, so two
optimizers that differ there never share a program, and what runs is always
the optimizer that was passed (:func:`lifted` checks that the lifted form
traces, and keeps the whole optimizer static otherwise).

>>> import optax
>>> skel_a, leaves_a = split(optax.sgd(0.1))
>>> skel_b, leaves_b = split(optax.sgd(0.5))
>>> skel_a == skel_b, leaves_a, leaves_b
(True, (-0.1,), (-0.5,))
"""

from __future__ import annotations

import types
from functools import partial
from typing import Any

import jax
import numpy as np

from jaxnet import _host_init as host_init

__all__ = ["split", "build", "lifted", "initial_state", "state_shapes"]

_MAX_DEPTH = 24  # nesting levels read (chains of chains of schedules need ~20); deeper is kept by identity
_CONSTANTS = (type(None), bool, int, str, bytes, complex, type, np.dtype, np.integer, np.bool_)


class Same:
    """A value compared by identity (``is``) and hashed by ``id``; holding it keeps its ``id`` from being reused."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Same) and other.value is self.value

    def __hash__(self) -> int:
        return id(self.value)

    def __repr__(self) -> str:
        return f"Same({type(self.value).__name__})"


class _Empty:
    """An empty closure cell (a variable the enclosing function never assigned, e.g. on an untaken branch)."""


_EMPTY = _Empty()


def _contents(cell: types.CellType) -> Any:
    try:
        return cell.cell_contents
    except ValueError:
        return _EMPTY


def _cell(value: Any) -> types.CellType:
    return types.CellType() if value is _EMPTY else types.CellType(value)


def _is_leaf(value: Any) -> bool:
    if isinstance(value, float) or isinstance(value, np.floating):
        return True
    return isinstance(value, (np.ndarray, jax.Array)) and not isinstance(value, jax.core.Tracer)


def split(value: Any) -> tuple[Any, tuple]:
    """``(skeleton, leaves)`` of ``value`` (an optimizer, or anything inside one); see the module docstring."""
    leaves: list = []
    return _split(value, leaves, 0), tuple(leaves)


def parts(optimizer: Any) -> tuple[Any, tuple] | None:
    """:func:`split` with a hashable skeleton, or ``None`` where the optimizer cannot be split. ``fit`` takes it
    once per call for :func:`initial_state` and :func:`lifted` (~50 us each, the largest part of its fixed cost)."""
    try:
        skeleton, leaves = split(optimizer)
        hash(skeleton)
    except (TypeError, ValueError, RecursionError):
        return None
    return skeleton, leaves


_COMPUTE: Any = object()  # "split the optimizer here" (the callers' default)


_FAST_CONSTANTS = frozenset({type(None), bool, int, str})  # exact types the general tests below call constants


def _split(value: Any, leaves: list, depth: int) -> Any:
    kind = type(value)  # the common exact types first: what the general tests below decide for them, sooner
    if kind is float:  # (isinstance against jax.Array, an ABC, costs ~1 us a value: most of a split's time)
        leaves.append(value)
        return ("leaf",)
    if kind in _FAST_CONSTANTS:
        return ("const", kind, value)
    if kind is types.FunctionType and depth <= _MAX_DEPTH:
        return _split_function(value, leaves, depth + 1)
    if (kind is tuple or kind is list) and depth <= _MAX_DEPTH:
        return (kind, tuple([_split(v, leaves, depth + 1) for v in value]))
    if _is_leaf(value):
        leaves.append(value)
        return ("leaf",)
    if isinstance(value, _CONSTANTS) or value is _EMPTY:
        return ("const", type(value), value)  # the type too: 1, 1.0 and True are equal
    if depth > _MAX_DEPTH:
        return Same(value)
    d = depth + 1  # (exact tuples, lists and functions were taken above; past the depth limit they are Same)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple (optax's GradientTransformation)
        return ("namedtuple", type(value), tuple([_split(v, leaves, d) for v in value]))
    if type(value) is dict and all(isinstance(k, str) for k in value):
        return ("dict", tuple(value), tuple(_split(v, leaves, d) for v in value.values()))
    if type(value) is partial:
        return (
            "partial",
            _split(value.func, leaves, d),
            _split(value.args, leaves, d),
            _split(value.keywords, leaves, d),
        )
    if type(value) is types.MethodType:
        return ("method", _split(value.__func__, leaves, d), Same(value.__self__))
    return Same(value)


def _split_function(fn: types.FunctionType, leaves: list, depth: int) -> Any:
    # At the depth limit the function is kept whole: cut below it, its cells (a tuple built here, a new one
    # each split) would be kept by identity, and two splits of one optimizer would never be equal (a chained
    # optimizer with a schedule compiled fit's program again at every call).
    if fn.__dict__ or depth > _MAX_DEPTH:  # attributes (functools.wraps, markers) the code might read
        return Same(fn)
    cells = tuple([_contents(c) for c in fn.__closure__ or ()])
    parts = (
        _split(fn.__defaults__, leaves, depth),
        _split(fn.__kwdefaults__, leaves, depth),
        _split(cells, leaves, depth),
    )
    return ("fn", fn.__code__, Same(fn.__globals__), fn.__name__, fn.__qualname__) + parts


def build(skeleton: Any, leaves: tuple) -> Any:
    """The value described by ``skeleton`` with ``leaves`` (in :func:`split`'s order) put back."""
    it = iter(leaves)
    out = _build(skeleton, it)
    if next(it, None) is not None:
        raise ValueError("leaves: more values than the skeleton has places for")
    return out


def _build(s: Any, it: Any) -> Any:
    if isinstance(s, Same):
        return s.value
    tag = s[0]
    if tag == "leaf":
        return next(it)
    if tag == "const":
        return s[2]
    if tag in (tuple, list):
        return tag(_build(v, it) for v in s[1])
    if tag == "namedtuple":
        return s[1](*(_build(v, it) for v in s[2]))
    if tag == "dict":
        return dict(zip(s[1], (_build(v, it) for v in s[2])))
    if tag == "partial":
        func, args, keywords = _build(s[1], it), _build(s[2], it), _build(s[3], it)
        return partial(func, *args, **keywords)
    if tag == "method":
        return types.MethodType(_build(s[1], it), s[2].value)
    _, code, globals_, name, qualname, defaults, kwdefaults, cells = s
    defaults, kwdefaults, cells = _build(defaults, it), _build(kwdefaults, it), _build(cells, it)
    fn = types.FunctionType(code, globals_.value, name, defaults, tuple(_cell(c) for c in cells) or None)
    fn.__kwdefaults__, fn.__qualname__ = kwdefaults, qualname
    return fn


_VERDICTS: dict[Any, bool] = {}  # skeleton -> whether its lifted form traces (bounded: see lifted)


def lifted(optimizer: Any, params: Any, opt_state: Any, split_parts: Any = _COMPUTE) -> tuple[Any, tuple]:
    """``(skeleton, leaves)`` for ``fit``'s compiled loop: :func:`split`, or the whole optimizer kept static.

    The lifted form must trace with the leaves as traced values (an update that
    branches in Python on a learning rate cannot); this is checked once per
    skeleton with ``jax.eval_shape``. Where it fails, or where the optimizer
    cannot be split, the skeleton is the optimizer itself (by identity) and
    there are no leaves: correct, compiled per optimizer object. ``split_parts``:
    :func:`parts` of the optimizer, when the caller has it.
    """
    whole = (Same(optimizer), ())
    found = parts(optimizer) if split_parts is _COMPUTE else split_parts
    if found is None:
        return whole
    skeleton, leaves = found
    if not leaves:
        return skeleton, leaves
    config: Any = jax.config
    key = (skeleton, config.jax_numpy_dtype_promotion, config.jax_enable_x64)
    ok = _VERDICTS.get(key)
    if ok is None:
        try:
            jax.eval_shape(lambda h, p, s: build(skeleton, h).update(p, s, p), leaves, params, opt_state)
            ok = True
        except Exception:  # whatever tracing the lifted update raised: keep the optimizer static
            ok = False
        if len(_VERDICTS) < 1024:
            _VERDICTS[key] = ok
    return (skeleton, leaves) if ok else whole


_INIT_VERDICTS: dict[Any, bool] = {}  # initial_state's cache key -> whether the one program is optax's init
_INIT_SHAPES: dict[Any, Any] = {}  # ... and where it is, the state's shapes and dtypes (state_shapes)


def initial_state(optimizer: Any, params: Any, split_parts: Any = _COMPUTE) -> Any:
    """``optimizer.init(params)`` filled in by numpy, or as one compiled program per skeleton and shapes.

    Called op by op, ``optax.adam(lr).init`` compiles a small program per leaf
    shape and dtype (zeros, the count) on first use. Here an ``init`` that
    only builds constants (zeros, literals, its numbers: optax's optimizers)
    is evaluated by numpy (:mod:`jaxnet._host_init`, its leaves numpy arrays);
    any other is one compiled program whose optimizer numbers are inputs
    (:func:`split`), so ``adam(1e-3)`` and ``adam(1e-2)`` share it, and the
    persistent cache keeps it too. The state is the
    one ``optimizer.init`` returns (its structure, dtypes and weak types are
    compared with ``jax.eval_shape(optimizer.init, params)``). An optimizer that
    cannot be split, whose numbers are not Python floats, whose params are not
    float32/float64, or whose ``init`` does not trace with its numbers as inputs,
    is initialised as is. As for :func:`lifted`, an ``init`` that reads mutable
    state or host randomness while it is traced keeps what it read then.

    That verdict is kept per skeleton, number types, params' types (shapes,
    dtypes, weak types, structure) and promotion/x64 settings (:func:`_init_key`):
    what the comparison depends on, since an ``init`` that traced cannot have
    branched on its numbers' values. A later call skips the two ``eval_shape``
    traces (~0.25 ms of each ``fit`` call on the worked example, ~0.4 -> ~0.1 ms).

    >>> import optax, numpy as np
    >>> params = {"W1": np.ones((3, 2), np.float32), "b1": np.zeros(3, np.float32)}
    >>> state = initial_state(optax.adam(1e-3), params)
    >>> state[0].mu["W1"].shape, int(state[0].count)
    ((3, 2), 0)
    """
    found = parts(optimizer) if split_parts is _COMPUTE else split_parts  # (:func:`parts`, as lifted)
    if found is None:
        return optimizer.init(params)
    skeleton, leaves = found
    if not _same_in_a_program(leaves, params):
        return optimizer.init(params)
    key = _init_key(skeleton, leaves, params)
    if _INIT_VERDICTS.get(key) is False:
        return optimizer.init(params)
    try:
        state = _state(key, skeleton, leaves, params)
    except Exception:  # an init that branches in Python on its numbers: op by op, as optax runs it
        _remember(key, False)
        return optimizer.init(params)
    verdict = _INIT_VERDICTS.get(key)
    if verdict is None:  # first time for this key (or the cache is full): compare, and keep it if there is room
        verdict = _matches_eager_init(optimizer, params, state)
        _remember(key, verdict, jax.tree.map(jax.typeof, state) if verdict else None)
    return state if verdict else optimizer.init(params)


def state_shapes(optimizer: Any, params: Any, split_parts: Any) -> Any:
    """``jax.eval_shape(optimizer.init, params)``, without tracing ``init`` again where :func:`initial_state`
    already compared it for this key (an ``init`` that traced with its numbers as inputs did not shape its
    state by their values; one that tests a number's Python type before its value could, and gets
    :func:`initial_state`'s state for the first value it met, as there). ``fit`` checks a given ``opt_state``
    against it at every call (an estimator's ~10 per ``fit``: ~2 ms of tracing each)."""
    if split_parts is not None and _same_in_a_program(split_parts[1], params):
        skeleton, leaves = split_parts
        shapes = _INIT_SHAPES.get(_init_key(skeleton, leaves, params))
        if shapes is not None:
            return shapes
    return jax.eval_shape(optimizer.init, params)


def _init_key(skeleton: Any, leaves: tuple, params: Any) -> Any:
    """What :func:`initial_state`'s verdict depends on: the code, the numbers' types, the params' abstract values."""
    config: Any = jax.config
    avals = tuple(jax.typeof(p) for p in jax.tree.leaves(params))
    settings = (config.jax_numpy_dtype_promotion, config.jax_enable_x64)
    return (skeleton, tuple(type(v) for v in leaves), jax.tree.structure(params), avals, settings)


def _remember(key: Any, verdict: bool, shapes: Any = None) -> None:
    if len(_INIT_VERDICTS) < 1024:  # bounded, as lifted's
        _INIT_VERDICTS[key] = verdict
        if shapes is not None:
            _INIT_SHAPES[key] = shapes


def _matches_eager_init(optimizer: Any, params: Any, state: Any) -> bool:
    """Whether ``state`` has the structure, dtypes and weak types of ``optimizer.init(params)`` (traced, not run)."""
    want = jax.eval_shape(optimizer.init, params)  # structure, dtypes and weak types of optax's own init
    got = jax.eval_shape(lambda s: s, state)
    return jax.tree.structure(got) == jax.tree.structure(want) and all(  # type: ignore[operator]
        (a.shape, a.dtype, a.weak_type) == (b.shape, b.dtype, b.weak_type)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want))
    )


def _same_in_a_program(leaves: tuple, params: Any) -> bool:
    """Whether an init traced with ``leaves`` as inputs computes what the eager init computes: Python numbers
    only (a numpy scalar would be a strongly typed input, keeping its own dtype where optax converts it), and
    float32/float64 params (a Python float meets narrower params rounded twice: to float32, then to theirs)."""
    return all(type(v) in (float, int) for v in leaves) and all(
        np.dtype(getattr(p, "dtype", np.float64)) in (np.dtype(np.float32), np.dtype(np.float64))
        for p in jax.tree.leaves(params)
    )


_HOST_INITS: dict[Any, Any] = {}  # initial_state's cache key -> its init as numpy runs it (None: compiled)


def _state(key: Any, skeleton: Any, leaves: tuple, params: Any) -> Any:
    """The init's state: filled in by numpy where it only builds constants (:mod:`jaxnet._host_init`: no
    program compiled, ~50-90 ms in a fresh process), else by the compiled :func:`_init`."""
    found = _HOST_INITS.get(key, _COMPUTE)  # one lookup: hashing the key walks the skeleton
    if found is _COMPUTE:
        found = host_init.program(lambda h, p: build(skeleton, h).init(p), leaves, params)
        if len(_HOST_INITS) < 1024:  # bounded, as the verdicts
            _HOST_INITS[key] = found
    return _init(skeleton, leaves, params) if found is None else host_init.run(found, leaves)


@partial(jax.jit, static_argnums=0)
def _init(skeleton: Any, leaves: tuple, params: Any) -> Any:
    return build(skeleton, leaves).init(params)

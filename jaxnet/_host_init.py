"""An optimizer's initial state filled in by numpy, where its ``init`` only builds constants.

``optax.adam(lr).init(params)`` traces to a literal step count and one
``broadcast_in_dim 0.0`` per parameter: nothing is computed from the
parameters' values. Compiled, that is a program of its own (~50-90 ms in a
fresh process, ~20 ms to trace, lower and load from the persistent cache);
numpy fills it in microseconds. :func:`program` reads the traced ``init`` once
per optimizer kind; :func:`run` evaluates it for each call's numbers (with
:func:`jaxnet._host_eval.eval_jaxpr`, on the equations :func:`program` admits).

Only what numpy computes exactly as optax's own (eager) ``init`` does is
evaluated: a literal, a number input (the learning rate ``inject_hyperparams``
keeps in its state), a scalar broadcast to a shape, a conversion to a float
type or to the same type (IEEE-754 round to nearest), and a copy. (A compiled
``init`` flushes a subnormal result of a float64 -> float32 conversion to zero
on XLA:CPU; numpy and the eager init keep it.) An equation whose result is
not used is skipped. Anything else an output needs (arithmetic, a nested
program, the params, a constant array), a weakly typed output (numpy has no
weak types) or an effect makes :func:`program` return None, and the caller
compiles the ``init`` as before.

>>> import optax, numpy as np
>>> params = {"W1": np.ones((3, 2), np.float32), "b1": np.ones(3, np.float32)}
>>> p = program(lambda lr, params: optax.adam(lr[0]).init(params), (1e-3,), params)
>>> state = run(p, (0.5,))
>>> type(state[0].mu["W1"]).__name__, state[0].mu["W1"].shape, int(state[0].count)
('ndarray', (3, 2), 0)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxnet import _host_eval as host_eval
from jaxnet._host_eval import literal

__all__ = ["HostInit", "program", "run"]


class HostInit(NamedTuple):
    """A traced ``init`` that numpy evaluates: its jaxpr, the needed equations, and the state's tree."""

    jaxpr: Any  # jax's Jaxpr: invars are the numbers, then the params
    eqns: tuple  # the equations the outputs need, in order
    tree: Any  # the state's PyTreeDef


def _exact(eqn: Any) -> bool:
    """Whether numpy computes ``eqn`` as XLA does (its output a strongly typed array of the outvar's dtype)."""
    name, out = eqn.primitive.name, eqn.outvars[0].aval
    if len(eqn.outvars) != 1 or getattr(out, "weak_type", False):
        return False
    if name == "broadcast_in_dim":  # a scalar filled in: no rounding
        return len(eqn.invars) == 1 and eqn.invars[0].aval.shape == ()
    if name == "convert_element_type":  # to a float type (round to nearest) or to its own type
        source = eqn.invars[0].aval.dtype
        return np.issubdtype(out.dtype, np.floating) or source == out.dtype
    return name == "copy"


def program(init: Callable[[tuple, Any], Any], numbers: tuple, params: Any) -> HostInit | None:
    """``init(numbers, params)`` traced with the numbers and params as inputs; None where numpy cannot run it."""
    closed, shapes = jax.make_jaxpr(init, return_shape=True)(numbers, params)
    jaxpr, n = closed.jaxpr, len(numbers)
    if closed.effects or any(getattr(a, "weak_type", False) for a in closed.out_avals):
        return None
    known = set(jaxpr.invars[:n])  # the numbers; the params, constants and anything else are unknown
    needed = {v for v in jaxpr.outvars if not literal(v)}
    eqns = []
    for eqn in reversed(jaxpr.eqns):  # backwards: only what an output needs
        if not needed.intersection(eqn.outvars):
            continue
        if not _exact(eqn):
            return None
        eqns.append(eqn)
        needed.difference_update(eqn.outvars)
        needed.update(v for v in eqn.invars if not literal(v))
    if not needed <= known:
        return None
    return HostInit(jaxpr, tuple(reversed(eqns)), jax.tree.structure(shapes))


def run(p: HostInit, numbers: tuple) -> Any:
    """The state, as numpy arrays, for these numbers (of the types ``program`` was traced with)."""
    jaxpr = p.jaxpr
    args: list[Any] = [np.asarray(x, v.aval.dtype) for v, x in zip(jaxpr.invars, numbers)]
    args += [None] * (len(jaxpr.invars) - len(numbers))  # the params: never read (see program)
    outs = host_eval.eval_jaxpr(jaxpr, [None] * len(jaxpr.constvars), args, p.eqns, any_dtype=True)
    return jax.tree.unflatten(p.tree, [np.array(o, copy=True) for o in outs])  # each leaf its own array

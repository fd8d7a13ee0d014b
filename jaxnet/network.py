"""The network as data: one table of hidden activations, one of output heads, one key parser.

Every compute path (the forward pass, the hand-derived backward pass, the
sweep kernel, validation, checkpoints, plotting, the CLI) reads these tables;
nothing else in jaxnet parses ``"W1"``-style keys, and no code outside this
module compares a head or activation name (``tests/test_network_table.py``
scans the package): every distinction is a field of the table. A head has
its decision rule ``decide`` (``predict``), its ``scores`` (accuracy, or RMSE
and R²), ``classifier``, ``min_outputs``, the label kind ``labels`` and its
``noun``; an activation has the ``kinks`` where its derivative jumps.

A network is ``L`` dense layers ``z_l = W_l a_{l-1} + b_l`` (``a_0 = x``); the
hidden layers apply ``a_l = f(z_l)`` with ``f`` from :data:`ACTIVATIONS`, the
output layer a head from :data:`HEADS`. Each head is a *canonical pair* of an
output function and a loss computed from the logits, so the output delta of
backpropagation is the same line for all of them::

    y_hat = g(z_L)                 sigmoid | softmax | identity
    L     = sum_n r_n l(z_n, y_n)  r_n = w_n / (m sum_n w_n), m = n_out for
                                   per-unit heads (sigmoid, identity), 1 for softmax
    dL/dz_L = r (g(z_L) - y)       for every head

    head      l(z, y) per example                         labels
    sigmoid   sum_o softplus(z_o) - y_o z_o   (BCE)        in [0, 1] (soft, multi-label)
    softmax   logsumexp(z) - sum_o y_o z_o    (CE)         classes 0..C-1, or rows summing to 1
    identity  sum_o (z_o - y_o)^2 / 2         (half MSE)   any finite value

So the identity head's loss is *half* the mean squared error,
``L = sum_{n,o} (z_no - y_no)^2 / (2 N n_out)`` (as scikit-learn's
``MLPRegressor``), whose derivative is exactly ``(z - y) / (N n_out)``.

Adding an activation is one entry in :data:`ACTIVATIONS` (the function and its
derivative, both of ``z``) plus its name in the tests' parameter list.

>>> import jax.numpy as jnp
>>> sorted(ACTIVATIONS), sorted(HEADS)
(['gelu', 'identity', 'leaky_relu', 'relu', 'sigmoid', 'tanh'], ['identity', 'sigmoid', 'softmax'])
>>> float(ACTIVATIONS["relu"].grad(jnp.array(0.0)))
0.0
>>> param_keys(2)
['W1', 'b1', 'W2', 'b2']
>>> HEADS["softmax"].min_outputs, HEADS["identity"].classifier, ACTIVATIONS["relu"].kinks
(2, False, (0.0,))
>>> HEADS["softmax"].decide(jnp.array([[0.2, 0.7, 0.1]])).tolist()
[1]
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp

from jaxnet._checks import one_of, refuse

__all__ = [
    "ACTIVATIONS",
    "HEADS",
    "Activation",
    "ActivationName",
    "Head",
    "HeadName",
    "activation_named",
    "head_named",
    "layer_count",
    "multiply_adds",
    "param_keys",
    "sigmoid",
    "softplus",
]

ActivationName = Literal["relu", "tanh", "sigmoid", "gelu", "leaky_relu", "identity"]
HeadName = Literal["sigmoid", "softmax", "identity"]
Fn = Callable[[jax.Array], jax.Array]


def sigmoid(z: jax.Array) -> jax.Array:
    """``1 / (1 + e^-z)`` computed as ``0.5 tanh(z / 2) + 0.5``.

    The same function to the last bit or two, but XLA's ``tanh`` needs one
    division where ``exp`` plus ``1 / (1 + e)`` need two, which shows in a
    worked-example step on a CPU (per-step times: ``benchmarks/RESULTS.md``,
    section 1; ``benchmarks/seed_steps.py`` times the step).
    """
    return 0.5 * jnp.tanh(0.5 * z) + 0.5


@jax.custom_jvp
def softplus(z: jax.Array) -> jax.Array:
    """``log(1 + e^z)``, exact for any ``z`` (``logaddexp(z, 0)``), with derivative ``sigmoid(z)``.

    The custom derivative makes ``jax.grad`` of a loss built on it cost what
    the hand-derived pass costs (``logaddexp``'s own derivative evaluates
    ``exp``, ``log1p`` and ``exp`` again).
    """
    return jnp.logaddexp(z, 0.0)


@softplus.defjvp
def _softplus_jvp(primals: tuple[jax.Array], tangents: tuple[jax.Array]) -> tuple[jax.Array, jax.Array]:
    (z,), (dz,) = primals, tangents
    return softplus(z), sigmoid(z) * dz


class Activation(NamedTuple):
    """A hidden activation ``a = fn(z)`` and its derivative ``grad(z) = da/dz`` (a function of ``z``).

    ``kinks``: the points where the derivative jumps (``(0.0,)`` for ReLU), where
    central differences do not apply.
    """

    fn: Fn
    grad: Fn
    math: str
    kinks: tuple[float, ...] = ()


class Head(NamedTuple):
    """An output head: ``output(z) = y_hat``, ``loss(z, y)`` per example (summed over outputs), label kind.

    ``per_unit``: the mean runs over outputs too (``m = n_out`` in ``r_n``).
    ``labels``: ``"probabilities"`` (in [0, 1]), ``"classes"`` (integer
    classes ``(N,)`` or rows summing to 1) or ``"values"`` (any finite number).
    ``noun``: what error messages call the labels. ``classifier``: predictions
    are classes (accuracy applies, splits are stratified), not values.
    ``min_outputs``: the fewest output units the head accepts.
    ``decide(y_hat)``: the predictions from the outputs ``y_hat`` (``(N, n_out)``
    or ``(n_out,)``), the trailing axis dropped where it has one unit.
    ``scores(y_hat, y, mask)``: the head's scores beside the loss, ``y`` in the
    output's shape (one-hot rows for classes), as jax scalars, over the rows
    where the bool ``mask`` (one per row) is True (padded rows are not).
    """

    output: Fn
    loss: Callable[[jax.Array, jax.Array], jax.Array]
    per_unit: bool
    labels: str
    math: str
    noun: str
    classifier: bool
    min_outputs: int
    decide: Fn
    scores: Callable[[jax.Array, jax.Array, jax.Array], dict[str, jax.Array]]


_GELU_C = math.sqrt(2.0 / math.pi)


def _gelu(z: jax.Array) -> jax.Array:
    return jax.nn.gelu(z, approximate=True)


def _gelu_grad(z: jax.Array) -> jax.Array:
    """d/dz of ``z/2 (1 + tanh(u))``, ``u = c (z + 0.044715 z^3)``: ``(1 + t)/2 + z/2 (1 - t^2) du/dz``."""
    t = jnp.tanh(_GELU_C * (z + 0.044715 * z**3))
    return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * _GELU_C * (1 + 3 * 0.044715 * z * z)


def _sigmoid_grad(z: jax.Array) -> jax.Array:
    s = sigmoid(z)
    return s * (1 - s)


def _tanh_grad(z: jax.Array) -> jax.Array:
    t = jnp.tanh(z)
    return 1 - t * t


ACTIVATIONS: MappingProxyType[str, Activation] = MappingProxyType(
    {
        "relu": Activation(
            jax.nn.relu, lambda z: (z > 0).astype(z.dtype), "max(z, 0); f' = [z > 0] (0 at 0)", kinks=(0.0,)
        ),
        "tanh": Activation(jnp.tanh, _tanh_grad, "tanh(z); f' = 1 - tanh(z)^2"),
        "sigmoid": Activation(sigmoid, _sigmoid_grad, "1 / (1 + e^-z); f' = s (1 - s)"),
        "gelu": Activation(_gelu, _gelu_grad, "z/2 (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))) (jax.nn.gelu, tanh form)"),
        "leaky_relu": Activation(
            lambda z: jnp.where(z >= 0, z, 0.01 * z),
            lambda z: jnp.where(z >= 0, 1.0, 0.01).astype(z.dtype),
            "z if z >= 0 else 0.01 z; f' = 1 if z >= 0 else 0.01",
            kinks=(0.0,),
        ),
        "identity": Activation(lambda z: z, jnp.ones_like, "z; f' = 1"),
    }
)
"""Hidden activations by name: ``ACTIVATIONS[name].fn``, ``.grad`` and ``.kinks``."""


def _softmax(z: jax.Array) -> jax.Array:
    return jax.nn.softmax(z, axis=-1)


def _squeezed(out: jax.Array) -> jax.Array:
    """``out`` without its trailing axis where that axis has one unit."""
    return out[..., 0] if out.shape[-1] == 1 else out


def _threshold(y_hat: jax.Array) -> jax.Array:
    """0/1 labels ``[y_hat >= 0.5]``, int32, ``(N,)`` for one unit, else ``(N, n_out)`` (multi-label)."""
    return _squeezed((y_hat >= 0.5).astype(jnp.int32))


def _argmax(y_hat: jax.Array) -> jax.Array:
    """The class ``argmax_c y_hat_c``, int32, shape ``(N,)``."""
    return jnp.argmax(y_hat, axis=-1).astype(jnp.int32)


def _rows(y_hat: jax.Array, y: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(y_hat, y)`` as ``(rows, n_out)`` with the masked-out rows zeroed, and the mask as ``(rows, 1)``."""
    keep = jnp.reshape(mask, (-1, 1))
    shape = (keep.shape[0], y.shape[-1])
    zero = lambda a: jnp.where(keep, jnp.reshape(a, shape), jnp.zeros((), a.dtype))  # noqa: E731
    return zero(y_hat), zero(y), keep


def _label_accuracy(y_hat: jax.Array, y: jax.Array, mask: jax.Array) -> dict[str, jax.Array]:
    """The fraction of elements with ``[y_hat >= 0.5] == [y >= 0.5]`` (per label when multi-label)."""
    y_hat, y, keep = _rows(y_hat, y, mask)
    right = jnp.sum(((y_hat >= 0.5) == (y >= 0.5)) & keep)
    return {"accuracy": right / (jnp.sum(keep) * y.shape[-1])}


def _class_accuracy(y_hat: jax.Array, y: jax.Array, mask: jax.Array) -> dict[str, jax.Array]:
    """The fraction of rows with ``argmax y_hat == argmax y``."""
    y_hat, y, keep = _rows(y_hat, y, mask)
    right = jnp.sum((jnp.argmax(y_hat, axis=-1) == jnp.argmax(y, axis=-1)) & keep[:, 0])
    return {"accuracy": right / jnp.sum(keep)}


def _regression_scores(y_hat: jax.Array, y: jax.Array, mask: jax.Array) -> dict[str, jax.Array]:
    """RMSE over every element; R² per output, averaged over outputs (scikit-learn's ``r2_score``).

    Computed on ``y_hat / s`` and ``y / s`` with ``s = max(|y|, |y_hat|)``: every square is at most 4, so no
    sum overflows (a float32 ``sum (y - mean y)^2`` of targets near 1e19 was inf, and R² came out 1.0). R² does
    not depend on ``s``; ``RMSE = s * sqrt(mean(((y_hat - y) / s)^2))``. Masked-out rows count in nothing.
    """
    z, rows, keep = _rows(y_hat, y, mask)
    count = jnp.sum(keep).astype(rows.dtype)
    s = jnp.maximum(jnp.max(jnp.abs(rows)), jnp.max(jnp.abs(z)))
    s = jnp.where((s > 0) & jnp.isfinite(s), s, jnp.ones_like(s))
    err, ys = z / s - rows / s, rows / s
    spread = jnp.where(keep, ys - jnp.sum(ys, axis=0, keepdims=True) / count, jnp.zeros((), ys.dtype))
    total = jnp.sum(jnp.square(spread), axis=0)
    rmse = s * jnp.sqrt(jnp.sum(err * err) / (count * rows.shape[-1]))
    return {"rmse": rmse, "r2": jnp.mean(1 - jnp.sum(err * err, axis=0) / total)}


HEADS: MappingProxyType[str, Head] = MappingProxyType(
    {
        "sigmoid": Head(
            sigmoid,
            lambda z, y: jnp.sum(softplus(z) - y * z, axis=-1),
            True,
            "probabilities",
            "independent sigmoids, binary cross-entropy softplus(z) - y z",
            noun="labels",
            classifier=True,
            min_outputs=1,
            decide=_threshold,
            scores=_label_accuracy,
        ),
        "softmax": Head(
            _softmax,
            lambda z, y: jax.nn.logsumexp(z, axis=-1) - jnp.sum(y * z, axis=-1),
            False,
            "classes",
            "softmax, categorical cross-entropy logsumexp(z) - y . z",
            noun="class labels or rows",
            classifier=True,
            min_outputs=2,
            decide=_argmax,
            scores=_class_accuracy,
        ),
        "identity": Head(
            lambda z: z,
            lambda z, y: 0.5 * jnp.sum(jnp.square(z - y), axis=-1),
            True,
            "values",
            "linear output, half squared error (z - y)^2 / 2",
            noun="targets",
            classifier=False,
            min_outputs=1,
            decide=_squeezed,
            scores=_regression_scores,
        ),
    }
)
"""Output heads by name: ``HEADS[name].output``, ``.loss`` (from logits), ``.decide``, ``.scores`` and the flags."""


def activation_named(name: Any, argument: str = "activation") -> Activation:
    """The table entry for ``name``, or a ValueError naming the argument and the choices."""
    return ACTIVATIONS[one_of(argument, name, ACTIVATIONS)]


def head_named(name: Any, argument: str = "head") -> Head:
    """The table entry for ``name``, or a ValueError naming the argument and the choices."""
    return HEADS[one_of(argument, name, HEADS)]


def check_outputs(head: Any, n_out: int, argument: str = "head", received: Any = None) -> None:
    """Refuse ``n_out`` outputs below ``head``'s ``min_outputs`` (softmax: 2), naming ``argument``, showing ``received``.

    The one such rule, for ``init_model``, every checked call and checkpoints.

    >>> check_outputs("softmax", 3)
    >>> check_outputs("softmax", 1, "sizes", (3, 1))
    Traceback (most recent call last):
    ...
    ValueError: sizes: expected at least 2 outputs for head 'softmax' (use 'sigmoid' for two classes), got (3, 1)
    """
    least = head_named(head).min_outputs
    if n_out < least:
        shown = f"{n_out} output(s)" if received is None else received
        raise refuse(argument, f"at least {least} outputs for head {head!r} (use 'sigmoid' for two classes)", shown)


_KEY = re.compile(r"^([Wb])([1-9][0-9]*)$")


def param_keys(n_layers: int) -> list[str]:
    """``["W1", "b1", ..., "WL", "bL"]``, the parameter dict's keys in layer order."""
    return [f"{c}{l}" for l in range(1, n_layers + 1) for c in "Wb"]


def layer_count(keys: Iterable[Any], argument: str = "params") -> int:
    """The number of layers ``L`` of a parameter dict with these keys: the one parser of ``W{l}``/``b{l}``.

    Raises ValueError naming ``argument`` for an unknown key or a gap in the
    numbering (``{W1, b1, W3, b3}`` is missing layer 2).

    >>> layer_count(["W1", "b1", "W2", "b2"])
    2
    >>> layer_count(["W1", "b1", "W3", "b3"])
    Traceback (most recent call last):
    ...
    ValueError: params: missing key(s) ['W2', 'b2']; layers must be numbered 1..L without gaps (got keys ['W1', 'W3', 'b1', 'b3'])
    """
    keys = list(keys)
    if not keys:
        raise ValueError(f"{argument}: expected at least one layer ('W1', 'b1'), got an empty dict")
    numbers = []
    for key in keys:
        m = _KEY.match(key) if isinstance(key, str) else None
        if m is None:
            raise ValueError(f"{argument}: unexpected key {key!r}; expected keys 'W1', 'b1', ..., 'WL', 'bL'")
        numbers.append(int(m.group(2)))
    depth = max(numbers)
    missing = [k for k in param_keys(depth) if k not in set(keys)]
    if missing:
        raise ValueError(
            f"{argument}: missing key(s) {missing}; layers must be numbered 1..L without gaps (got keys {sorted(keys)})"
        )
    return depth


def depth(params: Mapping[str, Any]) -> int:
    """The number of layers ``L`` of a parameter dict already checked for layout: ``len(params) // 2``.

    The one place that knows a layer is two arrays; code that has not checked
    the keys uses :func:`layer_count`, which parses them.

    >>> depth({"W1": 0, "b1": 0, "W2": 0, "b2": 0})
    2
    """
    return len(params) // 2


def widths(params: Mapping[str, Any]) -> tuple[int, ...]:
    """The widths ``(in, h1, ..., out)`` of a parameter dict, read from its ``W{l}`` shapes (``(out, in)``).

    The one reader of layer sizes from params: plots, checkpoints, fit's cost
    model and the CLI use it, and :func:`jaxnet.layer_sizes` is it after the
    layout checks.

    >>> import numpy as np
    >>> widths({"W1": np.zeros((3, 2)), "b1": np.zeros(3), "W2": np.zeros((1, 3)), "b2": np.zeros(1)})
    (2, 3, 1)
    """
    L = depth(params)
    return (int(params["W1"].shape[1]), *(int(params[f"W{l}"].shape[0]) for l in range(1, L + 1)))


def multiply_adds(sizes: Iterable[int], rows: int = 1) -> int:
    """``rows * sum_l in_l out_l``: the multiply-adds of one forward pass over ``rows`` examples.

    The measure of a problem's size that ``fit`` (its first chunk), ``sweep`` (its kernel) and the
    CPU-or-accelerator rule all use.

    >>> multiply_adds((2, 3, 1))
    9
    """
    sizes = list(sizes)
    return rows * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))

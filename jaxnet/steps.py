"""Training steps: one optax update, and a jitted step for a Python loop.

A step is ``g = dL/dtheta; updates, state = optimizer.update(g, state, theta);
theta = theta + updates``. :func:`make_train_step` jits one step for a Python
loop; :func:`jaxnet.fit` runs many of them fused in one compiled program
(``jaxnet._engine``: blocks of steps as ``lax.scan`` inside a ``lax.while_loop``
whose trip count is a traced argument).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, partial
from typing import Any, cast

import jax
import jax.numpy as jnp
import optax

from jaxnet import _kernels as kernels
from jaxnet._checks import refuse
from jaxnet._options import check_compute_dtype, check_optimizer, execution_context, resolve_gradients
from jaxnet._validate import merge_spec
from jaxnet.network import ActivationName, HeadName
from jaxnet.spec import Model, Params, Spec

__all__ = ["sgd", "make_train_step"]

LossFn = Callable[[Params, jax.Array, jax.Array, "jax.Array | None"], jax.Array]
ValueAndGrads = Callable[..., tuple["jax.Array | None", Params]]


def sgd(learning_rate: float = 0.1) -> optax.GradientTransformation:
    """Plain gradient descent, ``theta <- theta - learning_rate * g``: ``optax.sgd``.

    >>> import jaxnet, optax
    >>> opt = jaxnet.sgd(0.1)
    >>> isinstance(opt, optax.GradientTransformation)
    True
    """
    return optax.sgd(learning_rate)


@lru_cache(maxsize=256)
def gradient_fn(
    gradients: str, loss_fn: LossFn | None, activation: str, head: str, compute_dtype: Any = None
) -> ValueAndGrads:
    """``vg(params, x, y, w, with_value) -> (loss or None, grads)``, resolved once in Python before ``jit``.

    Cached, so equal options give the same function object (a ``jit`` cache hit).
    """
    if gradients == "manual":

        def manual(params: Params, x: jax.Array, y: jax.Array, w: Any, with_value: bool) -> tuple[Any, Params]:
            return kernels.value_and_grads(params, x, y, w, activation, head, compute_dtype, with_value=with_value)

        return manual
    fn = loss_fn or partial(kernels.loss, activation=activation, head=head, compute_dtype=compute_dtype)

    def autodiff(params: Params, x: jax.Array, y: jax.Array, w: Any, with_value: bool) -> tuple[Any, Params]:
        if with_value:
            return jax.value_and_grad(fn)(params, x, y, w)
        return None, jax.grad(fn)(params, x, y, w)

    return autodiff


def apply_update(
    optimizer: optax.GradientTransformation, params: Params, opt_state: Any, g: Params
) -> tuple[Params, Any]:
    """One optimizer step from the gradient ``g``: ``optimizer.update``, then ``optax.apply_updates``."""
    updates, opt_state = optimizer.update(g, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def make_train_step(
    optimizer: optax.GradientTransformation,
    *,
    loss_fn: LossFn | None = None,
    gradients: str = "auto",
    activation: ActivationName | None = None,
    head: HeadName | None = None,
    spec: Spec | Model | None = None,
    device: jax.Device | None = None,
    precision: str | None = None,
    compute_dtype: Any = None,
) -> Callable[[Any, Any, Any, Any], tuple[Any, Any, jax.Array]]:
    """A jitted, pure training step ``step(params, opt_state, x, y) -> (params, opt_state, loss)``.

    ``loss`` is the loss at the parameters passed in (before the update).
    ``loss_fn(params, x, y, sample_weight)`` defaults to :func:`jaxnet.loss`
    for ``activation`` and ``head``. ``gradients`` is the option of
    :func:`jaxnet.fit`: ``"auto"`` (default) takes the hand-derived pass for
    the built-in loss and autodiff for ``loss_fn``. ``x`` and ``y`` are cast to
    the params' dtype and ``y`` is reshaped to the output's shape inside (for
    softmax, pass one-hot rows).

    ``params`` may be a :class:`~jaxnet.Model`: the step then uses the
    model's activation and head and returns a Model (``opt_state`` from
    ``optimizer.init(model)`` or ``optimizer.init(model.params)``). ``spec`` (a
    :class:`~jaxnet.Spec`, or a Model for its spec), ``activation`` and
    ``head`` fix the network the step is for: a dict uses them (default
    ``"relu"``/``"sigmoid"``), a Model built otherwise is refused when the
    step is traced (a ValueError naming the argument).

    ``device``, ``precision`` and ``compute_dtype`` are those of :func:`jaxnet.fit`
    (the step runs on ``device``; ``jax.default_matmul_precision``; bfloat16
    matmuls with float32 parameters). The step is the hot path: it does not
    validate. Call :func:`jaxnet.validate` once before your loop.

    >>> import jaxnet, optax
    >>> params, x, y = jaxnet.seed_example()
    >>> opt = optax.sgd(0.1)
    >>> step = jaxnet.make_train_step(opt)
    >>> params, state, loss_before = step(params, opt.init(params), x, y)
    >>> round(float(loss_before), 6)
    0.657313
    """
    optimizer = check_optimizer(optimizer)
    if spec is not None:
        if not isinstance(spec, (Spec, Model)):
            raise refuse("spec", "a jaxnet.Spec or jaxnet.Model", type(spec).__name__, TypeError)
        fixed = merge_spec(spec.spec if isinstance(spec, Model) else spec, activation, head)
        activation, head = fixed.activation, fixed.head
    merge_spec(None, activation, head)  # checks the names
    compute_dtype = check_compute_dtype(compute_dtype)
    context = execution_context(device, precision)
    how = resolve_gradients(gradients, loss_fn)
    step = jax.jit(_step_fn(optimizer, how, loss_fn, activation, head, compute_dtype))
    return step if device is None and precision is None else _placed(step, device, context)


def _step_fn(
    optimizer: optax.GradientTransformation, how: str, loss_fn: Any, activation: Any, head: Any, compute_dtype: Any
) -> Callable[[Any, Any, Any, Any], tuple[Any, Any, jax.Array]]:
    """The step :func:`make_train_step` jits, for a params dict or a :class:`~jaxnet.Model` (static: its spec)."""

    def vg_for(spec: Spec) -> ValueAndGrads:
        return gradient_fn(how, loss_fn, spec.activation, spec.head, compute_dtype)

    def step(params: Any, opt_state: Any, x: Any, y: Any) -> tuple[Any, Any, jax.Array]:
        if not isinstance(params, Model):
            return _update(optimizer, vg_for(merge_spec(None, activation, head)), params, opt_state, x, y)
        built = merge_spec(params.spec, activation, head)  # static: the spec is the pytree's metadata
        if not _holds_model(opt_state):  # optimizer.init(model.params)
            new, opt_state, value = _update(optimizer, vg_for(built), params.params, opt_state, x, y)
            return Model(new, built), opt_state, value
        return _update(optimizer, _on_model(vg_for(built), built), params, opt_state, x, y)  # init(model)

    return step


def _update(optimizer: Any, vg: Any, params: Any, opt_state: Any, x: Any, y: Any) -> tuple[Any, Any, jax.Array]:
    """One step on ``(x, y)`` cast to the params' dtype; the loss before it."""
    dtype = jax.tree.leaves(params)[0].dtype
    x, y = jnp.asarray(x).astype(dtype), jnp.asarray(y).astype(dtype)
    value, g = vg(params, x, y, None, True)
    params, opt_state = apply_update(optimizer, params, opt_state, g)
    return params, opt_state, cast(jax.Array, value)


def _on_model(vg: ValueAndGrads, built: Spec) -> Callable[..., tuple[Any, Model]]:
    """``vg`` for a :class:`~jaxnet.Model` whose optimizer state mirrors the Model: the gradient a Model too."""

    def vg_model(m: Model, x: Any, y: Any, w: Any, with_value: bool) -> tuple[Any, Model]:
        value, g = vg(m.params, x, y, w, with_value)
        return value, Model(g, built)

    return vg_model


def _placed(step: Callable, device: Any, context: Any) -> Callable[[Any, Any, Any, Any], tuple[Any, Any, jax.Array]]:
    """``step`` run on ``device`` (arguments moved there) under ``context`` (the matmul precision)."""

    def placed(params: Any, opt_state: Any, x: Any, y: Any) -> tuple[Any, Any, jax.Array]:
        args = (params, opt_state, x, y) if device is None else jax.device_put((params, opt_state, x, y), device)
        with context:
            return step(*args)

    return placed


def _holds_model(tree: Any) -> bool:
    """Whether a :class:`~jaxnet.Model` is a node of ``tree`` (static: from the tree's structure)."""
    return any(isinstance(n, Model) for n in jax.tree.leaves(tree, is_leaf=lambda n: isinstance(n, Model)))

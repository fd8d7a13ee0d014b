"""State the network once: a :class:`Spec` (activation and head) and a :class:`Model` (params + spec).

What makes a trained network *that* network, apart from its weights, is its
hidden activation and its output head. A plain params dict does not know
them, so every call used to repeat ``activation=``/``head=`` and a forgotten
one silently computed another network. A :class:`Model` carries its
:class:`Spec` with its params; every public call that takes params accepts a
Model and uses the spec, and refuses an ``activation=``/``head=`` that
differs from it::

    model = init_model(key, (4, 8, 3), activation="tanh", head="softmax")
    model = fit(model, x, y, steps=500)[0]      # trains a tanh/softmax net
    accuracy(model, x, classes)                 # uses tanh and softmax
    accuracy(model, x, classes, activation="relu")   # ValueError: activation: ...

A Model is a JAX pytree: ``params`` is its data (the leaves), ``spec`` its
static metadata, so it passes through ``jax.jit``, ``jax.grad`` and
``jax.tree.map`` as the dict would. The params stay the plain dict
``{"W1", "b1", ..., "WL", "bL"}`` (``model.params``).

>>> import jax, jaxnet
>>> model = jaxnet.init_model(jax.random.key(0), (4, 8, 3), activation="tanh", head="softmax")
>>> model
Model(sizes=(4, 8, 3), activation='tanh', head='softmax')
>>> model.spec
Spec(activation='tanh', head='softmax')
>>> sorted(model.params), jax.tree.structure(model).num_leaves
(['W1', 'W2', 'b1', 'b2'], 4)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

from jaxnet.network import ActivationName, HeadName, activation_named, head_named, layer_count

__all__ = ["Spec", "Model"]

Params = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Spec:
    """What a network is besides its weights: the hidden ``activation`` and the output ``head``.

    Frozen and hashable (a valid ``jax.jit`` static argument); both names are
    checked against the table (:data:`jaxnet.ACTIVATIONS`, :data:`jaxnet.HEADS`)
    on construction, with a ValueError naming the argument and the choices.

    >>> import jaxnet
    >>> jaxnet.Spec()
    Spec(activation='relu', head='sigmoid')
    >>> jaxnet.Spec(head="sofmax")
    Traceback (most recent call last):
    ...
    ValueError: head: expected one of ['identity', 'sigmoid', 'softmax'],
    got 'sofmax'
    """

    activation: ActivationName = "relu"
    head: HeadName = "sigmoid"

    def __post_init__(self) -> None:
        activation_named(self.activation)
        head_named(self.head)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True, eq=False)
class Model:
    """A network: the plain params dict and the :class:`Spec` it was built with.

    A JAX pytree whose leaves are the params (``spec`` is static metadata).
    Pass it wherever jaxnet takes params (``forward``, ``predict``, ``loss``,
    ``grads``, ``accuracy``, ``evaluate``, ``fit``, ``save``, ...): the call
    uses the model's activation and head. Build one with
    :func:`jaxnet.init_model`, ``Model(params, Spec(...))`` or
    :meth:`from_checkpoint`.

    >>> import jaxnet
    >>> params, x, y = jaxnet.seed_example()
    >>> model = jaxnet.Model(params, jaxnet.Spec("tanh", "sigmoid"))
    >>> model.sizes, model.activation, model.head
    ((2, 3, 1), 'tanh', 'sigmoid')
    >>> by_model = jaxnet.forward(model, x)
    >>> by_name = jaxnet.forward(params, x, activation="tanh")
    >>> float(by_model[0]) == float(by_name[0])
    True
    """

    params: Params
    spec: Spec = dataclasses.field(default_factory=Spec, metadata={"static": True})

    def __post_init__(self) -> None:
        if not isinstance(self.spec, Spec):
            raise TypeError(f"spec: expected a jaxnet.Spec, got {type(self.spec).__name__}")

    @property
    def activation(self) -> str:
        """The hidden activation's name (a key of :data:`jaxnet.ACTIVATIONS`)."""
        return self.spec.activation

    @property
    def head(self) -> str:
        """The output head's name (a key of :data:`jaxnet.HEADS`)."""
        return self.spec.head

    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer widths ``(n_in, h1, ..., n_out)``, from the weights' shapes."""
        depth = layer_count(self.params)
        return (int(self.params["W1"].shape[1]), *(int(self.params[f"W{l}"].shape[0]) for l in range(1, depth + 1)))

    def __repr__(self) -> str:
        try:
            sizes: Any = self.sizes
        except (AttributeError, IndexError, KeyError, TypeError, ValueError):  # params not (yet) arrays
            sizes = "?"
        return f"Model(sizes={sizes}, activation={self.activation!r}, head={self.head!r})"

    @classmethod
    def from_checkpoint(cls, path: Any) -> Model:
        """The model saved at ``path`` by :func:`jaxnet.save`: its params with the recorded activation and head.

        A file that does not record them (format 1, written before they were) is refused with a
        :class:`jaxnet.CheckpointError` naming what is missing: a Model would state a guessed network.

        >>> import os, tempfile, jax, jaxnet
        >>> path = os.path.join(tempfile.mkdtemp(), "net.safetensors")
        >>> jaxnet.save(path, jaxnet.init_model(0, (2, 4, 3), head="softmax"))
        True
        >>> jaxnet.Model.from_checkpoint(path)
        Model(sizes=(2, 4, 3), activation='relu', head='softmax')
        """
        from jaxnet.checkpoints import load, require_recorded  # checkpoints imports this module

        params, meta = load(path)
        require_recorded(path, meta, "Model.from_checkpoint")
        return cls(params, Spec(meta["activation"], meta["head"]))

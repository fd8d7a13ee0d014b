"""State the network once (issue 16, point 1): ``Spec``, ``Model``, ``init_model`` and every call that takes one.

The issue's silent cases are regression tests here: a Model's activation and
head are used by every call and a differing ``activation=``/``head=`` is
refused; a dict of several outputs without ``head=`` is refused where the
head decides (predict, predict_proba, accuracy, evaluate, save).
"""

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnet

SIZES = (4, 6, 3)


@pytest.fixture(scope="module")
def net():
    """A tanh/softmax model, its inputs, and the classes it predicts (numpy's forward pass: no compilation)."""
    rng = np.random.default_rng(0)
    w1, b1 = rng.normal(0, 1.0, (SIZES[1], SIZES[0])), rng.normal(0, 0.3, SIZES[1])
    w2, b2 = rng.normal(0, 1.0, (SIZES[2], SIZES[1])), rng.normal(0, 0.3, SIZES[2])
    x = rng.normal(0, 3.0, (64, SIZES[0]))
    classes = np.argmax(np.tanh(x @ w1.T + b1) @ w2.T + b2, axis=-1)
    params = {"W1": jnp.asarray(w1), "b1": jnp.asarray(b1), "W2": jnp.asarray(w2), "b2": jnp.asarray(b2)}
    return jaxnet.Model(params, jaxnet.Spec("tanh", "softmax")), jnp.asarray(x), jnp.asarray(classes)


def explicit(model):
    return {"activation": model.activation, "head": model.head}


# ---------------------------------------------------------------- Spec and Model


def test_spec_is_frozen_hashable_and_validated():
    s = jaxnet.Spec("tanh", "softmax")
    assert s == jaxnet.Spec(activation="tanh", head="softmax") and hash(s) == hash(jaxnet.Spec("tanh", "softmax"))
    assert jaxnet.Spec() == jaxnet.Spec("relu", "sigmoid")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.head = "sigmoid"  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"^activation: expected one of \[.*'tanh'.*\], got 'tahn'"):
        jaxnet.Spec(activation="tahn")
    with pytest.raises(ValueError, match=r"^head: expected one of \['identity', 'sigmoid', 'softmax'\], got None"):
        jaxnet.Spec(head=None)  # type: ignore[arg-type]


@pytest.mark.slow
def test_model_is_a_pytree_with_a_static_spec(net):
    model, x, _ = net
    assert repr(model) == "Model(sizes=(4, 6, 3), activation='tanh', head='softmax')"
    assert model.sizes == SIZES and jaxnet.layer_sizes(model) == SIZES
    assert len(jax.tree.leaves(model)) == 4  # the params; the spec is metadata
    doubled = jax.tree.map(lambda v: 2 * v, model)
    assert isinstance(doubled, jaxnet.Model) and doubled.spec == model.spec
    np.testing.assert_array_equal(doubled.params["W1"], 2 * model.params["W1"])
    through_jit = jax.jit(lambda m: m)(model)
    assert through_jit.spec == model.spec
    with pytest.raises(TypeError, match="^spec: expected a jaxnet.Spec, got str"):
        jaxnet.Model(model.params, "tanh")  # type: ignore[arg-type]


@pytest.mark.slow
def test_init_model_mirrors_init_mlp_and_checks_the_heads_outputs():
    model = jaxnet.init_model(jax.random.key(3), (5, 4, 2), activation="gelu", head="softmax", init="glorot")
    params = jaxnet.init_mlp(jax.random.key(3), (5, 4, 2), init="glorot")
    assert model.spec == jaxnet.Spec("gelu", "softmax") and model.params.keys() == params.keys()
    for k in params:
        np.testing.assert_array_equal(model.params[k], params[k])
    assert jaxnet.init_model(0, (2, 1)).spec == jaxnet.Spec()  # documented defaults, int seed
    with pytest.raises(
        ValueError,
        match=r"^sizes: expected at least 2 outputs for head 'softmax' \(use 'sigmoid' for two classes\), got \(3, 1\)",
    ):
        jaxnet.init_model(0, (3, 1), head="softmax")
    with pytest.raises(ValueError, match="^head: expected one of"):
        jaxnet.init_model(0, (3, 2), head="softmaxx")


# ---------------------------------------------------------------- every call uses the model's spec

CALLS = {
    "forward": lambda p, x, y, **kw: jaxnet.forward(p, x, **kw),
    "forward_trace": lambda p, x, y, **kw: jaxnet.forward_trace(p, x, **kw),
    "predict": lambda p, x, y, **kw: jaxnet.predict(p, x, **kw),
    "predict_proba": lambda p, x, y, **kw: jaxnet.predict_proba(p, x, **kw),
    "loss": lambda p, x, y, **kw: jaxnet.loss(p, x, y, **kw),
    "grads": lambda p, x, y, **kw: jaxnet.grads(p, x, y, **kw),
    "manual_grads": lambda p, x, y, **kw: jaxnet.manual_grads(p, x, y, **kw),
    "numerical_grads": lambda p, x, y, **kw: jaxnet.numerical_grads(p, x[:4], y[:4], **kw),
    "accuracy": lambda p, x, y, **kw: jaxnet.accuracy(p, x, y, **kw),
    "evaluate": lambda p, x, y, **kw: jaxnet.evaluate(p, x, y, **kw),
    "validate": lambda p, x, y, **kw: jaxnet.validate(p, x, y, **kw),
}


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.slow
def test_a_model_gives_what_the_dict_with_its_spec_gives(net, name):
    model, x, classes = net
    y = (classes + 1) % SIZES[-1]  # not what the model predicts, so loss and gradients are not near 0
    got, want = CALLS[name](model, x, y), CALLS[name](model.params, x, y, **explicit(model))
    assert jax.tree.structure(got) == jax.tree.structure(want)  # grads-like calls return the plain dict
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))
    same = CALLS[name](model, x, y, **explicit(model))  # repeating the model's own spec is allowed
    assert jax.tree.structure(same) == jax.tree.structure(want)


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("argument", ["activation", "head"])
def test_an_argument_that_differs_from_the_model_is_refused(net, name, argument):
    model, x, classes = net
    other = {"activation": "relu", "head": "sigmoid"}[argument]
    with pytest.raises(
        ValueError, match=f"^{argument}: the model was built with '{getattr(model, argument)}', got '{other}'"
    ):
        CALLS[name](model, x, classes, **{argument: other})


@pytest.mark.slow
def test_silent_case_1_accuracy_uses_the_models_activation(net):
    """The issue: forgetting activation='tanh' gave 0.49 instead of 1.0 without a word."""
    model, x, classes = net
    assert jaxnet.accuracy(model, x, classes) == 1.0
    forgotten = jaxnet.accuracy(model.params, x, classes, head="softmax")  # a dict falls back to relu
    assert forgotten < 0.9  # the trap the Model closes: the same weights under relu disagree
    with pytest.raises(ValueError, match="^activation: the model was built with 'tanh', got 'relu'"):
        jaxnet.accuracy(model, x, classes, activation="relu")


@pytest.mark.parametrize("name", ["predict", "predict_proba", "accuracy", "evaluate"])
def test_silent_case_2_a_dict_of_several_outputs_needs_its_head(net, name):
    """The issue: predict(p, x) without head= returned an (N, 3) array of 0/1."""
    model, x, classes = net
    with pytest.raises(ValueError, match=r"^head: the network has 3 outputs and no head was given"):
        CALLS[name](model.params, x, classes, activation="tanh")
    # a Model knows its head: test_a_model_gives_what_the_dict_with_its_spec_gives runs each call with one


@pytest.mark.slow
def test_predict_of_a_model_and_the_dict_defaults_that_stay(net):
    model, x, classes = net
    np.testing.assert_array_equal(jaxnet.predict(model, x), jnp.argmax(jaxnet.forward(model, x), axis=-1))
    assert jaxnet.predict(model.params, x, head="sigmoid").shape == (64, 3)  # multi-label, when asked for
    one = jaxnet.init_mlp(0, (4, 3, 1), dtype=jnp.float64)  # one output: no ambiguity, relu/sigmoid as documented
    np.testing.assert_array_equal(
        jaxnet.predict(one, x), jaxnet.predict(jaxnet.Model(one, jaxnet.Spec("relu", "sigmoid")), x)
    )
    labels = jax.nn.one_hot(classes, SIZES[-1], dtype=x.dtype)  # loss keeps today's rule: a dict means sigmoid
    assert float(jaxnet.loss(model.params, x, labels)) == float(jaxnet.loss(model.params, x, labels, head="sigmoid"))


@pytest.mark.slow
def test_silent_case_3_save_records_the_models_spec(net, tmp_path):
    """The issue: save(path, params) of a softmax/tanh net recorded head sigmoid, activation relu."""
    model, x, _ = net
    path = os.fspath(tmp_path / "net.safetensors")
    with pytest.raises(ValueError, match="^head: the network has 3 outputs and no head was given"):
        jaxnet.save(path, model.params)
    assert not os.path.exists(path)
    with pytest.raises(ValueError, match="^head: the model was built with 'softmax', got 'sigmoid'"):
        jaxnet.save(path, model, head="sigmoid")
    jaxnet.save(path, model, metadata={"step": 3})
    params, meta = jaxnet.load(path)  # load keeps its (params, metadata) form
    assert (meta["activation"], meta["head"], meta["step"]) == ("tanh", "softmax", 3)
    loaded = jaxnet.Model.from_checkpoint(path)
    assert loaded.spec == model.spec
    np.testing.assert_array_equal(jaxnet.predict(loaded, x), jaxnet.predict(model, x))


@pytest.mark.slow
def test_fit_returns_a_model_trained_with_its_spec(net):
    model, x, classes = net
    y = (classes + 1) % SIZES[-1]
    opt = optax.sgd(0.05)
    trained, _, history = jaxnet.fit(model, x, y, steps=5, optimizer=opt, progress=False)
    want, _, _ = jaxnet.fit(model.params, x, y, steps=5, optimizer=opt, progress=False, **explicit(model))
    assert isinstance(trained, jaxnet.Model) and trained.spec == model.spec
    for k in want:
        np.testing.assert_array_equal(trained.params[k], want[k])
    assert history["loss"][-1] < history["loss"][0]
    with pytest.raises(ValueError, match="^head: the model was built with 'softmax', got 'identity'"):
        jaxnet.fit(model, x, y, steps=1, head="identity", progress=False)


@pytest.mark.slow
def test_a_train_step_takes_a_model_and_refuses_another_spec(net):
    model, x, classes = net
    y = jax.nn.one_hot((classes + 1) % SIZES[-1], SIZES[-1], dtype=x.dtype)
    opt = optax.sgd(0.1, momentum=0.9)  # a state shaped like the params
    state = opt.init(model.params)
    new, _, value = jaxnet.make_train_step(opt)(model, state, x, y)  # no spec given: the model's
    want, _, want_value = jaxnet.make_train_step(opt, **explicit(model))(model.params, state, x, y)
    assert isinstance(new, jaxnet.Model) and new.spec == model.spec and float(value) == float(want_value)
    for k in want:
        np.testing.assert_array_equal(new.params[k], want[k])
    from_model_state = jaxnet.make_train_step(opt)(model, opt.init(model), x, y)  # a state that mirrors the Model
    assert isinstance(from_model_state[1][0].trace, jaxnet.Model) and float(from_model_state[2]) == float(want_value)
    for k in want:
        np.testing.assert_array_equal(from_model_state[0].params[k], want[k])
    for_model = jaxnet.make_train_step(opt, spec=model)  # a dict then uses the model's spec
    assert float(for_model(model.params, state, x, y)[2]) == float(want_value)
    with pytest.raises(ValueError, match="^activation: the model was built with 'tanh', got 'relu'"):
        jaxnet.make_train_step(opt, activation="relu")(model, state, x, y)
    with pytest.raises(ValueError, match="^head: the model was built with 'softmax', got 'sigmoid'"):
        jaxnet.make_train_step(opt, spec=model, head="sigmoid")
    with pytest.raises(TypeError, match="^spec: expected a jaxnet.Spec or jaxnet.Model, got str"):
        jaxnet.make_train_step(opt, spec="tanh")  # type: ignore[arg-type]


# ---------------------------------------------------------------- files that do not record their spec


def _format_1_file(path, params, user):
    """A checkpoint as format 1 wrote it: no checksum, activation/head only if the caller's metadata named them."""
    import json

    import safetensors.numpy

    tensors = {k: np.ascontiguousarray(np.asarray(v, np.float32)) for k, v in params.items()}
    record = {"format_version": 1, "layer_sizes": list(SIZES), "dtype": "float32", "jaxnet_version": "0.1.0"}
    safetensors.numpy.save_file(tensors, path, metadata={"jaxnet": json.dumps({**record, "metadata": user})})
    return path


@pytest.mark.parametrize(
    "user, missing",
    [({}, "activation and head"), ({"activation": "tanh"}, "head"), ({"head": "softmax"}, "activation")],
    ids=["neither", "no-head", "no-activation"],
)
def test_a_file_that_does_not_record_its_spec_is_refused_by_from_checkpoint(net, tmp_path, user, missing):
    """Issue 16 §3: a format-1 file's relu/sigmoid are filled in by load, never silently made a Model."""
    model, _, _ = net
    path = _format_1_file(os.fspath(tmp_path / "v1.safetensors"), model.params, user)
    with pytest.warns(jaxnet.CheckpointWarning):
        params, meta = jaxnet.load(path)  # old readers load it as before, and can tell what was filled in
    assert meta.filled_in == tuple(k for k in ("activation", "head") if k not in user)
    assert (meta["activation"], meta["head"]) == (user.get("activation", "relu"), user.get("head", "sigmoid"))
    assert sorted(params) == sorted(model.params)
    with pytest.warns(jaxnet.CheckpointWarning), pytest.raises(jaxnet.CheckpointError) as e:
        jaxnet.Model.from_checkpoint(path)
    assert f"does not record its {missing}" in str(e.value) and "Model.from_checkpoint" in str(e.value)


def test_a_format_1_file_that_named_its_spec_is_a_model(net, tmp_path):
    model, _, _ = net
    path = _format_1_file(os.fspath(tmp_path / "v1.safetensors"), model.params, explicit(model))
    with pytest.warns(jaxnet.CheckpointWarning):
        loaded = jaxnet.Model.from_checkpoint(path)
    assert loaded.spec == model.spec


def test_metadata_filled_in_survives_pickle_and_copy():
    import copy
    import pickle

    from jaxnet.checkpoints import Metadata

    meta = Metadata({"head": "sigmoid", "step": 1}, filled_in=("head",))
    for back in (pickle.loads(pickle.dumps(meta)), copy.copy(meta), copy.deepcopy(meta)):
        assert back == {"head": "sigmoid", "step": 1} and back.filled_in == ("head",)
    assert Metadata({"a": 1}).filled_in == ()


def test_sweep_takes_a_model_and_its_spec():
    """sweep(params=model) trains with the model's activation and head, as the dict with them spelled out."""
    model = jaxnet.init_model(0, (2, 3, 2), activation="tanh", head="softmax", dtype=jnp.float64)
    x = jnp.asarray([[0.5, 0.8], [-1.0, 0.3], [0.2, -0.7], [1.5, 1.0]])
    y = jnp.asarray([0, 1, 1, 0])
    lr = jnp.asarray([0.1, 0.5])
    _, losses, _ = jaxnet.sweep(x, y, params=model, learning_rates=lr, steps=5)
    _, spelled, _ = jaxnet.sweep(
        x, y, params=model.params, activation="tanh", head="softmax", learning_rates=lr, steps=5
    )
    _, default, _ = jaxnet.sweep(x, y, params=model.params, head="softmax", learning_rates=lr, steps=5)
    np.testing.assert_array_equal(losses, spelled)
    assert not np.allclose(losses, default)  # relu would train another network
    with pytest.raises(ValueError, match="^activation: the model was built with 'tanh', got 'relu'"):
        jaxnet.sweep(x, y, params=model, activation="relu", learning_rates=lr, steps=5)

"""jaxnet.MLPClassifier / MLPRegressor: scikit-learn's own checks, labels, scaling, checkpoints, warm starts."""

import functools
import os
import pickle
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import jaxnet
from jaxnet import tabular
from jaxnet._estimator_parts import _initial_params, _seed
from jaxnet.checkpoints import CheckpointError

# every test fits a network (compiles): 0.5-20 s each on a busy 2-core machine; optax's adam mixes its int32
# step count with Python floats
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("standard_promotion")]


@parametrize_with_checks([jaxnet.MLPClassifier(max_iter=100), jaxnet.MLPRegressor(max_iter=100)])
def test_sklearn_check_estimator(estimator, check):
    """scikit-learn's own estimator checks, none declared unfit; with max_iter=100, as scikit-learn's own test
    suite runs its MLPs (sklearn.utils._test_common.instance_generator.INIT_PARAMS: small data, quick runs)."""
    check(estimator)


def blobs(n=60, seed=0, labels=("adelie", "chinstrap", "gentoo")):
    rng = np.random.default_rng(seed)
    k = rng.integers(len(labels), size=n)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0]])[: len(labels)]
    x = centres[k] + rng.normal(size=(n, 2))
    return x, np.asarray(labels, dtype=object)[k]


def small(cls=jaxnet.MLPClassifier, **kw):
    args = {"hidden_layer_sizes": (8,), "learning_rate_init": 0.05, "max_iter": 60, "random_state": 0, **kw}
    return cls(**args)


@pytest.mark.parametrize(
    "labels",
    [("adelie", "chinstrap", "gentoo"), (False, True), (3, 7), ("no", "yes")],
    ids=["str-3", "bool", "int", "str-2"],
)
def test_classifier_predicts_the_original_labels(labels):
    x, y = blobs(labels=labels)
    y = np.asarray(y.tolist())
    clf = small().fit(x, y)
    assert clf.classes_.tolist() == sorted(set(y.tolist()))
    pred = clf.predict(x)
    assert pred.dtype == clf.classes_.dtype and set(pred.tolist()) <= set(y.tolist())
    assert clf.score(x, y) > 0.9
    proba = clf.predict_proba(x)
    assert proba.shape == (len(x), len(labels))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert (clf.classes_[np.argmax(proba, axis=1)] == pred).all()


def test_pandas_string_labels_and_feature_names():
    x, y = blobs()
    frame = pd.DataFrame(x, columns=["bill", "flipper"])
    clf = small().fit(frame, pd.Series(y, dtype="string"))
    assert clf.feature_names_in_.tolist() == ["bill", "flipper"] and clf.n_features_in_ == 2
    assert clf.predict(frame).tolist() == clf.predict(x).tolist()


def test_reordered_dataframe_columns_are_read_by_name():
    x, y = blobs()
    frame = pd.DataFrame(x, columns=["bill", "flipper"])
    clf = small().fit(frame, y)
    np.testing.assert_array_equal(clf.predict_proba(frame[["flipper", "bill"]]), clf.predict_proba(frame))


@pytest.mark.parametrize(
    "columns, named",
    [(["bill", "wing"], ["wing", "flipper"]), (["bill"], ["flipper"])],
    ids=["renamed", "missing"],
)
def test_missing_or_renamed_columns_are_refused_by_name(columns, named):
    x, y = blobs()
    clf = small().fit(pd.DataFrame(x, columns=["bill", "flipper"]), y)
    with pytest.raises(ValueError, match="^X: ") as e:
        clf.predict(pd.DataFrame(x[:, : len(columns)], columns=columns))
    for name in named:
        assert f"- {name}" in str(e.value)


def test_regressor_scales_the_target_inside():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    y = 600.0 + 40.0 * x[:, 0] - 25.0 * x[:, 1]
    reg = small(jaxnet.MLPRegressor, max_iter=200).fit(x, y)
    assert reg.score(x, y) > 0.95
    assert reg.predict(x).shape == (120,)
    assert abs(reg.predict(x).mean() - 600.0) < 10.0
    reg2 = small(jaxnet.MLPRegressor, max_iter=200).fit(x, np.column_stack([y, -y]))
    assert reg2.predict(x).shape == (120, 2)


def test_class_weight_balanced_and_dict_are_sample_weights():
    x, y = blobs(n=40, labels=("a", "b"))
    clf = small(class_weight="balanced").fit(x, y)
    _, idx = tabular.encode_classes(y)
    counts = np.bincount(idx)
    np.testing.assert_allclose(clf._weights(idx), (len(y) / (2 * counts))[idx], rtol=1e-6)
    clf = small(class_weight={"a": 1000.0, "b": 1e-4}).fit(x, y)
    assert (clf.predict(x) == "a").mean() > 0.9
    with pytest.raises(ValueError, match="^class_weight: "):
        small(class_weight="heavy").fit(x, y)


@pytest.mark.parametrize(
    "name, value",
    [("learning_rate_init", -1.0), ("alpha", -1.0), ("max_iter", 0), ("batch_size", 0), ("optimizer", "lbfgs"),
     ("hidden_layer_sizes", (0,)), ("activation", "swish"), ("validation_fraction", 1.0), ("tol", float("nan")),
     ("random_state", -1), ("random_state", 2**32)],
)  # fmt: skip
def test_bad_arguments_are_named(name, value):
    x, y = blobs(n=20)
    with pytest.raises(ValueError, match=f"^{name}: "):
        small(**{name: value}).fit(x, y)


@pytest.mark.parametrize("error", [jaxnet.DivergenceError, jaxnet.TrainingInterrupted, jaxnet.PeerStopped])
def test_a_stopped_fit_leaves_the_estimator_with_the_state_it_carries(error, monkeypatch):
    # PeerStopped (another process of a mesh was interrupted or died) was not caught: the block's work was lost
    carried = {"W1": np.full((8, 2), 0.5, np.float32)}

    def stopped(params, *args, opt_state, **kwargs):
        raise error("stopped", carried, opt_state, {})

    monkeypatch.setattr(jaxnet._estimator_train, "fit", stopped)
    clf = small()
    with pytest.raises(error):
        clf.fit(*blobs(n=20))
    assert clf.params_ is carried


def test_every_random_state_int_is_its_own_seed():
    # random_state was reduced modulo 2**31 - 1: 2**31 - 1 trained the net of 0, and -1 that of 2**31 - 2
    seeds = [_seed(s) for s in (0, 1, 2**31 - 1, 2**31, 2**32 - 1)]
    assert seeds == [0, 1, 2**31 - 1, 2**31, 2**32 - 1]
    assert not np.array_equal(_initial_params(seeds[0], (2, 3, 1))["W1"], _initial_params(seeds[2], (2, 3, 1))["W1"])


def test_one_class_and_continuous_labels_are_refused():
    x, _ = blobs(n=20)
    with pytest.raises(ValueError, match="^y: .*1 class"):
        small().fit(x, np.array(["a"] * 20))
    with pytest.raises(ValueError, match="^y: Unknown label type"):
        small().fit(x, np.linspace(0, 1, 20))
    with pytest.raises(ValueError, match="^y: .*requires y"):
        small().fit(x, None)


def test_changing_learning_rate_or_alpha_does_not_recompile(count_compiles):
    x, y = blobs()
    small().fit(x, y).predict(x)
    with count_compiles() as compiles:
        small(learning_rate_init=0.01, alpha=0.5).fit(x, y).predict(x)
        small(random_state=3).fit(x[:58], y[:58]).predict(x[:7])  # fit: the bucket of 60 rows; predict: one block
    assert compiles() == 0


def test_partial_fit_needs_classes_first_and_runs_one_epoch():
    x, y = blobs()
    clf = small()
    with pytest.raises(ValueError, match="^classes: "):
        clf.partial_fit(x, y)
    clf.partial_fit(x, y, classes=np.unique(y)).partial_fit(x, y)
    assert clf.n_iter_ == 2 and len(clf.loss_curve_) == 2
    with pytest.raises(ValueError, match="^y: label"):
        clf.partial_fit(x, np.array(["emperor"] * len(x)))


def test_early_stopping_keeps_the_best_validation_score():
    x, y = blobs(n=100)
    clf = small(early_stopping=True, max_iter=80, n_iter_no_change=5).fit(x, y)
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)


def test_stopping_rule_is_sklearns():
    x, y = blobs()
    clf = small(max_iter=500, tol=1e-2, n_iter_no_change=3).fit(x, y)
    curve, best, count = clf.loss_curve_, np.inf, 0
    for i, loss in enumerate(curve):  # sklearn's _update_no_improvement_count, epoch by epoch
        count = count + 1 if loss > best - 1e-2 else 0
        best = min(best, loss)
        assert (count > 3) == (i == len(curve) - 1)
    assert clf.n_iter_ == len(curve) < 500


def full_batch(cls, **kw):
    return small(cls, n_iter_no_change=10**6, **kw)


@pytest.mark.parametrize("cls", [jaxnet.MLPClassifier, jaxnet.MLPRegressor])
def test_warm_start_30_plus_30_equals_60_through_a_file_or_not(cls, tmp_path):
    x, y = blobs()
    if cls is jaxnet.MLPRegressor:
        y = x[:, 0] * 3.0 + 600.0
    once = full_batch(cls, max_iter=60).fit(x, y)
    twice = full_batch(cls, max_iter=30, warm_start=True).fit(x, y).fit(x, y)
    path = tmp_path / "m.safetensors"
    full_batch(cls, max_iter=30).fit(x, y).save(path)
    loaded = jaxnet.load_model(path).set_params(warm_start=True).fit(x, y)
    for other in (twice, loaded):
        assert other.n_iter_ == 60
        for k in once.params_:
            np.testing.assert_allclose(other.params_[k], once.params_[k], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(other.loss_curve_, once.loss_curve_, rtol=1e-5)


@pytest.mark.parametrize("cls", [jaxnet.MLPClassifier, jaxnet.MLPRegressor])
def test_save_load_model_round_trips_everything(cls, tmp_path):
    x, y = blobs()
    if cls is jaxnet.MLPRegressor:
        y = x[:, 0] * 3.0 + 600.0
    frame = pd.DataFrame(x, columns=["bill", "flipper"])
    est = small(cls, optimizer=__import__("optax").adamw).fit(frame, y)
    est.save(tmp_path / "m.safetensors")
    back = jaxnet.load_model(tmp_path / "m.safetensors")
    assert type(back) is cls and back.get_params() == {**est.get_params()}
    np.testing.assert_array_equal(back.predict(frame), est.predict(frame))
    assert back.feature_names_in_.tolist() == ["bill", "flipper"]
    assert back.loss_curve_ == est.loss_curve_ and back.n_iter_ == est.n_iter_
    if cls is jaxnet.MLPClassifier:
        assert back.classes_.tolist() == est.classes_.tolist()
        np.testing.assert_array_equal(back.predict_proba(x), est.predict_proba(x))
    for a, b in zip(jax.tree_util.tree_leaves(est.opt_state_), jax.tree_util.tree_leaves(back.opt_state_), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    params, meta = jaxnet.load(tmp_path / "m.safetensors")  # a plain reader gets a self-contained network
    out = jaxnet.forward(params, est._tabular.inputs(x), activation=est.activation, head=meta["head"])
    if cls is jaxnet.MLPRegressor:
        np.testing.assert_allclose(np.asarray(out)[:, 0], est.predict(x), rtol=1e-5)


def test_load_model_refuses_a_file_that_does_not_record_its_scaling(tmp_path):
    path = tmp_path / "plain.safetensors"
    jaxnet.save(path, jaxnet.seed_example()[0])
    with pytest.raises(CheckpointError, match="input_scaling") as e:
        jaxnet.load_model(path)
    assert "estimator" in str(e.value) and "target_scaling" in str(e.value)
    jaxnet.load(path)  # old readers are unchanged


def test_load_model_refuses_a_file_that_does_not_record_its_head_or_activation(tmp_path):
    """A format-1 file whose relu/sigmoid jaxnet.load fills in: load_model names what it would have to guess."""
    import json

    import safetensors.numpy

    params = {k: np.asarray(v, np.float32) for k, v in jaxnet.seed_example()[0].items()}
    record = {"format_version": 1, "layer_sizes": [2, 3, 1], "dtype": "float32", "jaxnet_version": "0.1.0"}
    meta = {"estimator": "MLPClassifier", "estimator_params": {}, "input_scaling": None, "target_scaling": None}
    path = str(tmp_path / "v1.safetensors")
    safetensors.numpy.save_file(params, path, metadata={"jaxnet": json.dumps({**record, "metadata": meta})})
    with pytest.warns(jaxnet.CheckpointWarning), pytest.raises(CheckpointError, match="activation and head") as e:
        jaxnet.load_model(path)
    assert "load_model will not guess" in str(e.value)


def test_pickle_round_trip():
    x, y = blobs()
    clf = small().fit(x, y)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(x), clf.predict_proba(x))
    assert back.get_params() == clf.get_params()


def test_with_sklearn_the_estimators_are_sklearns():
    """With scikit-learn installed, ``jaxnet.MLPClassifier`` builds on its base classes (importing it on first use;
    that ``import jaxnet`` alone does not is checked in a fresh process below)."""
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

    assert issubclass(jaxnet.MLPClassifier, BaseEstimator) and issubclass(jaxnet.MLPClassifier, ClassifierMixin)
    assert issubclass(jaxnet.MLPRegressor, BaseEstimator) and issubclass(jaxnet.MLPRegressor, RegressorMixin)


def test_import_jaxnet_does_not_import_sklearn_and_estimators_work_without_it(tmp_path):
    """One fresh process (each costs ~1.5 s of ``import jax``): ``import jaxnet`` leaves scikit-learn unimported,
    so blocking it then is the same as a machine without it; the estimators fit, save and load there."""
    code = textwrap.dedent(f"""
        import sys
        import numpy as np, jaxnet
        assert {{'MLPClassifier', 'MLPRegressor', 'load_model'}} <= set(dir(jaxnet))
        assert 'sklearn' not in sys.modules
        sys.modules["sklearn"] = None
        x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 8)
        y = np.array(["no", "yes", "yes", "yes"] * 8)
        clf = jaxnet.MLPClassifier((8,), learning_rate_init=0.05, max_iter=100, random_state=0).fit(x, y)
        assert clf.score(x, y) == 1.0, clf.score(x, y)
        assert clf.set_params(alpha=0.1).get_params()["alpha"] == 0.1
        clf.save({str(tmp_path / "m.safetensors")!r})
        back = jaxnet.load_model({str(tmp_path / "m.safetensors")!r})
        assert back.predict(x).tolist() == clf.predict(x).tolist()
        reg = jaxnet.MLPRegressor((8,), max_iter=50, random_state=0).fit(x, x[:, 0] + 600.0)
        print(type(clf).__mro__[-2].__module__, round(reg.score(x, x[:, 0] + 600.0), 1))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env())
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "jaxnet._estimator_base"


def test_mesh_of_4_devices_equals_one_device_and_clones(tmp_path):
    """Issue 21: MLPClassifier/MLPRegressor(mesh=...) train through fit's mesh; 14 rows (not a multiple of 4)
    are padded with weight-0 rows for full batch, refused by name for minibatches; clone shares the mesh."""
    code = textwrap.dedent("""
        import os, warnings
        os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
        import jax, numpy as np, jaxnet
        from sklearn.base import clone
        warnings.simplefilter("ignore")
        assert jax.device_count() == 4
        mesh = jaxnet.data_parallel_mesh()
        rng = np.random.default_rng(0)
        x = rng.normal(size=(14, 3))
        for cls, y in ((jaxnet.MLPClassifier, np.where(x[:, 0] > 0, "a", "b")), (jaxnet.MLPRegressor, x @ [2.0, -1.0, 0.5])):
            args = dict(hidden_layer_sizes=(8,), learning_rate_init=0.05, max_iter=20, random_state=0)
            one = cls(**args).fit(x, y)
            four = clone(cls(**args, mesh=mesh))
            assert four.mesh is mesh
            four.fit(x, y)
            for k in one.params_:
                np.testing.assert_allclose(four.params_[k], one.params_[k], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(four.loss_curve_, one.loss_curve_, rtol=1e-5)
            out = "predict" if cls is jaxnet.MLPRegressor else "predict_proba"
            np.testing.assert_allclose(getattr(four, out)(x), getattr(one, out)(x), rtol=1e-5, atol=1e-6)
            for bad, name in ((dict(batch_size=6), "batch_size: 6 rows"), (dict(batch_size=4), "X: 14 training rows")):
                try:
                    cls(**args, mesh=mesh, **bad).fit(x, y)
                    raise SystemExit(f"{bad} was not refused")
                except ValueError as e:
                    assert str(e).startswith(name), e
            cls(**args, mesh=mesh, batch_size=4).fit(x[:12], y[:12])  # multiples of 4: minibatches
        try:
            jaxnet.MLPClassifier(mesh=mesh, device=jax.devices()[0]).fit(x, y)
        except ValueError as e:
            assert str(e).startswith("mesh: give a mesh"), e
        print("ok")
    """)
    env = {k: v for k, v in _env().items() if k != "XLA_FLAGS"} | {"JAX_PLATFORMS": "cpu"}  # 4 CPU devices
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok"


def test_mesh_argument_is_checked():
    x, y = blobs(n=20)
    with pytest.raises(TypeError, match="^mesh: expected None or a jax.sharding.Mesh"):
        small(mesh="data").fit(x, y)
    clf = small(max_iter=2, device=jax.devices()[0]).fit(x, y)
    with pytest.raises(TypeError, match="^device: a pickled estimator cannot hold JAX devices"):
        pickle.dumps(clf)
    with pytest.raises(TypeError, match="^mesh: a pickled estimator"):
        pickle.dumps(small(mesh=jaxnet.data_parallel_mesh()))
    back = pickle.loads(pickle.dumps(clf.set_params(device=None)))
    np.testing.assert_array_equal(back.predict_proba(x), clf.predict_proba(x))


def test_save_of_an_estimator_trained_on_a_mesh(tmp_path):
    """The mesh is where it ran (not recorded, as device): the loaded model has mesh=None, the same outputs."""
    x, y = blobs(n=20)
    clf = small(max_iter=3, mesh=jaxnet.data_parallel_mesh(jax.devices()[:1])).fit(x, y)
    clf.save(tmp_path / "m.safetensors")
    back = jaxnet.load_model(tmp_path / "m.safetensors")
    assert back.mesh is None and back.get_params()["max_iter"] == 3
    np.testing.assert_array_equal(back.predict_proba(x), clf.predict_proba(x))


def _env():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.mark.parametrize("name", ["jaxnet.tabular", "jaxnet.estimators"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_alpha_is_sklearns_l2_on_the_weights_only():
    """One full-batch SGD epoch: ``theta <- theta - lr (dL/dtheta + alpha / n W)``, biases not decayed."""
    x, y = blobs(n=40, labels=("a", "b"))
    lr, alpha = 0.1, 2.0
    clf = small(optimizer="sgd", learning_rate_init=lr, alpha=alpha, max_iter=1, hidden_layer_sizes=(4,))
    clf.fit(x, y)
    tab = clf._tabular
    p0 = _initial_params(0, (2, 4, 1))  # random_state=0
    t = (y == "b").astype(np.float32)[:, None]
    g = jaxnet.grads(p0, tab.inputs(x), t, head="sigmoid")
    for k in p0:
        decay = alpha / len(x) * np.asarray(p0[k]) if k.startswith("W") else 0.0
        np.testing.assert_allclose(clf.params_[k], np.asarray(p0[k]) - lr * (np.asarray(g[k]) + decay), atol=1e-6)


def test_initial_params_are_he_normal_drawn_by_numpy(count_compiles):
    """init_mlp's He scheme (W ~ N(0, 2 / fan_in), zero biases), float32, reproducible, compiling nothing."""
    with count_compiles() as compiles:
        p = _initial_params(5, (400, 300, 2))
    assert compiles() == 0
    assert sorted(p) == ["W1", "W2", "b1", "b2"] and all(v.dtype == np.float32 for v in p.values())
    assert p["W1"].shape == (300, 400) and p["W2"].shape == (2, 300)
    np.testing.assert_allclose(np.std(p["W1"]), np.sqrt(2 / 400), rtol=0.02)  # 120,000 draws: std error 0.2%
    assert abs(float(np.mean(p["W1"]))) < 5 * np.sqrt(2 / 400) / np.sqrt(120_000)
    assert not np.any(p["b1"]) and not np.any(p["b2"])
    np.testing.assert_array_equal(_initial_params(5, (400, 300, 2))["W2"], p["W2"])
    assert not np.array_equal(_initial_params(6, (400, 300, 2))["W2"], p["W2"])


def test_bfloat16_compute_dtype_and_verbose(capsys):
    x, y = blobs()
    clf = small(compute_dtype=jax.numpy.bfloat16, max_iter=500, n_iter_no_change=2, tol=1e-2, verbose=True).fit(x, y)
    assert clf.params_["W1"].dtype == np.float32 and clf.score(x, y) > 0.8
    assert "stopped after epoch" in capsys.readouterr().out


def test_warm_start_after_convergence_runs_one_epoch_as_sklearn():
    x, y = blobs()
    clf = small(max_iter=500, tol=1e-2, n_iter_no_change=3, warm_start=True).fit(x, y)
    first = clf.n_iter_
    assert first < 500
    clf.fit(x, y)  # the no-improvement count is still over n_iter_no_change: one more epoch, then stop
    assert clf.n_iter_ == first + 1
    clf.set_params(early_stopping=True).partial_fit(x, y)  # no validation set in partial_fit: the loss rule
    assert clf.n_iter_ == first + 2


def test_save_refuses_what_it_cannot_record(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        small().save(tmp_path / "m.safetensors")
    x, y = blobs(n=20)
    clf = small(optimizer=lambda learning_rate: __import__("optax").sgd(learning_rate), max_iter=2).fit(x, y)
    with pytest.raises(ValueError, match="^optimizer: "):
        clf.save(tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()
    pickle.loads(pickle.dumps(clf.set_params(optimizer="sgd")))  # pickle needs an importable optimizer too


def _adam_count(est):
    counts = [leaf for path, leaf in jax.tree_util.tree_flatten_with_path(est.opt_state_)[0] if "count" in str(path)]
    return {int(c) for c in counts}


def test_an_epoch_trains_on_every_row_the_last_minibatch_the_remainder():
    """scikit-learn's epoch: 45 rows in minibatches of 20 are 3 steps (20, 20, 5), so 4 epochs are 12 steps;
    on a mesh (rows not padded) 2 full ones. The epoch's loss is the mean over its 45 rows: with a learning
    rate too small to move the parameters, the network's loss on all the rows (over 40 of them it would differ)."""
    x, y = blobs(45)
    clf = small(batch_size=20, max_iter=4, n_iter_no_change=10)
    with pytest.warns(Warning):  # max_iter=4 does not converge
        clf.fit(x, y)
    assert clf.n_iter_ == 4 and _adam_count(clf) == {12}
    meshed = small(batch_size=20, max_iter=4, n_iter_no_change=10, mesh=jaxnet.data_parallel_mesh(jax.devices()[:1]))
    with pytest.warns(Warning):
        meshed.fit(x, y)
    assert _adam_count(meshed) == {8}
    still = small(batch_size=20, max_iter=1, learning_rate_init=1e-12, alpha=0.0)
    with pytest.warns(Warning):
        still.fit(x, y)
    xs = still._tabular.inputs(x, np.float32)
    targets, _ = still._targets(y)
    whole = float(jaxnet.loss(still.params_, xs, targets, head=still._tabular.head))
    np.testing.assert_allclose(still.loss_curve_[0], whole, rtol=1e-5)


def _block_setup(n_iter_no_change=5):
    """A fitted classifier and _block's run function, for blocks of minibatch epochs of 45 rows by 20."""
    from jaxnet import _estimator_train as train
    from jaxnet._estimator_parts import _optimizer

    x, y = blobs(45)
    clf = small(batch_size=20, max_iter=1, n_iter_no_change=n_iter_no_change)
    with pytest.warns(Warning):
        clf.fit(x, y)
    targets, weight = clf._targets(y)
    run = functools.partial(
        train._run, clf, _optimizer(clf.optimizer), clf._tabular.inputs(x, np.float32), targets, weight, batch=20
    )
    return train, clf, run, train._batch_sizes(45, 20, True)


def test_a_block_past_the_stop_runs_that_epoch_again_from_its_start():
    """The rule stops at the block's 4th epoch of 10: the state is the 4-epoch run from the block's start (the
    same key and steps), not the 10-epoch one, and only 4 epochs are recorded."""
    train, clf, run, sizes = _block_setup()
    clf.best_loss_, clf._no_improvement = -np.inf, 2  # nothing improves: the 4th epoch makes 6 > 5
    start, epoch, curve = (clf.params_, clf.opt_state_), clf.n_iter_, len(clf.loss_curve_)
    assert train._block(clf, run, sizes, 10, None) == (4, True)
    assert clf.n_iter_ == epoch + 4 and len(clf.loss_curve_) == curve + 4
    stopped = clf.params_
    for steps, same in ((4 * len(sizes), True), (10 * len(sizes), False)):
        clf.params_, clf.opt_state_ = start
        run(steps=steps, epoch=epoch)
        assert all(np.array_equal(stopped[k], clf.params_[k]) for k in stopped) == same, steps


def test_a_block_that_diverges_records_its_whole_epochs_and_stops_there_if_the_rule_does(monkeypatch):
    train, clf, run, sizes = _block_setup()
    fit, calls = train.fit, []

    def diverging(params, *args, steps, **kwargs):  # diverges after 7 of its steps (epochs of 3 steps)
        calls.append(steps)
        if steps <= 6:
            return fit(params, *args, steps=steps, **kwargs)
        raise jaxnet.DivergenceError("diverged", params, kwargs["opt_state"], {"loss": np.full(7, 0.5)})

    monkeypatch.setattr(train, "fit", diverging)
    clf.best_loss_, clf._no_improvement = -np.inf, 5  # the rule stops after one more epoch (6 > 5)
    assert train._block(clf, run, sizes, 10, None) == (1, True) and calls == [30, 3]  # then run again: 1 epoch
    clf.best_loss_, clf._no_improvement, epoch = np.inf, 0, clf.n_iter_  # it would not stop: the error is raised
    with pytest.raises(jaxnet.DivergenceError):
        train._block(clf, run, sizes, 10, None)
    assert clf.n_iter_ == epoch + 2  # the two whole epochs before it are recorded


def test_a_block_whose_last_epochs_last_step_diverged_does_not_record_that_epoch(monkeypatch):
    """A DivergenceError with 6 losses carries the state after 5 steps: the 6th step (the last of the 2nd epoch of
    3 steps) diverged, so only 1 epoch is whole. The rule that would stop at the 2nd epoch does not stop, and the
    error is raised (running 2 epochs again would diverge again)."""
    train, clf, run, sizes = _block_setup()
    fit = train.fit

    def diverging(params, *args, steps, **kwargs):
        if steps <= 3:
            return fit(params, *args, steps=steps, **kwargs)
        raise jaxnet.DivergenceError("diverged", params, kwargs["opt_state"], {"loss": np.full(6, 0.5)})

    monkeypatch.setattr(train, "fit", diverging)
    clf.best_loss_, clf._no_improvement, epoch = -np.inf, 4, clf.n_iter_  # stops after two more epochs (6 > 5)
    with pytest.raises(jaxnet.DivergenceError):
        train._block(clf, run, sizes, 10, None)
    assert clf.n_iter_ == epoch + 1 and clf._no_improvement == 5


def test_a_full_batch_fit_that_diverges_raises_only_where_the_rule_did_not_stop():
    """Full batch: the block's history ends with the loss of the state whose step diverged. That epoch was
    recorded, the rule stopped on it, and running it again diverged again: DivergenceError although the rule
    stopped, n_iter_ one epoch past the parameters. Now the epoch is not recorded: n_iter_ epochs are the state's."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=60)
    reg = jaxnet.MLPRegressor((8,), learning_rate_init=2.32, max_iter=200, n_iter_no_change=1, random_state=0,
                              optimizer="sgd")  # fmt: skip
    with pytest.raises(jaxnet.DivergenceError):
        reg.fit(x, y)
    assert reg._no_improvement <= reg.n_iter_no_change  # the rule did not stop: else nothing is raised
    assert len(reg.loss_curve_) == reg.n_iter_ == 2
    two = jaxnet.MLPRegressor((8,), learning_rate_init=2.32, max_iter=2, random_state=0, optimizer="sgd")
    with pytest.warns(Warning):  # max_iter=2 does not converge
        two.fit(x, y)
    assert all(np.array_equal(reg.params_[k], two.params_[k]) for k in two.params_)  # the state of 2 epochs


@pytest.mark.parametrize("error", [jaxnet.TrainingInterrupted, jaxnet.PeerStopped])
def test_an_interrupted_block_records_the_whole_epochs_it_ran_and_runs_nothing_more(error, monkeypatch):
    """Ctrl-C after 7 steps of a 10-epoch block of 3-step epochs: 2 whole epochs are recorded (n_iter_ and
    loss_curve_ within an epoch of the parameters it carries), even where the rule stops in them, and the
    interrupt is raised with no step run again."""
    train, clf, run, sizes = _block_setup()
    calls = []
    carried = {k: np.asarray(v) + 1.0 for k, v in clf.params_.items()}

    def interrupted(params, *args, steps, **kwargs):
        calls.append(steps)
        raise error("stopped", carried, kwargs["opt_state"], {"loss": np.full(7, 0.5)})

    monkeypatch.setattr(train, "fit", interrupted)
    epoch, curve = clf.n_iter_, len(clf.loss_curve_)
    clf.best_loss_, clf._no_improvement = -np.inf, 5  # the rule stops after the first of them
    with pytest.raises(error):
        train._block(clf, run, sizes, 10, None)
    assert calls == [30] and clf.params_ is carried
    assert clf.n_iter_ == epoch + 1 and len(clf.loss_curve_) == curve + 1  # recorded up to the rule's stop
    clf.best_loss_, clf._no_improvement = np.inf, 0
    with pytest.raises(error):
        train._block(clf, run, sizes, 10, None)
    assert clf.n_iter_ == epoch + 3 and calls == [30, 30]  # both whole epochs this time

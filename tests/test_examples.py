"""The examples run and meet their bars: digits accuracy >= MLPClassifier's - 0.01, diabetes R² >= MLPRegressor's
- 0.02, breast cancer (a 30-16-16-1 net) >= 0.95 test accuracy; early stopping restores the step of the lowest
validation loss and draws it."""

import importlib.util
import pathlib

import jax
import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("standard_promotion")  # optax's adam mixes its int32 count with floats

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
PNG = b"\x89PNG\r\n\x1a\n"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"{name}_example", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    return _load("digits")


@pytest.fixture(scope="module")
def diabetes():
    pytest.importorskip("sklearn")
    return _load("diabetes")


@pytest.fixture(scope="module")
def early_stopping():
    return _load("early_stopping")


@pytest.fixture(scope="module")
def breast_cancer():
    return _load("breast_cancer")


# ---------------------------------------------------------------- digits
@pytest.mark.slow  # scikit-learn's MLPClassifier takes 3-30 s on a busy 2-core machine
def test_digits_accuracy_is_at_least_mlpclassifiers_minus_001(digits, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    m = digits.main(["--plot", str(tmp_path / "d.png")])
    out = capsys.readouterr().out
    assert m["test_accuracy"] >= m["sklearn_accuracy"] - 0.01, m
    assert m["test_accuracy"] >= 0.95 and m["sklearn_accuracy"] >= 0.9, m
    assert f"{m['test_accuracy']:.4f}" in out and f"{m['sklearn_accuracy']:.4f}" in out
    assert f"{m['seconds']:.2f}s" in out and f"{m['sklearn_seconds']:.2f}s" in out and "MLPClassifier(64)" in out
    assert (tmp_path / "d.png").read_bytes()[:8] == PNG


@pytest.mark.slow  # compiles two training programs: 5-11 s on a busy 2-core machine
def test_digits_without_sklearn_comparison(digits, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    m = digits.main(["--no-sklearn", "--no-plot"])
    assert m["sklearn_accuracy"] is None and m["sklearn_seconds"] is None
    assert "skipped: --no-sklearn" in capsys.readouterr().out
    assert m["test_accuracy"] >= 0.95 and m["train_accuracy"] == 1.0 and m["final_loss"] < 0.01, m
    assert list(tmp_path.iterdir()) == []  # --no-plot writes nothing


def test_digits_split_is_stratified_and_standardised_on_the_training_part(digits):
    x_tr, x_te, y_tr, y_te = digits.load_digits_split(0)
    assert x_tr.shape == (1438, 64) and x_te.shape == (359, 64)
    assert sorted(set(y_te.tolist())) == list(range(10))
    np.testing.assert_allclose(np.bincount(y_te) / len(y_te), np.bincount(y_tr) / len(y_tr), atol=0.01)
    np.testing.assert_allclose(x_tr.mean(axis=0), 0.0, atol=1e-12)  # test rows use the training statistics
    assert abs(x_te.mean()) > 1e-6


# ---------------------------------------------------------------- diabetes
@pytest.mark.slow  # runs scikit-learn's MLPRegressor
def test_diabetes_r2_is_at_least_mlpregressors_minus_002(diabetes, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    m = diabetes.main(["--plot", str(tmp_path / "r.png")])
    out = capsys.readouterr().out
    assert m["test_r2"] >= m["sklearn_r2"] - 0.02, m
    assert m["test_r2"] > 0.4, m
    assert f"{m['test_r2']:.4f}" in out and f"{m['sklearn_r2']:.4f}" in out and "MLPRegressor(32)" in out
    assert f"{m['seconds']:.2f}s" in out and f"{m['sklearn_seconds']:.2f}s" in out
    assert (tmp_path / "r.png").read_bytes()[:8] == PNG


@pytest.mark.slow  # compiles two training programs: 3-9 s on a busy 2-core machine
def test_diabetes_without_sklearn_comparison(diabetes, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    m = diabetes.main(["--no-sklearn", "--no-plot"])
    assert m["sklearn_r2"] is None and "skipped: --no-sklearn" in capsys.readouterr().out
    assert 0.4 < m["test_r2"] and 0.4 < m["train_r2"] < 1.0, m
    assert 30.0 < m["test_rmse"] < 77.0, m  # the target's std is 77: better than predicting the mean
    assert list(tmp_path.iterdir()) == []


def test_r2_score_matches_scikit_learn(diabetes):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(5):
        y, p = rng.normal(size=40), rng.normal(size=40)
        assert diabetes.r2_score(y, p) == pytest.approx(metrics.r2_score(y, p), abs=1e-12)
    assert diabetes.r2_score(y, y) == 1.0 and diabetes.r2_score(y, np.full(40, y.mean())) == pytest.approx(
        0.0, abs=1e-12
    )


@pytest.mark.slow
def test_diabetes_r2_agrees_with_jaxnet_evaluate(diabetes):
    import jax.numpy as jnp

    import jaxnet

    split = diabetes.load_diabetes_split(0)
    params = jaxnet.init_mlp(jax.random.key(0), (10, 8, 1), dtype=jnp.float64)
    x = jnp.asarray(split["x_test"])
    pred = np.asarray(jaxnet.predict(params, x, head="identity")).ravel() * split["std"] + split["mean"]
    y_std = jnp.asarray((split["y_test"] - split["mean"]) / split["std"])[:, None]
    scores = jaxnet.evaluate(params, x, y_std, head="identity")
    assert float(scores["r2"]) == pytest.approx(diabetes.r2_score(split["y_test"], pred), abs=1e-10)


# ---------------------------------------------------------------- early stopping
@pytest.mark.slow  # 6-15 s on a busy 2-core machine: compiles the minibatch loop with validation
def test_early_stopping_restores_the_best_validation_step_and_draws_it(early_stopping, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    plot = tmp_path / "es.png"
    m = early_stopping.main(["--plot", str(plot)])
    h = m["history"]
    val_loss, val_step = np.asarray(h["val_loss"]), np.asarray(h["val_step"])
    assert m["stopped"] == "early_stopping" and m["steps_done"] < 5000, m
    assert m["best_step"] == val_step[np.argmin(val_loss)]
    assert m["restored_val_loss"] == pytest.approx(val_loss.min(), rel=1e-5)  # the returned params are the best
    assert m["last_val_loss"] > m["best_val_loss"]  # it overfit: stopping early mattered
    np.testing.assert_array_equal(val_step, 20 * np.arange(len(val_step)) + val_step[0])  # on the eval_every grid
    assert np.sum(val_step > m["best_step"]) == 10  # patience: 10 evaluations without improvement
    assert m["test_accuracy"] >= 0.93, m
    assert m["plot"] == str(plot) and plot.stat().st_size > 1000 and plot.read_bytes()[:8] == PNG
    assert f"restored step {m['best_step']}" in capsys.readouterr().out


def test_early_stopping_three_way_split(early_stopping):
    train, val, test = early_stopping.three_way_split(0)
    assert (len(train[0]), len(val[0]), len(test[0])) == (342, 114, 113)
    assert all(x.dtype == np.float32 and y.shape == (len(x), 1) for x, y in (train, val, test))
    rows = {tuple(r) for x, _ in (train, val, test) for r in x.round(5)}
    assert len(rows) == 569  # disjoint parts
    np.testing.assert_allclose(train[0].mean(axis=0), 0.0, atol=1e-5)


# ---------------------------------------------------------------- penguins (estimators in scikit-learn's toolbox)
@pytest.mark.slow  # cross-validation and a grid search: ~20 fits, 15-40 s on a busy 2-core machine
def test_penguins_estimator_in_pipeline_gridsearch_and_the_cli(capsys):
    pytest.importorskip("sklearn")
    m = _load("penguins").main([])
    out = capsys.readouterr().out
    assert m["same_labels"] is True, m  # est.predict, load_model(...).predict and `jaxnet predict`
    assert m["cv_accuracy"] >= 0.9 and m["test_accuracy"] >= m["sklearn_accuracy"] - 0.03, m
    assert f"{m['test_accuracy']:.4f}" in out and f"{m['sklearn_accuracy']:.4f}" in out


def test_penguins_data_is_deterministic_with_string_species():
    penguins = _load("penguins")
    x, y = penguins.make_penguins(50, seed=1)
    x2, y2 = penguins.make_penguins(50, seed=1)
    assert x.equals(x2) and y.equals(y2)
    assert list(x.columns) == penguins.FEATURES and set(y) <= {"Adelie", "Chinstrap", "Gentoo"}


# ---------------------------------------------------------------- breast cancer


@pytest.mark.slow
def test_breast_cancer_reaches_095_test_accuracy(breast_cancer, tmp_path, capsys):
    plot = tmp_path / "loss.png"
    m = breast_cancer.main(["--plot", str(plot)])
    out = capsys.readouterr().out
    assert m["test_accuracy"] >= 0.95
    assert m["test_auc"] >= 0.98
    assert m["final_loss"] < 0.1
    assert f"{m['test_accuracy']:.4f}" in out
    try:
        import sklearn  # noqa: F401
    except ImportError:
        assert m["sklearn_accuracy"] is None and "scikit-learn is not installed" in out
    else:
        assert m["sklearn_accuracy"] >= 0.9 and "MLPClassifier" in out
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert not plot.exists()
    else:
        assert plot.read_bytes()[:8] == PNG


@pytest.mark.slow
def test_breast_cancer_loss_curve_is_saved_by_default_and_skipped_with_no_plot(breast_cancer, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    breast_cancer.main(["--steps", "20", "--no-sklearn", "--no-plot"])
    assert list(tmp_path.iterdir()) == []
    breast_cancer.main(["--steps", "20", "--no-sklearn"])
    assert (tmp_path / "breast_cancer_loss.png").read_bytes()[:8] == PNG


def test_breast_cancer_roc_auc_by_ranks(breast_cancer):
    y = np.array([0, 0, 1, 1, 0, 1])
    assert breast_cancer.roc_auc(y, np.array([0.1, 0.2, 0.8, 0.9, 0.3, 0.7])) == 1.0
    assert breast_cancer.roc_auc(y, np.array([0.9, 0.8, 0.2, 0.1, 0.7, 0.3])) == 0.0
    assert breast_cancer.roc_auc(y, np.full(6, 0.5)) == 0.5  # ties count one half
    assert breast_cancer.roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    with pytest.raises(ValueError, match="both classes"):
        breast_cancer.roc_auc(np.ones(3), np.arange(3.0))


def test_breast_cancer_roc_auc_matches_scikit_learn(breast_cancer):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(5):
        y = rng.integers(0, 2, size=60)
        s = np.round(rng.random(60), 1)  # many ties
        assert breast_cancer.roc_auc(y, s) == pytest.approx(metrics.roc_auc_score(y, s), abs=1e-12)

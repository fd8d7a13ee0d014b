"""examples/breast_cancer.py: a 30-16-16-1 net reaches >= 0.95 test accuracy."""

import importlib.util
import pathlib

import numpy as np
import pytest

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "breast_cancer.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("breast_cancer_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_example_reaches_095_test_accuracy(example, tmp_path, capsys):
    plot = tmp_path / "loss.png"
    m = example.main(["--plot", str(plot)])
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
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_loss_curve_is_saved_by_default_and_skipped_with_no_plot(example, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    example.main(["--steps", "20", "--no-sklearn", "--no-plot"])
    assert list(tmp_path.iterdir()) == []
    example.main(["--steps", "20", "--no-sklearn"])
    assert (tmp_path / "breast_cancer_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_roc_auc_by_ranks(example):
    y = np.array([0, 0, 1, 1, 0, 1])
    assert example.roc_auc(y, np.array([0.1, 0.2, 0.8, 0.9, 0.3, 0.7])) == 1.0
    assert example.roc_auc(y, np.array([0.9, 0.8, 0.2, 0.1, 0.7, 0.3])) == 0.0
    assert example.roc_auc(y, np.full(6, 0.5)) == 0.5  # ties count one half
    assert example.roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    with pytest.raises(ValueError, match="both classes"):
        example.roc_auc(np.ones(3), np.arange(3.0))


def test_roc_auc_matches_scikit_learn(example):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(5):
        y = rng.integers(0, 2, size=60)
        s = np.round(rng.random(60), 1)  # many ties
        assert example.roc_auc(y, s) == pytest.approx(metrics.roc_auc_score(y, s), abs=1e-12)

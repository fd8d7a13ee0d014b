"""``jaxnet predict`` / ``jaxnet check`` on a model saved from Python with ``est.save``: the estimator's own labels."""

import csv
import io

import jax
import numpy as np
import pandas as pd
import pytest

import jaxnet
from jaxnet import cli

# every test fits a network (compiles): 0.5-20 s each on a busy 2-core machine; optax's adam mixes its int32
# step count with Python floats
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("standard_promotion")]


@pytest.fixture
def run(monkeypatch, tmp_path, capsys):
    """``run(*argv) -> (code, stdout, stderr)`` in this process, in ``tmp_path``, JAX config restored after."""
    before = jax.config.jax_enable_compilation_cache
    monkeypatch.chdir(tmp_path)

    def call(*argv):
        code = cli.main([*argv, "--no-cache"])
        out, err = capsys.readouterr()
        return code, out, err

    yield call
    jax.config.update("jax_enable_compilation_cache", before)


def penguins(n=80, seed=0):
    rng = np.random.default_rng(seed)
    species = np.array(["Adelie", "Chinstrap", "Gentoo"])[rng.integers(3, size=n)]
    centre = {"Adelie": (38.0, 190.0), "Chinstrap": (48.0, 195.0), "Gentoo": (47.0, 217.0)}
    xy = np.array([centre[s] for s in species]) + rng.normal(scale=(2.5, 6.0), size=(n, 2))
    return pd.DataFrame({"bill_length": xy[:, 0], "flipper_length": xy[:, 1]}), species


def rows(text):
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("n_classes", [2, 3])
def test_predict_and_check_on_an_estimator_file_give_its_labels(run, tmp_path, n_classes):
    frame, species = penguins()
    keep = species != "Chinstrap" if n_classes == 2 else np.ones(len(species), bool)
    frame, species = frame[keep].reset_index(drop=True), species[keep]
    clf = jaxnet.MLPClassifier((8,), learning_rate_init=0.05, max_iter=50, random_state=0).fit(frame, species)
    clf.save(tmp_path / "m.safetensors")
    frame[["flipper_length", "bill_length"]].to_csv(tmp_path / "new.csv", index=False)  # other order: by name
    code, out, err = run("predict", "m.safetensors", "--data", "new.csv")
    assert code == 0, err
    table = rows(out)
    assert table[0][:2] == ["row", "class"]
    assert table[0][2:] == [f"probability_{c}" for c in clf.classes_]
    assert [r[1] for r in table[1:]] == clf.predict(frame).tolist()
    np.testing.assert_allclose(np.array([r[2:] for r in table[1:]], float), clf.predict_proba(frame), atol=1e-6)
    code, out, err = run("check", "m.safetensors", "--data", "new.csv")
    assert code == 0 and out.rstrip().endswith("check: OK"), out + err


def test_predict_on_a_regressor_file_gives_values_in_the_targets_units(run, tmp_path):
    frame, _ = penguins()
    y = 3000.0 + 50.0 * (frame["flipper_length"] - 200.0)
    reg = jaxnet.MLPRegressor((8,), learning_rate_init=0.05, max_iter=50, random_state=0).fit(frame, y)
    reg.save(tmp_path / "m.safetensors")
    frame.to_csv(tmp_path / "new.csv", index=False)
    code, out, err = run("predict", "m.safetensors", "--data", "new.csv")
    assert code == 0, err
    values = np.array([float(r[1]) for r in rows(out)[1:]])
    np.testing.assert_allclose(values, reg.predict(frame), rtol=1e-5)


def test_a_file_without_its_input_scaling_is_refused_by_predict_and_check(run, tmp_path):
    frame, _ = penguins(n=10)
    frame.to_csv(tmp_path / "new.csv", index=False)
    params = jaxnet.init_mlp(0, (2, 4, 1))
    jaxnet.save(tmp_path / "plain.safetensors", params)  # the case: scaling not stored, guessed
    code, out, err = run("predict", "plain.safetensors", "--data", "new.csv")
    assert code != 0 and "does not record its input scaling" in err and out == ""
    code, out, err = run("check", "plain.safetensors", "--data", "new.csv")
    assert code == 1 and "data: FAILED:" in out and "input scaling" in out
    jaxnet.save(tmp_path / "given.safetensors", params, metadata={"input_scaling": None})  # said, not guessed
    code, out, err = run("predict", "given.safetensors", "--data", "new.csv")
    assert code == 0 and len(rows(out)) == 11, err

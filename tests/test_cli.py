"""The ``jaxnet`` command line, in-process through ``jaxnet.cli.main`` (fast).

The same commands run as users run them (``python -m jaxnet.cli`` in a
subprocess, Ctrl-C included) in ``test_cli_subprocess.py`` (slow).
"""

import os
import re
import sys
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest

import jaxnet
from jaxnet import checkpoints, cli, data

PNG = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- data files
def write_csv(path, header, rows):
    path.write_text(",".join(header) + "\n" + "".join(",".join(str(v) for v in r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Small CSVs: a separable binary set (label in the middle, a text id column), 3 classes, a regression,
    one-hot label columns, and a set whose features carry no information."""
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    binary = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    write_csv(
        d / "binary.csv",
        ["f1", "f2", "label", "f3"],
        [(f"{a:.6f}", f"{b:.6f}", t, f"{c:.6f}") for (a, b, c), t in zip(x, binary)],
    )
    write_csv(
        d / "with_id.csv",
        ["id", "f1", "f2", "f3", "label"],
        [(f"s{i}", *(f"{v:.6f}" for v in row), t) for i, (row, t) in enumerate(zip(x, binary))],
    )
    classes = np.digitize(x[:, 0] - x[:, 2], [-0.6, 0.6])  # 0, 1, 2
    write_csv(
        d / "classes.csv",
        ["f1", "f2", "f3", "kind"],
        [(*row, c) for row, c in zip(x, classes)],
    )
    target = 3.0 * x[:, 0] - 2.0 * x[:, 1] + 0.5 * x[:, 2] + 100.0
    write_csv(
        d / "regression.csv",
        ["f1", "f2", "f3", "price"],
        [(*row, f"{t:.6f}") for row, t in zip(x, target)],
    )
    onehot = np.eye(3, dtype=int)[classes]
    write_csv(
        d / "onehot.csv",
        ["f1", "f2", "f3", "is_0", "is_1", "is_2"],
        [(*row, *oh) for row, oh in zip(x, onehot)],
    )
    write_csv(
        d / "two_labels.csv",
        ["f1", "f2", "f3", "a", "b"],
        [(*row, int(row[0] > 0), int(row[1] > 0)) for row in x],
    )
    write_csv(
        d / "no_signal.csv",
        ["f1", "f2", "label"],
        [(1.0, 2.0, int(i % 5 < 2)) for i in range(100)],
    )
    write_csv(d / "new.csv", ["f3", "f2", "f1"], [(c, b, a) for a, b, c in x[:7]])  # features only, other order
    return d


@pytest.fixture
def run(monkeypatch, tmp_path, capsys):
    """``run(*argv) -> (code, stdout, stderr)`` in this process, in ``tmp_path``, JAX config restored after."""
    before = jax.config.jax_enable_compilation_cache
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def call(*argv):
        code = cli.main(
            [*argv, "--no-cache"] if argv and argv[0] in ("train", "predict", "check", "walkthrough") else list(argv)
        )
        out, err = capsys.readouterr()
        return code, out, err

    yield call
    jax.config.update("jax_enable_compilation_cache", before)


def one_error_line(err):
    assert err.count("\n") == 1 and err.startswith("jaxnet: error: "), err
    return err


TRAIN = [
    "--hidden",
    "8",
    "--steps",
    "300",
    "--lr",
    "0.5",
    "--seed",
    "1",
    "--no-progress",
]


# ---------------------------------------------------------------- options checked before any work
@pytest.mark.parametrize(
    "argv,words",
    [
        ([], "required: COMMAND"),
        (["nonsense"], "invalid choice"),
        (["train"], "required: --data"),
        (["train", "--data", "D", "--seed", "1180591620717411303424"], "--seed"),
        (
            ["train", "--data", "D", "--seed", "-1"],
            "--seed: expected an integer >= 0 at most 9223372036854775807, got -1",
        ),
        (["train", "--data", "D", "--steps", "100000000000"], "--steps"),
        (["train", "--data", "D", "--steps", "0"], "--steps: expected a positive integer at most 2147483647, got 0"),
        (
            ["train", "--data", "D", "--steps", "ten"],
            "--steps: expected an integer, got 'ten'",
        ),
        (["train", "--data", "D", "--lr", "inf"], "--lr: expected a finite number > 0, got inf"),
        (["train", "--data", "D", "--lr", "nan"], "--lr"),
        (["train", "--data", "D", "--lr", "0"], "--lr"),
        (["train", "--data", "D", "--lr", "-1"], "--lr: expected a number > 0, got -1.0"),
        (["train", "--data", "D", "--hidden", "16,x"], "--hidden"),
        (["train", "--data", "D", "--hidden", "16,0"], "--hidden"),
        (["train", "--data", "D", "--test-fraction", "0"], "--test-fraction"),
        (["train", "--data", "D", "--test-fraction", "1"], "--test-fraction: expected a number in (0, 1), got 1.0"),
        (["train", "--data", "D", "--test-fraction", "nan"], "--test-fraction"),
        (["train", "--data", "D", "--val-fraction", "1"], "--val-fraction"),
        (["train", "--data", "D", "--val-fraction", "-0.1"], "--val-fraction: expected a number in [0, 1), got -0.1"),
        (["train", "--data", "D", "--batch-size", "0"], "--batch-size"),
        (["train", "--data", "D", "--early-stopping", "0"], "--early-stopping"),
        (
            ["train", "--data", "D", "--early-stopping", "3", "--val-fraction", "0"],
            "--early-stopping: needs a validation",
        ),
        (
            ["train", "--data", "D", "--eval-every", "600", "--steps", "500"],
            "--eval-every: expected at most --steps (500), got 600",
        ),
        (["train", "--data", "D", "--optimizer", "rmsprop"], "invalid choice"),
        (["train", "--data", "D", "--head", "tanh"], "invalid choice"),
        (["train", "--data", "D", "--activation", "swish"], "invalid choice"),
        (
            ["train", "--data", "D", "--label", "a,a"],
            "--label: column(s) 'a' named twice in 'a,a'",
        ),
        (["train", "--data", "D", "--label", "a,"], "--label"),
        (["train", "--data", "D", "--label", "a", "--ignore", "a"], "--ignore"),
        (
            ["train", "--data", "D", "--out", "/nonexistent/m.safetensors"],
            "--out: the folder '/nonexistent' does not exist",
        ),
        (["train", "--data", "D", "--out", "."], "--out: '.' is a folder"),
        (["train", "--data", "breast_cancer", "--hidden", "1000000,1000000"], "--hidden: a 30-1000000-1000000-1"),
        (["train", "--data", "breast_cancer", "--label", "mean radius"], "--label/--ignore"),
        (["train", "--data", "d.csv", "--out", "d.csv"], "--out: 'd.csv' is the same file as --data"),
        (
            ["train", "--data", "D", "--plot", "model.safetensors"],
            "--plot: 'model.safetensors' is the same file as --out",
        ),
        (
            ["predict", "m.safetensors", "--data", "x.csv", "--out", "m.safetensors"],
            "--out: 'm.safetensors' is the same",
        ),
        (["check", "--nets", "0"], "--nets"),
        (["check", "m.safetensors", "--nets", "3"], "--nets: only without MODEL"),
        (["check", "--tol", "nan"], "--tol"),
        (["check", "--data", "x.csv"], "--data: needs a MODEL"),
        (["predict", "missing.safetensors", "--data", "x.csv"], "missing.safetensors"),
        (
            [
                "predict",
                "m.safetensors",
                "--data",
                "x.csv",
                "--out",
                "/nonexistent/p.csv",
            ],
            "--out",
        ),
    ],
)
def test_bad_options_are_one_line_exit_2_before_any_work(run, argv, words):
    code, out, err = run(*argv)
    assert code == 2
    assert words in one_error_line(err)
    assert out == ""  # nothing loaded, nothing trained


@pytest.mark.parametrize(
    "plot, words",
    [
        ("/nonexistent/dir/x.png", "--plot: the folder '/nonexistent/dir' does not exist"),
        ("loss.xyz", "--plot: cannot write a 'xyz' picture"),
    ],
    ids=["missing folder", "unknown format"],
)
def test_a_plot_that_cannot_be_written_is_refused_before_training(run, files, plot, words):
    pytest.importorskip("matplotlib")
    code, out, err = run("train", "--data", str(files / "binary.csv"), "--label", "label", "--plot", plot)
    assert code == 2 and words in one_error_line(err)
    assert out == "" and not os.path.exists("model.safetensors")


def test_read_only_output_folder_is_refused_before_training(run, files, tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    if os.access(ro, os.W_OK):  # root writes anywhere: make the folder read-only as os.access reports it
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(ro) else real_access(p, mode))
    args = ["--data", str(files / "binary.csv"), "--label", "label", "--out", str(ro / "m.safetensors")]
    try:
        code, out, err = run("train", *args)
    finally:
        ro.chmod(0o700)
    assert code == 2 and f"--out: the folder '{ro}' is not writable" in one_error_line(err) and out == ""


def test_batch_size_larger_than_the_training_part(run, files):
    code, out, err = run(
        "train",
        "--data",
        str(files / "binary.csv"),
        "--label",
        "label",
        "--batch-size",
        "100000",
        "--no-progress",
    )
    assert code == 2 and "--batch-size: expected at most the 144 training rows, got 100000" in one_error_line(err)
    assert "training" not in out and not os.path.exists("model.safetensors")


BAD_CSV = {
    "missing_label": ("a,b\n1,0\n", ["--label", "target"], "target"),
    "non_numeric": ("a,y\n1,0\nfoo,1\n", [], "'foo'"),
    "empty": ("", [], "empty"),
    "ragged": ("a,b,y\n1,2\n", [], "2 cells, expected 3"),
}


@pytest.mark.parametrize("case", sorted(BAD_CSV))
def test_bad_csv_files_are_one_line_exit_2(run, tmp_path, case):
    text, extra, words = BAD_CSV[case]
    (tmp_path / "d.csv").write_text(text)
    code, _out, err = run("train", "--data", "d.csv", "--out", "m", *extra)
    assert code == 2 and words in one_error_line(err)
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_a_text_id_column_is_refused_without_ignore_and_fine_with_it(run, files):
    code, _, err = run("train", "--data", str(files / "with_id.csv"), *TRAIN)
    assert code == 2 and "'id'" in one_error_line(err)
    code, _out, err = run("train", "--data", str(files / "with_id.csv"), "--ignore", "id", *TRAIN)
    assert code == 0, err
    _, meta = checkpoints.load("model.safetensors")
    assert meta["feature_names"] == ["f1", "f2", "f3"] and meta["label"] == ["label"] and meta["ignored"] == ["id"]


def test_softmax_labels_that_are_not_classes_are_refused(run, files):
    code, out, err = run("train", "--data", str(files / "regression.csv"), "--head", "softmax", *TRAIN)
    assert code == 2 and "--head: 'softmax' needs integer class labels" in one_error_line(err)
    assert "training" not in out


# ---------------------------------------------------------------- train: heads, splits, metrics, metadata
def test_binary_train_reports_real_test_accuracy_and_saves_names(run, files):
    code, out, err = run("train", "--data", str(files / "binary.csv"), "--label", "label", *TRAIN)
    assert code == 0, err
    assert "split: 144 train / 16 validation / 40 test (stratified, seed 1)" in out
    params, meta = checkpoints.load("model.safetensors")
    assert meta["label"] == ["label"] and meta["feature_names"] == ["f1", "f2", "f3"]
    assert meta["head"] == "sigmoid" and meta["activation"] == "relu" and meta["layer_sizes"] == (3, 8, 1)
    assert meta["step"] == 300 and meta["status"] == "ok"
    # the reported test accuracy is the model's on the held-out part, recomputed from the checkpoint
    x, y, _ = data.load_csv(files / "binary.csv", label="label")
    _, x_te, _, y_te = data.train_test_split(x, y, test_fraction=0.2, seed=1, stratify=True)
    xs = data.apply_standardize(x_te, np.array(meta["standardize_mean"]), np.array(meta["standardize_std"]))
    acc = jaxnet.accuracy(params, xs.astype(np.float32), y_te.astype(np.float32))
    assert meta["test_accuracy"] == pytest.approx(acc, abs=1e-6)
    assert f"accuracy {acc:.4f}" in re.search(r"^test: .*$", out, re.MULTILINE).group(0)
    assert acc >= 0.9  # a linearly separable set: the net learned it


@pytest.mark.slow
def test_minibatches_and_the_largest_seed(run, files):
    code, out, err = run("train", "--data", str(files / "binary.csv"), "--label", "label", *TRAIN,
                         "--batch-size", "16", "--seed", str(2**63 - 1))  # fmt: skip
    assert code == 0, err
    assert "batch 16" in out and f"seed {2**63 - 1}" in out
    _, meta = checkpoints.load("model.safetensors")
    assert meta["batch_size"] == 16 and meta["seed"] == 2**63 - 1 and meta["test_accuracy"] >= 0.9


@pytest.mark.slow
def test_multiclass_labels_train_a_softmax_head(run, files):
    code, out, err = run("train", "--data", str(files / "classes.csv"), *TRAIN)
    assert code == 0, err
    assert "softmax head" in out and "3 classes" in out
    _, meta = checkpoints.load("model.safetensors")
    assert meta["head"] == "softmax" and meta["layer_sizes"][-1] == 3 and meta["classes"] == 3
    assert meta["label"] == ["kind"] and meta["test_accuracy"] > meta["baseline_test_accuracy"]
    code, pred, err = run("predict", "model.safetensors", "--data", str(files / "classes.csv"))
    lines = pred.splitlines()
    assert code == 0 and lines[0] == "row,class,probability_0,probability_1,probability_2" and len(lines) == 201
    table = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    assert (table[:, 1] == np.argmax(table[:, 2:], axis=1)).all()
    np.testing.assert_allclose(table[:, 2:].sum(axis=1), 1.0, atol=1e-6)
    assert re.search(r"label column\(s\) 'kind': accuracy 0\.[89]", err)


def test_predict_refuses_values_that_overflow_the_models_dtype(run, binary_model, tmp_path):
    (tmp_path / "far.csv").write_text("f1,f2,f3\n0,0,0\n1e39,0,0\n")
    code, out, err = run("predict", binary_model, "--data", "far.csv")
    assert code == 2 and "far.csv: data row 2 (and 0 more)" in one_error_line(err) and "float32" in err
    assert out == ""


def test_predict_warns_about_nan_predictions(run, binary_model, files, monkeypatch):
    real = jaxnet.forward
    monkeypatch.setattr(jaxnet, "forward", lambda *a, **k: real(*a, **k).at[2].set(np.nan))
    code, out, err = run("predict", binary_model, "--data", str(files / "new.csv"))
    assert code == 0 and "warning: 1 of 7 rows have NaN/inf predictions" in err
    assert out.splitlines()[3].split(",")[1:] == ["", "nan", "nan"]


@pytest.mark.slow
def test_regression_reports_rmse_and_r2_and_predicts_in_the_targets_units(run, files):
    code, out, err = run("train", "--data", str(files / "regression.csv"), *TRAIN)
    assert code == 0, err
    assert re.search(r"^test: +loss \S+  rmse \S+  r2 \S+", out, re.MULTILINE)
    _params, meta = checkpoints.load("model.safetensors")
    assert meta["head"] == "identity" and meta["label"] == ["price"]
    assert meta["test_r2"] > 0.95 and meta["test_rmse"] < meta["baseline_test_rmse"] / 4
    # the checkpoint alone predicts prices (the target scaling is folded into the last layer)
    code, pred, err = run("predict", "model.safetensors", "--data", str(files / "regression.csv"))
    assert code == 0
    rows = [line.split(",") for line in pred.splitlines()]
    assert rows[0] == ["row", "price"]
    values = np.array([float(r[1]) for r in rows[1:]])
    target = np.loadtxt(files / "regression.csv", delimiter=",", skiprows=1)[:, 3]
    assert np.sqrt(np.mean((values - target) ** 2)) < 0.25 * target.std()
    assert re.search(r"label column\(s\) 'price': rmse \S+, r2 0\.9", err)


@pytest.mark.slow
def test_head_and_activation_overrides_are_stored(run, files):
    code, _out, err = run(
        "train",
        "--data",
        str(files / "binary.csv"),
        "--label",
        "label",
        "--head",
        "identity",
        "--activation",
        "tanh",
        *TRAIN,
    )
    assert code == 0, err
    _, meta = checkpoints.load("model.safetensors")
    assert meta["head"] == "identity" and meta["activation"] == "tanh"


@pytest.mark.slow
def test_several_label_columns_make_a_multi_label_model(run, files):
    code, _out, err = run("train", "--data", str(files / "two_labels.csv"), "--label", "a,b", *TRAIN)
    assert code == 0, err
    _, meta = checkpoints.load("model.safetensors")
    assert meta["label"] == ["a", "b"] and meta["layer_sizes"] == (3, 8, 2) and meta["head"] == "sigmoid"
    code, pred, err = run("predict", "model.safetensors", "--data", str(files / "two_labels.csv"))
    assert pred.splitlines()[0] == "row,a,b,probability_a,probability_b"
    assert "label column(s) 'a', 'b': accuracy" in err


@pytest.mark.slow
def test_label_leakage_is_warned_and_avoided_with_several_labels(run, files):
    code, _, err = run("train", "--data", str(files / "onehot.csv"), "--label", "is_2", *TRAIN)
    assert code == 0, err
    assert "warning: feature column(s)" in err and "'is_0'" in err and "'is_1'" in err and "leakage" in err
    code, _out, err = run(
        "train",
        "--data",
        str(files / "onehot.csv"),
        "--label",
        "is_0,is_1,is_2",
        "--head",
        "softmax",
        *TRAIN,
    )
    assert code == 0, err
    assert "leakage" not in err
    _, meta = checkpoints.load("model.safetensors")
    assert meta["feature_names"] == ["f1", "f2", "f3"] and meta["label"] == [
        "is_0",
        "is_1",
        "is_2",
    ]
    code, pred, err = run("predict", "model.safetensors", "--data", str(files / "onehot.csv"))
    assert pred.splitlines()[0] == "row,class,probability_is_0,probability_is_1,probability_is_2"
    assert pred.splitlines()[1].split(",")[1] in ("is_0", "is_1", "is_2")


@pytest.mark.slow
def test_early_stopping_on_the_validation_part_restores_the_best_step(run, files, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from jaxnet import plotting

    seen = {}
    real_fit, real_plot = jaxnet.fit, plotting.plot_loss

    def spy_fit(params, x, y, **kw):
        seen["train"], seen["validation"] = np.asarray(x), np.asarray(kw["validation"][0])
        return real_fit(params, x, y, **kw)

    def spy_plot(history, path, **kw):
        seen["history"], seen["val_label"] = history, kw.get("val_label")
        return real_plot(history, path, **kw)

    monkeypatch.setattr(jaxnet, "fit", spy_fit)
    monkeypatch.setattr(plotting, "plot_loss", spy_plot)
    argv = ["--hidden", "32", "--optimizer", "adam", "--lr", "0.05", "--steps", "3000", "--eval-every", "20",
            "--early-stopping", "3", "--val-fraction", "0.3", "--plot", "loss.png", "--no-progress"]  # fmt: skip
    with jax.numpy_dtype_promotion("standard"):  # optax.adam mixes a Python float with an int32 count
        code, out, err = run("train", "--data", str(files / "binary.csv"), "--label", "label", *argv)
    assert code == 0, err
    _, meta = checkpoints.load("model.safetensors")
    assert meta["stopped"] == "early_stopping" and meta["step"] == meta["best_step"] < meta["steps_run"] < 3000
    assert f"kept the best parameters, from step {meta['best_step']}" in out
    # validation rows come out of the training part: 200 rows = 40 test + 160 -> 112 train + 48 validation
    assert len(seen["train"]) == 112 and len(seen["validation"]) == 48
    assert not (seen["validation"][:, None, :] == seen["train"][None, :, :]).all(axis=2).any()
    # the plot shows the train and validation curves, evaluated every 20 steps
    h = seen["history"]
    assert seen["val_label"] == "validation loss" and len(h["val_loss"]) == len(h["val_step"]) > 3
    assert (np.asarray(h["val_step"]) % 20 == 0).all()
    assert (tmp_path / "loss.png").read_bytes()[:8] == PNG


@pytest.mark.slow
def test_a_training_no_better_than_the_majority_class_exits_4(run, files):
    code, _out, err = run("train", "--data", str(files / "no_signal.csv"), *TRAIN)
    assert code == cli.EXIT_FAILED_TRAINING == 4
    assert "training failed" in err and "majority class" in err and "Hint" in err
    _, meta = checkpoints.load("model.safetensors")
    assert meta["status"] == "failed" and meta["test_accuracy"] == pytest.approx(meta["baseline_test_accuracy"])


@pytest.mark.slow
def test_a_regression_no_better_than_the_mean_exits_4(run, files):
    code, _out, err = run(
        "train",
        "--data",
        str(files / "regression.csv"),
        "--steps",
        "1",
        "--lr",
        "1e-9",
        "--no-progress",
    )
    assert code == 4 and "no better than predicting the training mean" in err


@pytest.mark.slow
def test_divergence_exits_3_and_says_nothing_was_saved(run, files):
    code, _out, err = run(
        "train",
        "--data",
        str(files / "binary.csv"),
        "--label",
        "label",
        "--lr",
        "1e30",
        "--steps",
        "50",
        "--no-progress",
    )
    assert code == cli.EXIT_DIVERGED == 3
    line = err.strip().splitlines()[-1]
    assert re.search(
        r"training diverged after step 0 of 50 .*--lr.*nothing trained yet, nothing saved",
        line,
    )
    assert not os.path.exists("model.safetensors")


def diverging_fit(real_fit, nan):
    """fit that trains 40 steps, then reports divergence (with NaN parameters if ``nan``)."""

    def fit(params, x, y, **kw):
        p, s, h = real_fit(params, x, y, **{**kw, "steps": 40})
        if nan:
            p = {k: v * np.float32(np.nan) for k, v in p.items()}
        raise jaxnet.DivergenceError("diverged", p, s, h)

    return fit


@pytest.mark.slow
def test_divergence_after_some_steps_saves_the_last_finite_parameters(run, files, monkeypatch):
    monkeypatch.setattr(jaxnet, "fit", diverging_fit(jaxnet.fit, nan=False))
    code, _out, err = run("train", "--data", str(files / "binary.csv"), "--label", "label", *TRAIN)
    assert code == 3
    assert "training diverged after step 40 of 300" in err
    assert "saved the last finite parameters (step 40) to model.safetensors" in err
    _params, meta = checkpoints.load("model.safetensors")
    assert meta["status"] == "diverged" and meta["step"] == 40


def test_divergence_never_saves_a_model_that_predicts_nan(run, files, monkeypatch):
    monkeypatch.setattr(jaxnet, "fit", diverging_fit(jaxnet.fit, nan=True))
    code, _out, err = run("train", "--data", str(files / "binary.csv"), "--label", "label", *TRAIN)
    assert code == 3 and "predict NaN/inf, nothing saved" in err
    assert not os.path.exists("model.safetensors")


def test_interrupt_during_fit_saves_the_training_so_far(run, files, monkeypatch):
    """Ctrl-C as fit reports it (TrainingInterrupted with the last chunk's state): saved, exit 130."""
    real_fit = jaxnet.fit

    def interrupted_fit(params, x, y, **kw):
        p, s, h = real_fit(params, x, y, **{**kw, "steps": 40})
        raise jaxnet.TrainingInterrupted("interrupted", p, s, h)

    monkeypatch.setattr(jaxnet, "fit", interrupted_fit)
    code, _out, err = run("train", "--data", str(files / "binary.csv"), "--label", "label", *TRAIN)
    assert code == 130
    assert "interrupted at step 40 of 300; saved the training so far (step 40) to model.safetensors" in err
    _, meta = checkpoints.load("model.safetensors")
    assert meta["status"] == "interrupted" and meta["step"] == 40


@pytest.mark.slow
def test_small_problems_run_on_the_cpu_with_one_line_only_off_cpu(run, files, monkeypatch):
    on_accelerator = jax.default_backend() != "cpu"
    code, out, _ = run("train", "--data", str(files / "binary.csv"), "--label", "label", *TRAIN)
    assert code == 0 and out.count("running on the CPU") == on_accelerator  # nothing on a CPU-only machine
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")  # as on a GPU machine
    code, out, _ = run("train", "--data", str(files / "binary.csv"), "--label", "label", *TRAIN)
    assert code == 0 and out.count("running on the CPU") == 1
    code, out, _ = run("walkthrough")
    assert code == 0 and out.splitlines()[0].startswith("running on the CPU: ") and out.count("running on the CPU") == 1
    code, out, err = run("predict", "model.safetensors", "--data", str(files / "new.csv"))
    assert code == 0 and err == "" and "running" not in out  # inference moves silently: stdout is the CSV
    code, out, _ = run("check", "model.safetensors")
    assert code == 0 and "running" not in out


@pytest.mark.slow
def test_big_problems_stay_on_the_default_device(run, files, monkeypatch):
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")  # as on a GPU machine
    big = ["--hidden", "1024,1024", "--steps", "1", "--no-progress"]  # 144 rows x ~1.05M weights per step
    code, out, _ = run("train", "--data", str(files / "binary.csv"), "--label", "label", *big)
    assert code in (0, 4) and "training" in out and "running on the CPU" not in out


# ---------------------------------------------------------------- predict
@pytest.fixture(scope="module")
def binary_model(files, tmp_path_factory):
    """One binary model for the predict and check tests (trained once)."""
    path = tmp_path_factory.mktemp("model") / "m.safetensors"
    before = jax.config.jax_enable_compilation_cache
    code = cli.main(
        [
            "train",
            "--data",
            str(files / "binary.csv"),
            "--label",
            "label",
            *TRAIN,
            "--out",
            str(path),
            "--no-cache",
        ]
    )
    jax.config.update("jax_enable_compilation_cache", before)
    assert code == 0
    return str(path)


def test_predict_writes_row_class_and_one_probability_per_class(run, files, binary_model):
    code, out, err = run("predict", binary_model, "--data", str(files / "new.csv"))
    assert code == 0 and err == ""  # no label column: no metrics
    lines = out.splitlines()
    assert lines[0] == "row,class,probability_0,probability_1" and len(lines) == 8
    table = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    assert table[:, 0].tolist() == list(range(1, 8))
    np.testing.assert_allclose(table[:, 2] + table[:, 3], 1.0, atol=1e-7)
    assert (table[:, 1] == (table[:, 3] >= 0.5)).all()
    params, meta = checkpoints.load(binary_model)
    x = data.apply_standardize(
        data.load_features(files / "new.csv", meta["feature_names"]),
        np.array(meta["standardize_mean"]),
        np.array(meta["standardize_std"]),
    )
    expected = np.asarray(jaxnet.predict_proba(params, x.astype(np.float32))).ravel()
    np.testing.assert_allclose(table[:, 3], expected, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_predict_reports_metrics_when_the_label_column_is_there(run, files, binary_model, tmp_path):
    code, out, err = run("predict", binary_model, "--data", str(files / "binary.csv"), "--out", "p.csv")
    assert code == 0 and out == ""
    acc = float(re.search(r"label column\(s\) 'label': accuracy ([0-9.]+)", err).group(1))
    params, meta = checkpoints.load(binary_model)
    x, y, _ = data.load_csv(files / "binary.csv", label="label")
    xs = data.apply_standardize(x, np.array(meta["standardize_mean"]), np.array(meta["standardize_std"]))
    assert acc == pytest.approx(jaxnet.accuracy(params, xs.astype(np.float32), y.astype(np.float32)), abs=1e-4)
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 201


def test_predict_missing_feature_column_exit_2(run, tmp_path, binary_model):
    (tmp_path / "d.csv").write_text("f1,f2\n1,2\n")
    code, _, err = run("predict", binary_model, "--data", "d.csv")
    assert code == 2 and "'f3'" in one_error_line(err)


def test_predict_unreadable_checkpoint_exit_2(run, tmp_path, files):
    (tmp_path / "m.safetensors").write_bytes(b"\x00" * 5)
    code, _, err = run("predict", "m.safetensors", "--data", str(files / "new.csv"))
    assert code == 2 and "m.safetensors" in one_error_line(err)


# ---------------------------------------------------------------- check
@pytest.mark.slow
def test_check_a_model_on_its_data(run, files, binary_model):
    code, out, err = run("check", binary_model, "--data", str(files / "binary.csv"))
    assert code == 0, out + err
    assert out.startswith(f"checkpoint: OK: {binary_model}")
    assert "data: OK" in out and "label column(s) 'label'" in out
    d = re.search(
        r"gradients: OK: .*\|autodiff - manual\| (\S+), \|autodiff - numerical\| (\S+)",
        out,
    )
    assert float(d.group(1)) < 1e-10 and float(d.group(2)) < 1e-6
    assert out.strip().endswith("check: OK")


@pytest.mark.slow
def test_check_a_model_without_data_uses_random_inputs(run, binary_model):
    code, out, _ = run("check", binary_model)
    assert code == 0 and "random rows with random labels" in out


def test_check_finds_a_corrupted_checkpoint(run, binary_model, tmp_path):
    raw = bytearray(Path(binary_model).read_bytes())
    raw[-3] ^= 0x10  # one bit of the last tensor
    (tmp_path / "bad.safetensors").write_bytes(bytes(raw))
    code, out, _ = run("check", "bad.safetensors")
    assert code == 1 and out.startswith("checkpoint: FAILED")


def test_check_finds_data_without_the_models_columns(run, binary_model, tmp_path):
    (tmp_path / "d.csv").write_text("f1,f2,label\n1,2,0\n")
    code, out, _ = run("check", binary_model, "--data", "d.csv")
    assert code == 1 and "data: FAILED" in out and "'f3'" in out and "check: FAILED" in out


def test_check_warns_about_data_far_from_the_training_data(run, binary_model, files, tmp_path):
    x = np.loadtxt(files / "binary.csv", delimiter=",", skiprows=1)
    x[:, 0] += 100.0  # f1 shifted by ~100 training standard deviations
    write_csv(tmp_path / "shifted.csv", ["f1", "f2", "label", "f3"], x.tolist())
    code, out, _ = run("check", binary_model, "--data", "shifted.csv")
    assert "data: warning: column(s) 'f1' lie more than 3 training standard deviations" in out
    assert "'f2'" not in out.split("data: warning:")[1].split("\n")[0]


@pytest.mark.slow
def test_check_finds_metadata_that_does_not_fit_the_tensors(run, tmp_path):
    params = jaxnet.init_mlp(0, (3, 4, 1))
    checkpoints.save(tmp_path / "m.safetensors", params, metadata={"feature_names": ["a", "b"], "label": ["y", "z"]})
    code, out, _ = run("check", "m.safetensors")
    assert code == 1 and "metadata: FAILED: feature_names: expected 3 distinct names" in out
    assert "label: 2 label column(s)" in out


@pytest.mark.slow
def test_check_a_large_model_along_random_directions(run, tmp_path):
    params = jaxnet.init_mlp(0, (3, 100, 50, 1))  # 5,501 parameters: more than central differences take
    checkpoints.save(tmp_path / "big.safetensors", params)
    code, out, _ = run("check", "big.safetensors")
    assert code == 0, out
    d = re.search(r"\|autodiff - numerical\| (\S+) \(central differences along 8 random directions", out)
    assert d and float(d.group(1)) < 1e-6


@pytest.mark.slow
def test_check_random_nets_share_one_shape_and_its_compilations(run, count_compiles):
    with count_compiles() as one:
        code, out, _ = run("check", "--nets", "1", "--seed", "11")
    assert code == 0
    with count_compiles() as many:
        code, out6, _ = run("check", "--nets", "6", "--seed", "12")
    assert code == 0
    shapes = re.findall(r"sizes (\S+),", out6)
    assert len(shapes) == 6 and len(set(shapes)) == 1 and shapes[0] not in out  # a new shape, compiled once
    assert many() <= one()
    assert float(re.search(r"largest disagreement: (\S+)", out6).group(1)) < 1e-6


def test_check_tolerance_is_honoured(run):
    code, out, _ = run("check", "--nets", "1", "--seed", "11", "--tol", "1e-300")
    assert code == 1 and "FAILED" in out


# ---------------------------------------------------------------- misc
def test_version_and_help(run):
    code, out, _ = run("--version")
    assert code == 0 and out.strip() == f"jaxnet {jaxnet.__version__}"
    code, out, _ = run("train", "--help")
    assert code == 0
    for words in (
        "--label",
        "--ignore",
        "--early-stopping",
        "--val-fraction",
        "JAXNET_CACHE_DIR",
        "exit codes",
    ):
        assert words in out


@pytest.mark.parametrize(
    "argv",
    [
        ["walkthrough", "--plot", "n.png"],
        ["train", "--data", "breast_cancer", "--plot", "l.png"],
    ],
)
def test_plot_without_matplotlib_exit_2(run, monkeypatch, tmp_path, argv):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    code, _out, err = run(*argv)
    assert code == 2 and "matplotlib" in one_error_line(err)
    assert os.listdir(tmp_path) == []


def test_out_of_memory_is_one_line_exit_2(run, files, monkeypatch):
    def oom(*a, **k):
        raise jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 4000000000000 bytes.\nmore")

    monkeypatch.setattr(jaxnet, "init_mlp", oom)
    code, _, err = run("train", "--data", str(files / "binary.csv"), "--label", "label", *TRAIN)
    assert code == 2 and "out of memory; try a smaller --hidden or --batch-size" in one_error_line(err)


def test_warnings_are_one_line(run, binary_model, files, monkeypatch):
    real = checkpoints.load

    def load(path):
        warnings.warn("format 1 checkpoint:\nno checksum", checkpoints.CheckpointWarning, stacklevel=2)
        return real(path)

    monkeypatch.setattr(checkpoints, "load", load)
    code, _, err = run("predict", binary_model, "--data", str(files / "new.csv"))
    assert code == 0 and err == "jaxnet: warning: format 1 checkpoint: no checksum\n"


def test_an_internal_error_is_one_line_exit_70(run, monkeypatch, files):
    def broken(*a, **k):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(data, "fit_standardize", broken)
    code, _out, err = run("train", "--data", str(files / "binary.csv"), "--label", "label", *TRAIN)
    assert code == 70 and err.count("\n") == 1 and "internal error" in err and "RuntimeError: boom second line" in err

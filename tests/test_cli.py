"""The ``jaxnet`` command line: every command in a subprocess (as users run it),
argument and data errors in-process (cheap) and once in a subprocess."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxnet import checkpoints, cli

PNG = b"\x89PNG\r\n\x1a\n"
HAVE_MPL = importlib.util.find_spec("matplotlib") is not None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A small separable CSV (40 rows, 3 features, label 'label' in the middle)."""
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    lines = ["f1,f2,label,f3"] + [f"{a:.6f},{b:.6f},{t},{c:.6f}" for (a, b, c), t in zip(x, y)]
    (d / "train.csv").write_text("\n".join(lines) + "\n")
    # prediction input: feature columns only, in another order
    (d / "new.csv").write_text("f3,f2,f1\n" + "".join(f"{c},{b},{a}\n" for a, b, c in x[:7]))
    return d


def env(cache):
    e = dict(os.environ, JAXNET_CACHE_DIR=str(cache), PYTHONWARNINGS="ignore")
    e.pop("XDG_CACHE_HOME", None)
    return e


def run(args, cwd, cache, script=False):
    cmd = [shutil.which("jaxnet")] if script else [sys.executable, "-m", "jaxnet.cli"]
    return subprocess.run(cmd + list(args), cwd=cwd, env=env(cache), capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def trained(workdir):
    """``jaxnet train`` through the installed console script (once for the module)."""
    if shutil.which("jaxnet") is None:
        pytest.skip("the jaxnet console script is not installed (pip install -e .)")
    plot = ["--plot", "loss.png"] if HAVE_MPL else []
    r = run(["train", "--data", "train.csv", "--label", "label", "--hidden", "4", "--steps", "60",
             "--optimizer", "adam", "--lr", "0.05", "--seed", "1", "--out", "m.safetensors",
             *plot, "--no-progress"], workdir, workdir / "cache", script=True)
    assert r.returncode == 0, r.stderr
    return r


def test_train_writes_a_checkpoint_that_loads(workdir, trained):
    out = trained.stdout
    assert "split: 32 train / 8 test" in out
    acc = float(re.search(r"test:\s+loss [0-9.]+\s+accuracy ([0-9.]+)", out).group(1))
    assert 0.0 <= acc <= 1.0
    assert "Traceback" not in trained.stderr
    params, meta = checkpoints.load(workdir / "m.safetensors")
    assert meta["layer_sizes"] == (3, 4, 1) and meta["dtype"] == "float32" and meta["step"] == 60
    assert meta["feature_names"] == ["f1", "f2", "f3"]
    assert len(meta["standardize_mean"]) == len(meta["standardize_std"]) == 3
    assert meta["test_accuracy"] == pytest.approx(acc, abs=1e-4)
    if HAVE_MPL:
        assert (workdir / "loss.png").read_bytes()[:8] == PNG


def test_train_turns_on_the_persistent_cache_in_the_env_folder(workdir, trained):
    cache = workdir / "cache"
    assert cache.is_dir() and any(cache.iterdir())


def test_predict_prints_probabilities_with_the_saved_standardisation(workdir, trained):
    r = run(["predict", "m.safetensors", "--data", "new.csv", "--no-cache"], workdir, workdir / "nocache")
    assert r.returncode == 0, r.stderr
    probs = np.array([float(v) for v in r.stdout.split()])
    assert probs.shape == (7,) and np.all((probs >= 0) & (probs <= 1))
    assert not (workdir / "nocache").exists()  # --no-cache: nothing written
    # the same numbers in-process, from the checkpoint and its standardisation
    import jaxnet
    from jaxnet import data

    params, meta = checkpoints.load(workdir / "m.safetensors")
    x = data.apply_standardize(data.load_features(workdir / "new.csv", meta["feature_names"]),
                               np.array(meta["standardize_mean"]), np.array(meta["standardize_std"]))
    expected = np.asarray(jaxnet.forward(params, x.astype(np.float32))).ravel()
    np.testing.assert_allclose(probs, expected, rtol=1e-6, atol=1e-7)


@pytest.fixture
def inproc(monkeypatch):
    """Run ``cli.main`` in this process without leaving JAX config changed."""
    before = jax.config.jax_enable_compilation_cache
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    yield cli.main
    jax.config.update("jax_enable_compilation_cache", before)


def test_predict_out_file_in_process(workdir, trained, inproc, capsys):
    out = workdir / "probs.csv"
    assert inproc(["predict", str(workdir / "m.safetensors"), "--data", str(workdir / "train.csv"),
                   "--out", str(out), "--no-cache"]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "probability" and len(lines) == 41
    assert all(0.0 <= float(v) <= 1.0 for v in lines[1:])
    assert capsys.readouterr().out == ""


@pytest.mark.skipif(not HAVE_MPL, reason="matplotlib is not installed")
def test_walkthrough_with_plot(tmp_path):
    r = run(["walkthrough", "--plot", "net.png"], tmp_path, tmp_path / "cache")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) > 5
    assert (tmp_path / "net.png").read_bytes()[:8] == PNG


def test_check_reports_a_small_disagreement(tmp_path):
    r = run(["check", "--nets", "2", "--seed", "1"], tmp_path, tmp_path / "cache")
    assert r.returncode == 0, r.stderr
    assert len(re.findall(r"^net \d+: sizes", r.stdout, re.M)) == 2
    worst = float(re.search(r"largest disagreement: (\S+)", r.stdout).group(1))
    assert worst < 1e-6


def test_bad_csv_in_a_subprocess_is_one_line_exit_2(tmp_path):
    (tmp_path / "bad.csv").write_text("a,b,y\n1,2,0\n3,x,1\n")
    r = run(["train", "--data", "bad.csv", "--no-progress"], tmp_path, tmp_path / "cache")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["jaxnet: error: bad.csv: line 3, column 'b': 'x' is not a finite number"]
    assert "Traceback" not in r.stderr + r.stdout


BAD_CSV = {
    "missing_label": ("a,b\n1,0\n", ["--label", "target"], "no label column 'target'"),
    "non_numeric": ("a,y\n1,0\nfoo,1\n", [], "'foo' is not a finite number"),
    "labels_not_01": ("a,y\n1,0\n2,3\n", [], "label 3 is not 0 or 1"),
    "empty": ("", [], "empty"),
    "ragged": ("a,b,y\n1,2\n", [], "2 cells, expected 3"),
}


@pytest.mark.parametrize("case", sorted(BAD_CSV))
def test_bad_csv_files_in_process(tmp_path, inproc, capsys, case):
    text, extra, words = BAD_CSV[case]
    (tmp_path / "d.csv").write_text(text)
    code = inproc(["train", "--data", str(tmp_path / "d.csv"), "--no-cache", "--out", str(tmp_path / "m"), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("jaxnet: error: ") and words in err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("argv,words", [
    ([], "required: COMMAND"),
    (["nonsense"], "invalid choice"),
    (["train"], "required: --data"),
    (["train", "--data", "breast_cancer", "--hidden", "16,x"], "--hidden"),
    (["train", "--data", "breast_cancer", "--steps", "0"], "--steps"),
    (["train", "--data", "breast_cancer", "--steps", "ten"], "invalid int value"),
    (["train", "--data", "breast_cancer", "--lr", "-1"], "--lr"),
    (["train", "--data", "breast_cancer", "--optimizer", "rmsprop"], "invalid choice"),
    (["train", "--data", "breast_cancer", "--batch-size", "100000"], "--batch-size"),
    (["check", "--nets", "0"], "--nets"),
    (["predict", "missing.safetensors", "--data", "x.csv"], "missing.safetensors: no such checkpoint"),
])
def test_bad_arguments_one_line_exit_2(inproc, capsys, argv, words):
    code = inproc([*argv, "--no-cache"] if argv and argv[0] in ("train", "check", "predict") else argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("jaxnet: error: ") and words in err


def test_unreadable_checkpoint_exit_2(tmp_path, inproc, capsys, workdir):
    bad = tmp_path / "m.safetensors"
    bad.write_bytes(b"\x00" * 5)
    code = inproc(["predict", str(bad), "--data", str(workdir / "new.csv"), "--no-cache"])
    err = capsys.readouterr().err
    assert code == 2 and str(bad) in err and err.count("\n") == 1


def test_predict_missing_feature_column_exit_2(tmp_path, inproc, capsys, workdir, trained):
    (tmp_path / "d.csv").write_text("f1,f2\n1,2\n")
    code = inproc(["predict", str(workdir / "m.safetensors"), "--data", str(tmp_path / "d.csv"), "--no-cache"])
    assert code == 2 and "missing feature column(s) 'f3'" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["walkthrough", "--plot", "n.png"],
                                  ["train", "--data", "breast_cancer", "--plot", "l.png"]])
def test_plot_without_matplotlib_exit_2(tmp_path, inproc, capsys, monkeypatch, argv):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    monkeypatch.chdir(tmp_path)
    code = inproc([*argv, "--no-cache"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "matplotlib" in err
    assert os.listdir(tmp_path) == []


def test_help_documents_the_cache(inproc, capsys):
    assert inproc(["train", "--help"]) == 0
    out = capsys.readouterr().out
    for words in ("--cache-dir", "--no-cache", "JAXNET_CACHE_DIR", "XDG_CACHE_HOME", "~/.cache/jaxnet/xla"):
        assert words in out
    assert inproc(["--version"]) == 0
    assert capsys.readouterr().out.strip().startswith("jaxnet ")

"""The ``jaxnet`` command as users run it: ``python -m jaxnet.cli`` in a subprocess (slow); the option
refusals run its ``main`` in this process.

Never the ``jaxnet`` script on PATH (it may be missing or belong to another
checkout): ``python -m`` with this checkout first on ``PYTHONPATH``.
"""

import importlib.util
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import free_port, run_together

import jaxnet
from jaxnet import checkpoints
from jaxnet.cli import main as cli_main

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"
HAVE_MPL = importlib.util.find_spec("matplotlib") is not None


def env(cache):
    e = dict(
        os.environ,
        JAXNET_CACHE_DIR=str(cache),
        PYTHONWARNINGS="ignore",
        XLA_PYTHON_CLIENT_PREALLOCATE="false",
    )
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    e.pop("XDG_CACHE_HOME", None)
    e.pop("JAXNET_CACHE", None)  # the suite turns the cache off; these runs check the CLI's default (on)
    return e


def cli(args, cwd, cache=None, **kw):
    return subprocess.run(
        [sys.executable, "-m", "jaxnet.cli", *args],
        check=False,
        cwd=cwd,
        env=env(cache or cwd / "cache"),
        capture_output=True,
        text=True,
        timeout=600,
        **kw,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_sub")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    (d / "train.csv").write_text(
        "f1,f2,label,f3\n" + "".join(f"{a:.6f},{b:.6f},{t},{c:.6f}\n" for (a, b, c), t in zip(x, y))
    )
    return d


def test_version_is_the_packages(workdir):
    r = cli(["--version"], workdir)
    assert r.returncode == 0 and r.stdout.strip() == f"jaxnet {jaxnet.__version__}"


def test_train_then_predict_then_check(workdir):
    plot = ["--plot", "loss.png"] if HAVE_MPL else []
    r = cli(
        [
            "train",
            "--data",
            "train.csv",
            "--label",
            "label",
            "--hidden",
            "4",
            "--steps",
            "200",
            "--optimizer",
            "adam",
            "--lr",
            "0.05",
            "--seed",
            "1",
            "--out",
            "m.safetensors",
            *plot,
            "--no-progress",
        ],
        workdir,
    )
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    _, meta = checkpoints.load(workdir / "m.safetensors")
    assert meta["label"] == ["label"] and meta["test_accuracy"] > meta["baseline_test_accuracy"]
    assert (workdir / "cache").is_dir() and any((workdir / "cache").iterdir())  # the persistent cache is on
    if HAVE_MPL:
        assert (workdir / "loss.png").read_bytes()[:8] == PNG
    r = cli(
        ["predict", "m.safetensors", "--data", "train.csv", "--no-cache"],
        workdir,
        cache=workdir / "nocache",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "row,class,probability_0,probability_1" and len(r.stdout.splitlines()) == 61
    assert "label column(s) 'label': accuracy" in r.stderr
    assert not (workdir / "nocache").exists()
    r = cli(["check", "m.safetensors", "--data", "train.csv"], workdir)
    assert r.returncode == 0 and r.stdout.strip().endswith("check: OK"), r.stdout + r.stderr


def test_bad_csv_is_one_line_exit_2(tmp_path):
    (tmp_path / "bad.csv").write_text("a,b,y\n1,2,0\n3,x,1\n")
    r = cli(["train", "--data", "bad.csv", "--no-progress"], tmp_path)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("jaxnet: error: bad.csv")
    assert "Traceback" not in r.stderr + r.stdout


@pytest.mark.parametrize(
    "option",
    [
        ["--seed", "1180591620717411303424"],
        ["--steps", "100000000000"],
        ["--lr", "inf"],
        ["--out", "/nonexistent/m.safetensors"],
    ],
)
def test_overflowing_options_are_one_line_exit_2(tmp_path, option, monkeypatch, capsys):
    """In this process: ``python -m jaxnet.cli`` runs this same ``main`` (test_bad_csv_is_one_line_exit_2 runs a
    refusal as a subprocess, exit code and the one stderr line included), and a subprocess per option cost
    ~1.5 s of ``import jax`` each."""
    monkeypatch.chdir(tmp_path)
    before = jax.config.jax_enable_compilation_cache
    try:
        code = cli_main(["train", "--data", "breast_cancer", *option])
    finally:
        jax.config.update("jax_enable_compilation_cache", before)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and option[0] in err
    assert not any(tmp_path.iterdir())  # refused before any work: nothing written


def test_walkthrough(tmp_path):
    r = cli(["walkthrough"], tmp_path)
    assert r.returncode == 0, r.stderr
    on_accelerator = jax.default_backend() != "cpu"  # there the 2-3-1 net runs on the CPU, saying so once
    assert "OK: all" in r.stdout and r.stdout.count("running on the CPU") == on_accelerator


def _read_into(stream, sink):
    for chunk in iter(lambda: stream.read(1), ""):
        sink.append(chunk)


@pytest.mark.parametrize(
    ("signum", "expected", "said"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated \\(SIGTERM\\)")],
)
def test_ctrl_c_or_sigterm_saves_the_training_so_far(tmp_path, signum, expected, said):
    """SIGINT (Ctrl-C) or SIGTERM (what schedulers send) once the bar shows steps done: the checkpoint holds
    those steps, exit 130 or 143 within seconds (never the upstream crash at exit, 139)."""
    args = [
        "train",
        "--data",
        "breast_cancer",
        "--hidden",
        "64,64",
        "--steps",
        "2000000",
        "--out",
        "m.safetensors",
    ]
    p = subprocess.Popen(
        [sys.executable, "-m", "jaxnet.cli", *args],
        cwd=tmp_path,
        env=env(tmp_path / "cache"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = [], []
    threads = [
        threading.Thread(target=_read_into, args=(s, sink), daemon=True)
        for s, sink in ((p.stdout, out), (p.stderr, err))
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 300
    while not re.search(r"\b[1-9]\d*/2000000\b", "".join(err)):  # the bar has counted steps
        assert p.poll() is None, "".join(out + err)
        assert time.monotonic() < deadline, "no progress bar: " + "".join(out + err)
        time.sleep(0.2)
    sent = time.monotonic()
    p.send_signal(signum)
    code = p.wait(timeout=60)
    waited = time.monotonic() - sent
    for t in threads:
        t.join(timeout=5)
    err_text = "".join(err)
    assert code == expected, err_text
    assert waited < 10
    m = re.search(
        said + r" at step (\d+) of 2000000; saved the training so far \(step \1\) to m.safetensors",
        err_text,
    )
    assert m, err_text
    _, meta = checkpoints.load(tmp_path / "m.safetensors")
    assert meta["step"] == int(m.group(1)) > 0 and meta["status"] == "interrupted"
    assert "Traceback" not in err_text


def test_train_over_two_processes_writes_one_checkpoint(tmp_path):
    """``jaxnet train --coordinator 127.0.0.1:PORT --num-processes 2 --process-id I`` in two local processes
    (CPU, one device each; bounded in time, killed on failure): both exit 0, process 0 alone saves."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(121, 3))
    rows = "".join(f"{a:.6f},{b:.6f},{c:.6f},{int(a + b > 0)}\n" for a, b, c in x)
    (tmp_path / "d.csv").write_text("f1,f2,f3,label\n" + rows)
    args = ["train", "--data", "d.csv", "--out", "m.safetensors", "--steps", "200", "--no-progress", "--hidden", "8"]
    dist = ["--coordinator", f"127.0.0.1:{free_port()}", "--num-processes", "2"]
    e = dict(env(tmp_path / "cache"), JAX_PLATFORMS="cpu", XLA_FLAGS="")
    argv = [sys.executable, "-m", "jaxnet.cli", *args, *dist, "--process-id"]
    runs = run_together([([*argv, str(i)], e) for i in range(2)], timeout=240, cwd=tmp_path)
    outs = [text for _, text in runs]
    for i, (code, text) in enumerate(runs):
        assert code == 0, text
        assert f"distributed: process {i} of 2, 2 devices in all (1 here)" in text, text
    assert "saved m.safetensors" in outs[0] and "saved m.safetensors" not in outs[1]
    assert sorted(f.name for f in tmp_path.iterdir() if f.name != "cache") == ["d.csv", "m.safetensors"]
    _, meta = checkpoints.load(tmp_path / "m.safetensors")
    assert meta["status"] == "ok" and meta["step"] == 200

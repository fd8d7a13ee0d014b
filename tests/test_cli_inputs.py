"""The CLI's inputs, outputs and signals (issue 18 §2.5, §3, §4; issue 21's options), in-process.

A pipe as ``--data`` is read once, sizes are checked before rows are parsed, errors name the column and the
option at fault, ``predict --out`` is atomic, a checkpoint without feature names is never matched to columns
by guess, ``JAXNET_CACHE=0`` is obeyed; SIGTERM saves like Ctrl-C (exit 143) and a signal during the save
waits for it; the multi-process options are checked before JAX is called. The two-process run itself and
the real signals are in ``test_cli_subprocess.py`` (slow)."""

import errno
import os
import signal
import threading

import jax
import numpy as np
import pytest

import jaxnet
from jaxnet import checkpoints, cli


@pytest.fixture
def run(monkeypatch, tmp_path, capsys):
    """``run(*argv) -> (code, stdout, stderr)`` in this process, in ``tmp_path``, JAX config restored after."""
    before = jax.config.jax_enable_compilation_cache
    monkeypatch.chdir(tmp_path)

    def call(*argv, cache=False):
        code = cli.main([*argv, "--no-cache"] if not cache else list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    yield call
    jax.config.update("jax_enable_compilation_cache", before)


def csv_text(header, rows):
    return ",".join(header) + "\n" + "".join(",".join(str(v) for v in r) + "\n" for r in rows)


def binary_rows(n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    return [(f"{a:.6f}", f"{b:.6f}", f"{c:.6f}", int(a + b > 0)) for a, b, c in x]


def pipe(text):
    """``/dev/fd/N`` of a pipe that yields ``text`` once, as bash's ``<(cat f.csv)`` gives: a second open of
    the path would see nothing (or block). The writer runs in a thread and closes its end when done."""
    r, w = os.pipe()

    def write():
        with os.fdopen(w, "w") as f:
            f.write(text)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return f"/dev/fd/{r}", thread


def model(tmp_path, meta, sizes=(3, 1), name="m.safetensors"):
    """A checkpoint written directly (no training): a 3-input sigmoid net with the given metadata."""
    params = jaxnet.init_mlp(0, sizes)
    checkpoints.save(tmp_path / name, params, metadata=meta)
    return name


SCALED = {"feature_names": ["a", "b", "c"], "standardize_mean": [0.0] * 3, "standardize_std": [1.0] * 3}


# ---------------------------------------------------------------- read once
@pytest.mark.slow  # trains (compiles) a small network
def test_train_reads_a_pipe_once(run, tmp_path):
    path, thread = pipe(csv_text(["f1", "f2", "f3", "label"], binary_rows()))
    code, out, err = run("train", "--data", path, "--steps", "200", "--no-progress", "--val-fraction", "0")
    thread.join(5)
    assert code == 0, err
    assert "60 rows, 3 features, label 'label'" in out
    _, meta = checkpoints.load(tmp_path / "model.safetensors")
    assert meta["feature_names"] == ["f1", "f2", "f3"]


@pytest.mark.slow  # compiles the forward pass and the three gradients
def test_predict_and_check_read_a_pipe_once(run, tmp_path):
    name = model(tmp_path, {**SCALED, "label": ["y"]})
    rows = [(1, 2, 3, 1), (0, -1, 0, 1)]  # y first, the features in another order
    path, thread = pipe(csv_text(["y", "c", "b", "a"], rows))
    code, out, err = run("predict", name, "--data", path)
    thread.join(5)
    assert code == 0, err
    assert out.splitlines()[0] == "row,class,probability_0,probability_1" and len(out.splitlines()) == 3
    assert "labelled data: the CSV has the label column(s) 'y'" in err  # the labels came from the same read
    path, thread = pipe(csv_text(["y", "c", "b", "a"], rows))
    code, out, _ = run("check", name, "--data", path)
    thread.join(5)
    assert "data: OK:" in out and "2 rows with the model's 3 feature columns, label column(s) 'y'" in out


def test_hidden_sizes_are_refused_before_any_row_is_parsed(run, tmp_path):
    (tmp_path / "d.csv").write_text("a,b,y\n1,2,0\nnot a number,2,1\n")  # parsing the rows would fail on line 3
    code, _, err = run("train", "--data", "d.csv", "--hidden", "1000000,1000000")
    assert code == 2 and err.startswith("jaxnet: error: argument --hidden:") and "parameters" in err, err


# ---------------------------------------------------------------- errors that name what is at fault
def test_test_fraction_that_leaves_too_few_rows_is_blamed_on_test_fraction(run, tmp_path):
    (tmp_path / "d.csv").write_text(csv_text(["f1", "f2", "f3", "label"], binary_rows(200)))
    code, _, err = run("train", "--data", "d.csv", "--test-fraction", "0.999")
    assert code == 2 and err.startswith("jaxnet: error: argument --test-fraction: 0.999 leaves"), err


def test_standardisation_overflow_names_the_column_without_a_numpy_warning(run, tmp_path):
    name = model(tmp_path, {**SCALED, "standardize_std": [1.0, 1e-300, 1.0]})
    (tmp_path / "far.csv").write_text("a,b,c\n0,1e300,0\n")
    code, out, err = run("predict", name, "--data", "far.csv")
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "column 1 ('b')" in err and "overflows" in err and "Warning" not in err


# ---------------------------------------------------------------- predict without feature names (§2.5)
def test_predict_without_feature_names_refuses_a_csv_with_other_columns(run, tmp_path):
    name = model(tmp_path, {"input_scaling": None})  # 3 inputs, names unknown
    (tmp_path / "ylast.csv").write_text("y,a,b,c\n1,0.5,0.25,2\n")  # the case: used [y, a, b]
    code, out, err = run("predict", name, "--data", "ylast.csv")
    assert code == 2 and out == "" and "does not record its feature names" in err and "4 columns" in err, err
    (tmp_path / "exact.csv").write_text("a,b,c\n0.5,0.25,2\n")  # exactly its inputs: taken in order
    code, out, err = run("predict", name, "--data", "exact.csv")
    assert code == 0 and len(out.splitlines()) == 2, err


# ---------------------------------------------------------------- predict --out
def test_predict_out_is_written_atomically(run, tmp_path, monkeypatch):
    name = model(tmp_path, SCALED)
    (tmp_path / "new.csv").write_text("a,b,c\n1,2,3\n4,5,6\n")
    (tmp_path / "p.csv").write_text("old predictions\n")

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", full_disk)
    code, _, err = run("predict", name, "--data", "new.csv", "--out", "p.csv")
    assert code == 2 and "argument --out: cannot write 'p.csv'" in err and "nothing written" in err, err
    assert (tmp_path / "p.csv").read_text() == "old predictions\n"  # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "new.csv", "p.csv"]  # no temp left
    monkeypatch.setattr(os, "fsync", real_fsync)
    code, _, err = run("predict", name, "--data", "new.csv", "--out", "p.csv")
    assert code == 0 and len((tmp_path / "p.csv").read_text().splitlines()) == 3, err


# ---------------------------------------------------------------- JAXNET_CACHE=0
def test_jaxnet_cache_0_turns_the_cli_cache_off(run, tmp_path, monkeypatch):
    monkeypatch.setenv("JAXNET_CACHE_DIR", str(tmp_path / "cache"))
    seen = {}
    monkeypatch.setattr(cli, "_check", lambda args: seen.setdefault("on", jax.config.jax_enable_compilation_cache))
    monkeypatch.setenv("JAXNET_CACHE", "0")
    run("check", cache=True)
    assert seen.pop("on") is False
    monkeypatch.setenv("JAXNET_CACHE", "1")
    run("check", cache=True)
    assert seen.pop("on") is True and jax.config.jax_compilation_cache_dir != str(tmp_path / "cache")  # restored


# ---------------------------------------------------------------- signals (issue 18 §4)
TRAIN = ["--steps", "300", "--no-progress"]


@pytest.fixture
def binary_csv(tmp_path):
    (tmp_path / "d.csv").write_text(csv_text(["f1", "f2", "f3", "label"], binary_rows(120)))
    return "d.csv"


def fit_then_signal(monkeypatch, signum):
    """``jaxnet.fit`` that trains 40 steps, then receives ``signum`` (as fit hands a Ctrl-C back)."""
    real_fit = jaxnet.fit

    def fit(params, x, y, **kw):
        p, s, h = real_fit(params, x, y, **{**kw, "steps": 40})
        try:
            os.kill(os.getpid(), signum)
        except KeyboardInterrupt:
            raise jaxnet.TrainingInterrupted("interrupted", p, s, h) from None
        raise AssertionError("the signal did not interrupt")

    monkeypatch.setattr(jaxnet, "fit", fit)


def signal_during_save(monkeypatch, signum):
    """``checkpoints.save`` that receives ``signum`` half-way (before writing)."""
    real_save = checkpoints.save

    def save(*args, **kw):
        os.kill(os.getpid(), signum)
        return real_save(*args, **kw)

    monkeypatch.setattr(checkpoints, "save", save)


@pytest.mark.slow  # trains (compiles) a small network
def test_sigterm_saves_like_ctrl_c_and_exits_143(run, binary_csv, monkeypatch):
    fit_then_signal(monkeypatch, signal.SIGTERM)
    code, _, err = run("train", "--data", binary_csv, *TRAIN)
    assert code == cli.EXIT_TERMINATED == 143, err
    assert "terminated (SIGTERM) at step 40 of 300; saved the training so far (step 40) to model.safetensors" in err
    _, meta = checkpoints.load("model.safetensors")
    assert meta["status"] == "interrupted" and meta["step"] == 40


@pytest.mark.slow  # trains (compiles) a small network
def test_a_second_ctrl_c_during_the_save_waits_for_it_and_says_so(run, binary_csv, monkeypatch):
    fit_then_signal(monkeypatch, signal.SIGINT)
    signal_during_save(monkeypatch, signal.SIGINT)
    code, _, err = run("train", "--data", binary_csv, *TRAIN)
    assert code == 130, err
    assert "Ctrl-C (SIGINT) received: finishing the save first" in err
    assert "saved the training so far (step 40) to model.safetensors" in err
    assert "Ctrl-C (SIGINT) while saving, which was finished first: model.safetensors was written whole" in err
    _, meta = checkpoints.load("model.safetensors")
    assert meta["status"] == "interrupted" and meta["step"] == 40


@pytest.mark.slow  # trains (compiles) a small network
def test_ctrl_c_during_the_final_save_keeps_the_finished_model(run, binary_csv, monkeypatch):
    signal_during_save(monkeypatch, signal.SIGTERM)
    code, out, err = run("train", "--data", binary_csv, *TRAIN)
    assert code == 143 and "saved model.safetensors" in out, err
    assert "SIGTERM while saving, which was finished first: model.safetensors was written whole" in err
    _, meta = checkpoints.load("model.safetensors")
    assert meta["status"] == "ok" and meta["step"] == 300


def test_an_interrupt_before_training_says_which_signal(run, binary_csv, monkeypatch):
    def terminated(*args, **kw):
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(cli.data, "read_table", terminated)
    code, _, err = run("train", "--data", binary_csv)
    assert code == 143 and err == "jaxnet: terminated (SIGTERM)\n"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # main's handlers are put back


# ---------------------------------------------------------------- multi-host options (issue 21)
@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--num-processes", "2"], "argument --num-processes/--process-id: needs --coordinator"),
        (["--coordinator", "127.0.0.1:1", "--num-processes", "2", "--process-id", "2"], "argument --process-id:"),
        (["--coordinator", "127.0.0.1:1", "--process-id", "-1"], "argument --process-id: expected an integer >= 0"),
        (["--coordinator", "127.0.0.1:1", "--num-processes", "0"], "argument --num-processes:"),
    ],
)
def test_distributed_options_are_checked_before_jax_is_called(run, binary_csv, monkeypatch, argv, words):
    monkeypatch.setattr(jax.distributed, "initialize", lambda *a, **k: pytest.fail("jax.distributed called"))
    monkeypatch.delenv("JAX_COORDINATOR_ADDRESS", raising=False)
    code, _, err = run("train", "--data", binary_csv, *argv)
    assert code == 2 and err.startswith(f"jaxnet: error: {words}"), err


@pytest.mark.parametrize("command", ["predict", "check"])
def test_a_file_that_does_not_record_its_spec_is_refused_not_guessed(run, tmp_path, command):
    """Issue 16 §3: a format-1 checkpoint without activation/head gets relu/sigmoid filled in by jaxnet.load;
    jaxnet predict and jaxnet check refuse it, naming what is missing, instead of computing with the guess."""
    import json

    import safetensors.numpy

    params, _, _ = jaxnet.seed_example()
    tensors = {k: np.ascontiguousarray(np.asarray(v, np.float32)) for k, v in params.items()}
    record = {"format_version": 1, "layer_sizes": [2, 3, 1], "dtype": "float32", "jaxnet_version": "0.1.0"}
    safetensors.numpy.save_file(tensors, "v1.safetensors", metadata={"jaxnet": json.dumps({**record, "metadata": {}})})
    (tmp_path / "x.csv").write_text(csv_text(["a", "b"], [(0.5, 0.8), (1.0, -1.0)]))
    argv = ["predict", "v1.safetensors", "--data", "x.csv"] if command == "predict" else ["check", "v1.safetensors"]
    code, out, err = run(*argv)  # the CLI shows load's CheckpointWarning as a 'jaxnet: warning:' line
    assert code != 0
    assert "does not record its activation and head" in out + err and f"jaxnet {command} will not guess" in out + err

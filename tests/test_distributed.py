"""Multi-process training with ``jax.distributed``: 2 and 4 processes on localhost, CPU, gloo collectives.

Each group runs tests/distributed_worker.py in every process (one jax import, every scenario; the 4-process
group leaves out those that do not depend on the process count, see GROUPS); the results
are compared here with one-process runs of the same calls. Every process is bounded in time and all are
killed when one fails.
"""

import json
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import free_port, run_together

import jaxnet

WORKER = Path(__file__).with_name("distributed_worker.py")
ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 240  # a whole group; each run takes ~15-40 s on a busy 2-core machine


def _run_group(processes: int, devices: int, out: Path, skip: frozenset[str]) -> None:
    """Run every process (with ``devices`` CPU devices each, scenarios in ``skip`` left out) within TIMEOUT_S;
    all are killed if one fails."""
    port = free_port()
    flags = f"--xla_force_host_platform_device_count={devices}"
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT), XLA_FLAGS=flags)
    argv = [sys.executable, str(WORKER), str(port), str(processes)]
    runs = run_together([([*argv, str(i), str(out), ",".join(sorted(skip))], env) for i in range(processes)], TIMEOUT_S)
    text = [f"--- process {i} (exit {code}) ---\n{log[-3000:]}" for i, (code, log) in enumerate(runs)]
    assert all(code == 0 for code, _ in runs), "\n".join(text)


def _results(out: Path, name: str, processes: int) -> list[tuple[dict, dict]]:
    return [
        (dict(np.load(out / f"{name}.{i}.npz")), json.loads((out / f"{name}.{i}.json").read_text()))
        for i in range(processes)
    ]


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6))
    return x, (x[:, 0] - x[:, 2] > 0).astype(float)


def _start():
    return jaxnet.init_mlp(jax.random.key(1), (6, 16, 8, 1), dtype=jnp.float64)


def _assert_params(got: dict, want: dict, tol: float = 1e-12) -> None:
    for k, v in want.items():
        np.testing.assert_allclose(got[k], np.asarray(v), rtol=0, atol=tol, err_msg=k)


def _check_fits(out: Path, processes: int, skip: frozenset[str]) -> None:
    x, y = _data()
    sgd = optax.sgd(0.2)
    full = jaxnet.fit(_start(), x, y, steps=40, optimizer=sgd, progress=False)
    mini = jaxnet.fit(_start(), x, y, steps=40, optimizer=sgd, progress=False, batch_size=16, key=2)
    for name, (params, _, hist) in (("full", full), ("minibatch", mini), ("local_rows", mini)):
        if name in skip:
            continue
        for i, (arrays, facts) in enumerate(_results(out, name, processes)):
            _assert_params(arrays, params)
            np.testing.assert_allclose(arrays["loss"], hist["loss"], rtol=0, atol=1e-12)
            assert facts["local"] and facts["stopped"] == "completed", (name, i, facts)
    for _, facts in _results(out, "different_y", processes):
        assert facts["error"].startswith("y: expected the same value on every process"), facts
    for _, facts in _results(out, "overflow", processes):  # was PeerStopped, 'a process has probably died'
        assert facts["error"] == "ValueError" and facts["message"].startswith("y: every input is finite"), facts
    rows = [facts["rows"] for _, facts in _results(out, "local_rows", processes)]
    assert rows == [[i * 64 // processes, (i + 1) * 64 // processes] for i in range(processes)]


def _check_stops(out: Path, processes: int, skip: frozenset[str]) -> None:
    x, y = _data()
    sgd = optax.sgd(0.2)
    val = (x[:16], 1 - y[:16])
    params, _, hist = jaxnet.fit(
        _start(), x, y, steps=200, optimizer=sgd, progress=False, validation=val, eval_every=5, early_stopping=2
    )
    assert hist["stopped"] == "early_stopping" and hist["steps_done"] < 200
    for arrays, facts in _results(out, "early", processes):
        assert facts == {"stopped": "early_stopping", "steps_done": hist["steps_done"], "best_step": hist["best_step"]}
        _assert_params(arrays, params)
        np.testing.assert_allclose(arrays["val_loss"], hist["val_loss"], rtol=0, atol=1e-12)
    stops = _results(out, "callback_stop", processes)  # chunks of at most 10 steps; the callback stops at >= 30
    assert len({json.dumps(f) for _, f in stops}) == 1 and stops[0][1]["stopped"] == "callback", stops
    assert 30 <= stops[0][1]["steps_done"] < 40
    for arrays, _ in stops[1:]:
        _assert_params(arrays, stops[0][0], tol=0)
    if "diverged" in skip:
        return
    with pytest.warns(jaxnet.DivergenceWarning) as caught:
        params, _, hist = jaxnet.fit(_start(), x, y, steps=40, optimizer=optax.sgd(50.0), progress=False)
    assert hist["stopped"] == "diverged"
    for arrays, facts in _results(out, "diverged", processes):
        assert facts["stopped"] == "diverged" and facts["steps_done"] == hist["steps_done"], facts
        assert facts["warnings"] == [str(w.message) for w in caught]
        _assert_params(arrays, params)
        np.testing.assert_allclose(arrays["loss"], hist["loss"], rtol=0, atol=1e-12)


def _check_sweep(out: Path, processes: int, skip: frozenset[str]) -> None:
    if "sweep" in skip:
        return
    x, y = _data()
    keys = jax.random.split(jax.random.key(3), 5)
    rates = np.array([0.05, 0.1, 0.2, 0.5, 1e4])
    with pytest.warns(jaxnet.DivergenceWarning, match="1 of 5 nets diverged"):
        ps, losses, diverged = jaxnet.sweep(
            x, y, sizes=(6, 8, 1), keys=keys, learning_rates=rates, steps=30, dtype=jnp.float64
        )
    assert np.asarray(diverged).tolist() == [False] * 4 + [True]
    for arrays, facts in _results(out, "sweep", processes):
        _assert_params(arrays, ps)
        np.testing.assert_allclose(arrays["losses"], losses, rtol=0, atol=1e-12)  # NaN where diverged, on both
        assert arrays["diverged"].tolist() == np.asarray(diverged).tolist()
        assert facts["local"] and len(facts["warnings"]) == 1 and "1 of 5 nets diverged" in facts["warnings"][0]


def _check_save_and_failures(out: Path, processes: int) -> None:
    for _, facts in _results(out, "sharded_params", processes):  # validate reads back only this process's parts
        assert facts == {"sharded": True, "ok": "passed"}, facts
    assert [f["wrote"] for _, f in _results(out, "save", processes)] == [True] + [False] * (processes - 1)
    params, meta = jaxnet.load(out / "shared.safetensors")
    _assert_params(params, _results(out, "callback_stop", processes)[0][0], tol=0)
    assert meta["step"] == 1 and not list(out.glob(".shared*.tmp"))
    last = processes - 1
    for name, own, step in (("interrupt", "TrainingInterrupted", 30), ("callback_raises", "CallbackError", 20)):
        results = _results(out, name, processes)
        for i, (arrays, facts) in enumerate(results):
            assert facts["error"] == (own if i == last else "PeerStopped"), (name, i, facts)
            assert step <= facts["steps_done"] == results[0][1]["steps_done"] < step + 10, (name, i, facts)
            _assert_params(arrays, results[0][0], tol=0)
            if i != last:
                assert f"process {i} of {processes} found that process {last} " in facts["message"], facts
    died = _results(out, "peer_died", last)  # within seconds, where JAX's heartbeat would take 100
    for _, facts in died:
        assert facts["error"] == "PeerStopped" and "probably died" in facts["message"], facts
        assert 30 <= facts["steps"] == died[0][1]["steps"] < 40 and facts["seconds"] < 60, facts


# Four processes of one device add what depends on the process count: local rows in four parts, stops agreed
# among four (three processes naming the last one), one writer of four, three survivors of a dead process. Both
# groups have 4 devices in all, so 'full', 'minibatch', 'sweep' and 'diverged' run the same SPMD programs in
# both; two processes of two devices also cover a process holding several shards (sweep's gather, local rows of
# two devices). In the four-process group the full-batch program still runs over four processes in 'early',
# 'callback_stop' and the failures, and the minibatch one in 'local_rows', each checked against one process.
# Leaving those four out there saves ~16 s of a ~33 s group on a 2-core machine (the sweep alone ~10 s).
GROUPS = [(2, 2, frozenset()), (4, 1, frozenset({"full", "minibatch", "sweep", "diverged"}))]


@pytest.mark.slow
@pytest.mark.parametrize("processes, devices, skip", GROUPS, ids=["2-2", "4-1"])
def test_training_over_processes_equals_one_process(processes, devices, skip, tmp_path):
    """fit (full batch, minibatches, local rows, early stopping, a stopping callback), sweep, save, Ctrl-C,
    a raising callback and a dead process: 2 processes of 2 devices; 4 of 1 where the process count matters."""
    _run_group(processes, devices, tmp_path, skip)
    _check_fits(tmp_path, processes, skip)
    _check_stops(tmp_path, processes, skip)
    _check_sweep(tmp_path, processes, skip)
    _check_save_and_failures(tmp_path, processes)


@pytest.mark.slow
def test_data_parallel_example_runs_over_two_processes():
    """examples/data_parallel.py with JAXNET_DISTRIBUTED=1, started as the docs say: two local processes."""
    env = dict(
        os.environ,
        JAX_PLATFORMS="cpu",
        PYTHONPATH=str(ROOT),
        XLA_FLAGS="",
        JAXNET_DISTRIBUTED="1",
        JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{free_port()}",
        JAX_NUM_PROCESSES="2",
    )
    script = str(ROOT / "examples" / "data_parallel.py")
    runs = run_together([([sys.executable, script], dict(env, JAX_PROCESS_ID=str(i))) for i in range(2)], TIMEOUT_S)
    for i, (code, text) in enumerate(runs):
        assert code == 0, text
        assert f"process {i} of 2" in text and "228 per device" in text, text


# --- one process: the same API, and its checks ------------------------------------------------------------


@pytest.mark.slow
def test_one_process_local_rows_is_every_row_and_gives_the_same_fit():
    x, y = _data()
    mesh = jaxnet.data_parallel_mesh()
    rows = jaxnet.distributed.local_rows(len(x), mesh)
    assert rows == slice(0, 64)
    kw = {"steps": 5, "progress": False, "mesh": mesh, "batch_size": 16, "key": 2}
    a = jaxnet.fit(_start(), x[rows], y[rows], local_rows=True, **kw)
    b = jaxnet.fit(_start(), x, y, **kw)
    _assert_params(a[0], b[0], tol=0)


@pytest.mark.slow
def test_one_process_sweep_over_a_mesh_equals_the_plain_sweep():
    x, y = _data()
    kw = {"sizes": (6, 4, 1), "keys": jax.random.split(jax.random.key(0), 3), "steps": 5, "dtype": jnp.float64}
    ps, losses, diverged = jaxnet.sweep(x, y, mesh=jaxnet.data_parallel_mesh(), **kw)
    want = jaxnet.sweep(x, y, **kw)
    _assert_params(ps, want[0], tol=0)
    np.testing.assert_array_equal(losses, want[1])
    np.testing.assert_array_equal(diverged, want[2])


@pytest.mark.slow
def test_save_returns_true_on_the_one_process(tmp_path):
    assert jaxnet.save(tmp_path / "p.safetensors", jaxnet.seed_example()[0]) is True


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        ({"local_rows": 1}, TypeError, ("local_rows:", "True or False", "int")),
        ({"local_rows": True}, ValueError, ("local_rows:", "mesh")),
        (
            {"local_rows": True, "mesh": "mesh", "validation_split": 0.25},
            ValueError,
            ("validation_split:", "local_rows"),
        ),
    ],
)
def test_fit_refuses_bad_local_rows(kwargs, exc, words):
    x, y = _data()
    if kwargs.get("mesh") == "mesh":
        kwargs = dict(kwargs, mesh=jaxnet.data_parallel_mesh())
    with pytest.raises(exc) as e:
        jaxnet.fit(_start(), x, y, steps=1, progress=False, **kwargs)
    assert str(e.value).startswith(words[0]) and all(w in str(e.value) for w in words), str(e.value)


def test_sweep_and_local_rows_refuse_bad_meshes():
    x, y = _data()
    with pytest.raises(TypeError, match="^mesh: expected a jax.sharding.Mesh or None, got str"):
        jaxnet.sweep(x, y, sizes=(6, 1), keys=jax.random.split(jax.random.key(0), 2), steps=1, mesh="all")
    with pytest.raises(ValueError, match="^device: give a mesh"):
        jaxnet.sweep(
            x, y, sizes=(6, 1), keys=jax.random.split(jax.random.key(0), 2), steps=1,
            mesh=jaxnet.data_parallel_mesh(), device=jax.devices()[0],
        )  # fmt: skip
    with pytest.raises(ValueError, match="^n: 7 rows do not split evenly over the mesh's 2"):
        jaxnet.distributed.local_rows(7, _two())


def _two():
    """A two-'device' mesh view: the one CPU device listed twice is enough for the arithmetic checks."""
    return jax.sharding.Mesh(np.array(jax.devices()[:1] * 2), ("data",))


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"num_processes": "two"}, ("num_processes:", "whole number", "'two'")),
        ({"num_processes": 0}, ("num_processes:", "a positive integer", "0")),
        ({"process_id": -1}, ("process_id:", ">= 0", "-1")),
        ({"num_processes": 2, "process_id": 2}, ("process_id:", "below num_processes=2", "2")),
    ],
)
def test_initialize_checks_its_numbers_before_calling_jax(kwargs, words, monkeypatch):
    called = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda *a, **k: called.append(a))
    with pytest.raises(ValueError) as e:
        jaxnet.distributed.initialize("127.0.0.1:1", **kwargs)
    assert str(e.value).startswith(words[0]) and all(w in str(e.value) for w in words), str(e.value)
    assert not called


def test_initialize_reads_the_environment(monkeypatch):
    called = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda *a, **k: called.append((a, k)))
    monkeypatch.setenv("JAX_NUM_PROCESSES", "4")
    monkeypatch.setenv("JAX_PROCESS_ID", "3")
    jaxnet.distributed.initialize("127.0.0.1:1", heartbeat_timeout_seconds=5)
    jaxnet.distributed.initialize("127.0.0.1:1", num_processes=2, process_id=0)  # arguments win
    assert called == [(("127.0.0.1:1", 4, 3), {"heartbeat_timeout_seconds": 5}), (("127.0.0.1:1", 2, 0), {})]


def test_sigint_becomes_a_flag_and_the_handler_comes_back():
    import signal

    before = signal.getsignal(signal.SIGINT)
    with jaxnet.distributed.sigint_as_flag(True) as flag:
        assert not flag[0]
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)  # the handler runs at the next bytecode boundary
        assert flag[0]
        assert signal.getsignal(signal.SIGINT) is before  # a second Ctrl-C raises as usual
    assert signal.getsignal(signal.SIGINT) is before

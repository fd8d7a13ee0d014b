"""Multi-process training with ``jax.distributed``: 2 and 4 processes on localhost, CPU, gloo collectives.

Each group runs tests/distributed_worker.py in every process (one jax import, every scenario); the results
are compared here with one-process runs of the same calls. Every process is bounded in time and all are
killed when one fails.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnet

WORKER = Path(__file__).with_name("distributed_worker.py")
ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 240  # a whole group; each run takes ~15-40 s on a busy 2-core machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_group(processes: int, out: Path) -> None:
    """Start every process, wait for all within TIMEOUT_S, and kill all of them if one fails or time runs out."""
    port = _free_port()
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT), XLA_FLAGS="")
    logs = [open(out / f"log.{i}", "w+") for i in range(processes)]  # noqa: SIM115 -- closed below
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(port), str(processes), str(i), str(out)],
            stdout=logs[i],
            stderr=subprocess.STDOUT,
            env=env,
        )
        for i in range(processes)
    ]
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while any(p.poll() is None for p in procs):
            failed = [p.returncode for p in procs if p.returncode not in (None, 0)]
            if failed or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        text = []
        for i, log in enumerate(logs):
            log.seek(0)
            text.append(f"--- process {i} (exit {procs[i].returncode}) ---\n{log.read()[-3000:]}")
            log.close()
    assert all(p.returncode == 0 for p in procs), "\n".join(text)


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


def _check_fits(out: Path, processes: int) -> None:
    x, y = _data()
    sgd = optax.sgd(0.2)
    full = jaxnet.fit(_start(), x, y, steps=40, optimizer=sgd, progress=False)
    mini = jaxnet.fit(_start(), x, y, steps=40, optimizer=sgd, progress=False, batch_size=16, key=2)
    for name, (params, _, hist) in (("full", full), ("minibatch", mini), ("local_rows", mini)):
        for i, (arrays, facts) in enumerate(_results(out, name, processes)):
            _assert_params(arrays, params)
            np.testing.assert_allclose(arrays["loss"], hist["loss"], rtol=0, atol=1e-12)
            assert facts["local"] and facts["stopped"] == "completed", (name, i, facts)
    rows = [facts["rows"] for _, facts in _results(out, "local_rows", processes)]
    assert rows == [[i * 64 // processes, (i + 1) * 64 // processes] for i in range(processes)]


def _check_stops(out: Path, processes: int) -> None:
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


def _check_sweep(out: Path, processes: int) -> None:
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


@pytest.mark.slow
@pytest.mark.parametrize("processes", [2, 4])
def test_training_over_processes_equals_one_process(processes, tmp_path):
    """fit (full batch, minibatches, local rows, early stopping, a stopping callback), sweep, save, Ctrl-C,
    a raising callback and a dead process, over 2 and 4 processes."""
    _run_group(processes, tmp_path)
    _check_fits(tmp_path, processes)
    _check_stops(tmp_path, processes)
    _check_sweep(tmp_path, processes)
    _check_save_and_failures(tmp_path, processes)

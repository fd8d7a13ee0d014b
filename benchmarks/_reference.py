"""Pure numpy and pure Python references for the worked example.

Run as a worker subprocess (``python -m benchmarks._reference --worker JSON``)
so that the numpy loop can be timed with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE
unset without touching the parent's environment.  Reports per-repeat loop
times, the final parameters and the BLAS kernel threadpoolctl sees.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import numpy as np

from benchmarks._harness import (
    SEED_X,
    SEED_Y,
    emit_result,
    params_to_json,
    seed_loss64,
    seed_params_numpy,
    worker_args,
)


def numpy_loop(steps: int, dtype: Any, lr: float = 0.1) -> dict[str, np.ndarray]:
    """The notebook's loop: forward, hand-derived backward, SGD, in numpy."""
    p = seed_params_numpy(dtype)
    W1, b1, W2, b2 = p["W1"], p["b1"], p["W2"], p["b2"]
    x = np.array(SEED_X, dtype)
    y = dtype(SEED_Y)
    lr = dtype(lr)
    for _ in range(steps):
        z1 = W1 @ x + b1
        a1 = np.maximum(z1, 0)
        z2 = W2 @ a1 + b2
        y_hat = 1 / (1 + np.exp(-z2))
        dz2 = y_hat - y
        dW2 = np.outer(dz2, a1)
        db2 = dz2
        da1 = W2.T @ dz2
        dz1 = da1 * (z1 > 0)
        dW1 = np.outer(dz1, x)
        db1 = dz1
        W1 = W1 - lr * dW1
        b1 = b1 - lr * db1
        W2 = W2 - lr * dW2
        b2 = b2 - lr * db2
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


def python_loop(steps: int, lr: float = 0.1) -> dict[str, list]:
    """The same training with Python floats and lists only (float64)."""
    W1 = [[0.2, -0.3], [0.4, 0.1], [-0.5, 0.2]]
    b1 = [0.1, -0.2, 0.1]
    W2 = [0.3, -0.4, 0.5]
    b2 = 0.1
    x0, x1 = SEED_X
    y = SEED_Y
    exp = math.exp
    for _ in range(steps):
        z1 = [W1[j][0] * x0 + W1[j][1] * x1 + b1[j] for j in range(3)]
        a1 = [z if z > 0 else 0.0 for z in z1]
        z2 = W2[0] * a1[0] + W2[1] * a1[1] + W2[2] * a1[2] + b2
        dz2 = 1.0 / (1.0 + exp(-z2)) - y
        for j in range(3):
            dz1 = W2[j] * dz2 if z1[j] > 0 else 0.0
            W2[j] -= lr * dz2 * a1[j]
            W1[j][0] -= lr * dz1 * x0
            W1[j][1] -= lr * dz1 * x1
            b1[j] -= lr * dz1
        b2 -= lr * dz2
    return {"W1": W1, "b1": b1, "W2": [W2], "b2": [b2]}


def _time_loop(fn, repeat: int) -> tuple[list[float], Any]:
    times, out = [], None
    fn(10)  # warm-up
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def blas_info() -> str:
    """The BLAS library and kernel numpy uses, as threadpoolctl reports it."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return (
        "; ".join(
            f"{i.get('internal_api')} {i.get('version')} kernel={i.get('architecture')} threads={i.get('num_threads')}"
            for i in infos
        )
        or "no BLAS found"
    )


def main(args: dict[str, Any]) -> dict[str, Any]:
    """Time the numpy loop (given dtype) and, in float64, the Python loop."""
    steps, repeat = int(args["steps"]), int(args["repeat"])
    dtype = np.dtype(args["dtype"]).type
    result: dict[str, Any] = {"blas": blas_info()}
    times, params = _time_loop(lambda n=steps: numpy_loop(n, dtype), repeat)
    one = seed_loss64(numpy_loop(1, np.float64))
    result["numpy"] = {"times": times, "params": params_to_json(params), "loss_after_1": one}
    if dtype is np.float64:
        times, params = _time_loop(lambda n=steps: python_loop(n), repeat)
        one = seed_loss64(python_loop(1))
        result["python"] = {"times": times, "params": params_to_json(params), "loss_after_1": one}
    return result


if __name__ == "__main__":
    emit_result(main(worker_args(sys.argv[1:]) or {"steps": 1000, "repeat": 3, "dtype": "float64"}))

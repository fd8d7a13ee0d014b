"""The worked example, step by step, through jaxnet's jitted functions, in float64.

Every value the notebook prints is recomputed and shown beside the notebook's
own printed value with the absolute difference; the three gradient paths are
compared; the update is explained from the numbers. Run it as
``python examples/seed_walkthrough.py`` or ``jaxnet walkthrough``; the exit
code is 0 only if every value matches the notebook to 1e-12.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, TextIO

import jax
import numpy as np
import optax

from jaxnet.gradients import default_eps, grads, manual_grads, numerical_grads
from jaxnet.losses import loss
from jaxnet.model import forward_trace, seed_example
from jaxnet.parallel import small_problem_device
from jaxnet.steps import make_train_step

__all__ = ["NOTEBOOK", "walkthrough_numbers", "report", "main"]

TOLERANCE = 1e-12
LEARNING_RATE = 0.1

# What the notebook prints, in its order: (label, printed value, digits shown or None for full precision).
# numpy prints arrays rounded to 8 decimals; scalars at full precision.
NOTEBOOK: list[tuple[str, Any, int | None]] = [
    ("z1", [-0.04, 0.08, 0.01], 8),
    ("a1", [0.0, 0.08, 0.01], 8),
    ("z2", 0.07300000000000001, None),
    ("y_hat", 0.5182418997957381, None),
    ("loss", 0.6573131577049656, None),
    ("dL/dW2", [-0.0, -0.03854065, -0.00481758], 8),
    ("dL/db2", -0.4817581002042619, None),
    ("dL/dW1", [[-0.0, -0.0], [0.09635162, 0.15416259], [-0.12043953, -0.19270324]], 8),
    ("dL/db1", [-0.0, 0.19270324, -0.24087905], 8),
    ("W1 (updated)", [[0.2, -0.3], [0.39036484, 0.08458374], [-0.48795605, 0.21927032]], 8),
    ("b1 (updated)", [0.1, -0.21927032, 0.12408791], 8),
    ("W2 (updated)", [0.3, -0.39614594, 0.50048176], 8),
    ("b2 (updated)", 0.1481758100204262, None),
    ("z1 (new)", [-0.04, 0.04357909, 0.05552614], 8),
    ("a1 (new)", [0.0, 0.04357909, 0.05552614], 8),
    ("z2 (new)", 0.15870195200089976, None),
    ("y_hat (new)", 0.5395924239414079, None),
    ("loss (new)", 0.6169411948853357, None),
]


def walkthrough_numbers() -> dict[str, Any]:
    """Every number of the worked example, computed by jaxnet in float64.

    Keys: ``params_before``, ``params_after``, ``grads``, ``manual_grads``,
    ``numerical_grads`` (dicts ``W1, b1, W2, b2``), ``trace_before``,
    ``trace_after`` (dicts ``z1, a1, z2, y_hat``), ``x``, ``loss_before``,
    ``loss_after``; all numpy float64.
    """
    with jax.enable_x64(True):
        params, x, y = seed_example(np.float64)
        optimizer = optax.sgd(LEARNING_RATE)
        step = make_train_step(optimizer)
        after, _, loss_before = step(params, optimizer.init(params), x, y)
        out = {
            "x": x,
            "params_before": params,
            "params_after": after,
            "grads": grads(params, x, y),
            "manual_grads": manual_grads(params, x, y),
            "numerical_grads": numerical_grads(params, x, y),
            "trace_before": forward_trace(params, x),
            "trace_after": forward_trace(after, x),
            "loss_before": loss_before,
            "loss_after": loss(after, x, y),
        }
        return jax.tree.map(lambda v: np.asarray(v, np.float64), out)


def _computed(n: dict[str, Any]) -> list[np.ndarray]:
    """The walkthrough's values in the notebook's order and shapes (W2 and scalars unwrapped)."""
    tb, ta, g, pa = n["trace_before"], n["trace_after"], n["grads"], n["params_after"]
    return [
        tb["z1"], tb["a1"], tb["z2"][0], tb["y_hat"][0], n["loss_before"],
        g["W2"][0], g["b2"][0], g["W1"], g["b1"],
        pa["W1"], pa["b1"], pa["W2"][0], pa["b2"][0],
        ta["z1"], ta["a1"], ta["z2"][0], ta["y_hat"][0], n["loss_after"],
    ]  # fmt: skip


def compare_with_notebook(n: dict[str, Any]) -> list[tuple[str, np.ndarray, np.ndarray, float]]:
    """``(label, ours, notebook, |difference|)`` for every printed value.

    Where the notebook printed an array rounded to 8 decimals, ours is rounded
    the same way before the difference is taken.
    """
    rows = []
    for (label, printed, digits), ours in zip(NOTEBOOK, _computed(n)):
        shown = np.round(ours, digits) if digits is not None else ours
        rows.append((label, ours, np.asarray(printed), float(np.max(np.abs(shown - np.asarray(printed))))))
    return rows


def _fmt(v: Any) -> str:
    """Full precision (shortest round-trip repr), nested lists on one line."""
    return str(np.asarray(v, np.float64).tolist())


def _discussion(n: dict[str, Any]) -> list[str]:
    """What the update did and why, read off the numbers."""
    tb, ta, pb, pa, g = n["trace_before"], n["trace_after"], n["params_before"], n["params_after"], n["grads"]
    y_hat0, y_hat1 = tb["y_hat"][0], ta["y_hat"][0]
    lines = [
        f"- The loss fell from {n['loss_before']:.4f} to {n['loss_after']:.4f} "
        f"({100 * (n['loss_after'] - n['loss_before']) / n['loss_before']:+.1f}%): one step of gradient descent "
        f"moved y_hat from {y_hat0:.4f} to {y_hat1:.4f}, "
        + ("toward the target y = 1." if abs(1 - y_hat1) < abs(1 - y_hat0) else "away from the target y = 1."),
        f"- dL/dz2 = y_hat - y = {y_hat0 - 1:.4f} < 0, so every step raises z2: b2 went "
        f"{pb['b2'][0]:.4f} -> {pa['b2'][0]:.4f} and z2 went {tb['z2'][0]:.4f} -> {ta['z2'][0]:.4f}.",
    ]
    for j, z in enumerate(tb["z1"]):
        unit = f"hidden unit {j + 1}"
        if z <= 0:
            unchanged = np.array_equal(pb["W1"][j], pa["W1"][j]) and pb["b1"][j] == pa["b1"][j]
            lines.append(
                f"- {unit} has z1 = {z:.2f} <= 0: ReLU outputs 0 and passes no gradient (relu'(z1) = 0), so its "
                f"incoming weights and bias {'did not change' if unchanged else 'changed (unexpected!)'}, and its "
                f"outgoing weight W2[{j}] = {pb['W2'][0, j]:.2f} got gradient a1 * dL/dz2 = 0."
            )
        else:
            direction = "raised" if ta["z1"][j] > z else "lowered"
            lines.append(
                f"- {unit} is active (z1 = {z:.2f}); its outgoing weight W2[{j}] = {pb['W2'][0, j]:+.2f} is "
                f"{'positive' if pb['W2'][0, j] > 0 else 'negative'}, so the step {direction} its input: "
                f"z1 {z:.4f} -> {ta['z1'][j]:.4f} (dL/db1 = {g['b1'][j]:+.4f})."
            )
    biggest = max(((k, np.max(np.abs(pa[k] - pb[k]))) for k in pb), key=lambda kv: kv[1])
    why = (
        ": the output bias sees the full output error dL/dz2, while each weight sees it scaled by an input below 1"
        if biggest[0] == "b2" and np.all(np.abs(tb["a1"]) < 1)
        else ""
    )
    lines.append(f"- The largest change is in {biggest[0]} ({biggest[1]:.4f}){why}.")
    return lines


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Print the walkthrough; return 0 if every value matches the notebook to 1e-12, else 1.

    On a machine whose default JAX device is an accelerator, the 2-3-1 net runs on the CPU (one line says so).
    """
    device, note = small_problem_device((2, 3, 1), 1)
    if note:
        print(note, file=out or sys.stdout)
    with jax.default_device(device) if device is not None else contextlib.nullcontext():
        return report(walkthrough_numbers(), out)


def report(n: dict[str, Any], out: TextIO | None = None) -> int:
    """Print the walkthrough of the numbers ``n`` of :func:`walkthrough_numbers`; the exit code of :func:`main`."""
    out = out or sys.stdout
    rows = compare_with_notebook(n)
    print("jaxnet walkthrough: the 2-3-1 worked example, float64, jitted JAX", file=out)
    print("x = [0.5, 0.8], y = 1, ReLU hidden layer, sigmoid output, BCE, SGD lr = 0.1\n", file=out)
    for (label, ours, printed, diff), (_, _, digits) in zip(rows, NOTEBOOK):
        flag = "ok" if diff <= TOLERANCE else "MISMATCH"
        shown = "full precision" if digits is None else f"printed to {digits} decimals"
        print(f"{label:<13} jaxnet    {_fmt(ours)}", file=out)
        print(f"{'':<13} notebook  {_fmt(printed)}   ({shown}; |diff| {diff:.1e} {flag})", file=out)
    eps = default_eps(n["params_before"])
    print(f"\nThree gradient paths (autodiff jax.grad | hand-derived | central differences, eps {eps:.1e}):", file=out)
    worst = 0.0
    for k in ("W2", "b2", "W1", "b1"):
        a, m, d = n["grads"][k], n["manual_grads"][k], n["numerical_grads"][k]
        dis = float(max(np.max(np.abs(a - m)), np.max(np.abs(a - d))))
        worst = max(worst, dis)
        print(f"  {k}: autodiff {_fmt(a.ravel())}", file=out)
        print(f"      manual   {_fmt(m.ravel())}", file=out)
        print(f"      numeric  {_fmt(d.ravel())}   largest disagreement {dis:.1e}", file=out)
    print(f"  largest disagreement over all parameters: {worst:.1e}", file=out)
    print("\nWhat the update did, and why:", file=out)
    for line in _discussion(n):
        print(line, file=out)
    bad = [label for label, _, _, diff in rows if diff > TOLERANCE]
    if bad:
        print(
            f"\nFAIL: {len(bad)} value(s) differ from the notebook by more than {TOLERANCE}: {', '.join(bad)}", file=out
        )
        return 1
    print(f"\nOK: all {len(rows)} printed values match the notebook to {TOLERANCE}.", file=out)
    return 0

"""Value checks: NaN/inf, label ranges and weights, after the cast to the parameters' dtype.

The second part of :func:`jaxnet._validate.prepare` (the first, the static
checks, is in :mod:`jaxnet._validate`). Each argument is first cast to the
parameters' dtype, so a value that overflows that dtype is refused too. Data
the host holds (numpy, or jax arrays on the CPU) is checked with numpy, numpy
input before it moves to the default device (:func:`host_flags`): exact, and
no program is compiled per row count, on a GPU machine too. Parameters on an
accelerator are read back and checked with numpy up to 1 MiB
(``HOST_CHECK_BYTES``), larger ones there, by one reduction per network
shape. Data on an accelerator is
checked there, by one jitted reduction that returns one flag per argument
(:func:`flags`); :func:`with_value_checks` fuses it into a
kernel's own call (for the host's data it gives the bare kernel too: the flags
triple a small program's compile time). Only when a flag fails is the detailed message computed,
on the host (:func:`explain_flags`), in the one format of :mod:`jaxnet._checks`.

>>> import numpy as np
>>> explain_flags(np.array([True, False, True, True]), {"W1": np.ones((1, 1))}, np.array([1.0, np.nan]), None, None, "sigmoid")
Traceback (most recent call last):
...
ValueError: x: expected finite values (no NaN/inf) in float64 (the params' dtype; larger magnitudes overflow), got nan at index (1,)
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import _kernels as kernels
from jaxnet._checks import finite, refuse
from jaxnet._kernels import all_finite
from jaxnet.network import HEADS
from jaxnet.spec import Params

ROW_SUM_TOLERANCE = 1e-6  # per class: rows normalised in float32 pass with float64 parameters too
HOST_CHECK_BYTES = 1 << 20  # parameters on an accelerator up to this size are checked on a copy (no compile)


def default_platform() -> str:
    """The platform :func:`jaxnet._validate.prepare` moves numpy data to: ``jax.default_device``'s if set, else
    the default backend's."""
    config: Any = jax.config
    device = config.jax_default_device
    if device is None:
        return jax.default_backend()
    return device.platform if isinstance(device, jax.Device) else str(device)


def is_concrete(a: Any) -> bool:
    """``a`` has values (it is not a tracer of ``jax.jit``/``jax.grad``)."""
    return not isinstance(a, jax.core.Tracer)


def to_device(a: Any) -> jax.Array:
    """A jax array of host data ``a`` by ``jax.device_put``, which compiles nothing (``jnp.asarray`` of a
    numpy array compiles a ``stage`` program per shape)."""
    return jax.device_put(np.asarray(a))


def moved(data: tuple) -> tuple:
    """``data`` with its numpy arrays moved to the default device (:func:`to_device`); the rest as it is."""
    return tuple(to_device(a) if isinstance(a, np.ndarray) else a for a in data)


def convert(a: Any, dtype: Any, shape: tuple[int, ...]) -> Any:
    """``a`` in ``dtype`` and ``shape`` (overflow becomes inf, refused by the value check): a jax array for
    jax input, numpy for host data, which :func:`jaxnet._validate.prepare` checks before moving it."""
    if not is_concrete(a):
        return jnp.reshape(jnp.asarray(a).astype(dtype), shape)
    if isinstance(a, jax.Array):
        if a.dtype == dtype and a.size == int(np.prod(shape)):
            return a  # compiled code reshapes for free, an eager reshape costs a dispatch
        return jnp.reshape(a.astype(dtype), shape)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(a).astype(dtype).reshape(shape)


def one_hot(y: Any, classes: int, dtype: Any, name: str) -> np.ndarray:
    """Integer class labels (any shape) as one-hot rows (numpy); refuses non-integers and classes out of range."""
    v = np.asarray(y)
    if v.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            if not np.all(np.isfinite(v) & (v == np.round(v))):
                raise refuse(name, f"integer class labels 0..{classes - 1}", "non-integer values")
    if v.dtype.kind == "b":
        raise refuse(name, f"integer class labels 0..{classes - 1}", "booleans", TypeError)
    if v.size and (v.min() < 0 or v.max() >= classes):
        what = f"class labels in 0..{classes - 1} (the network has {classes} outputs)"
        raise refuse(name, what, f"values in [{v.min():g}, {v.max():g}]")
    return np.eye(classes, dtype=dtype)[v.astype(np.int64)]  # host data stays numpy: prepare moves it


def flags(params: Params, x: Any, y: Any, w: Any, head: str) -> jax.Array:
    """One bool per argument (params, x, y, sample_weight): its values are acceptable."""
    ok = [all_finite(params)]
    ok.append(jnp.all(jnp.isfinite(x)) if x is not None else jnp.bool_(True))
    if y is None:
        ok.append(jnp.bool_(True))
    elif HEADS[head].labels == "values":
        ok.append(jnp.all(jnp.isfinite(y)))
    else:
        in_range = jnp.all((y >= 0) & (y <= 1))
        if HEADS[head].labels == "classes":
            tol = ROW_SUM_TOLERANCE * y.shape[-1]
            in_range &= jnp.all(jnp.abs(jnp.sum(y, axis=-1) - 1) <= tol)
        ok.append(in_range)
    if w is None:
        ok.append(jnp.bool_(True))
    else:  # signs from the bits: CPUs flush a subnormal w to 0, so 1e-45 > 0 and -1e-45 < 0 are False there
        b = kernels.bits(w)
        ok.append(jnp.all(jnp.isfinite(w) & ((b >= 0) | (b == jnp.iinfo(b.dtype).min))) & jnp.any(b > 0))
    return jnp.stack(ok)


_flags = jax.jit(flags, static_argnames="head")
_params_finite = jax.jit(all_finite)


class Checked(NamedTuple):
    """A kernel ``(params, x, y, w, activation, head) -> out`` jitted twice (:func:`with_value_checks`)."""

    fused: Any  # -> (out, flags): the value flags of the arguments and of out computed in the same program
    bare: Any  # -> out: for arguments checked on the host (a third of the compile time: no flags)


def with_value_checks(kernel: Any) -> Checked:
    """``jit`` of ``kernel(params, x, y, w, activation, head)``: bare, and fused with the value flags of its
    arguments and its output (so that checking data on an accelerator costs no dispatch of its own); see
    :func:`jaxnet._validate.call_checked`, which picks one."""
    statics = ("activation", "head")

    @partial(jax.jit, static_argnames=statics)
    def fused(params: Params, x: Any, y: Any, w: Any, activation: str, head: str) -> tuple[Any, jax.Array]:
        out = kernel(params, x, y, w, activation, head)
        return out, jnp.concatenate([flags(params, x, y, w, head), all_finite(out)[None]])

    return Checked(fused, jax.jit(kernel, static_argnames=statics))


def overflow_error(params: Params, x: Any, y: Any, names: tuple[str, str] = ("x", "y")) -> ValueError:
    """The error for finite inputs whose arithmetic overflowed, naming the input of largest magnitude
    (``names``: what ``x`` and ``y`` are called in the message)."""
    sizes = {"params": max(float(jnp.max(jnp.abs(v))) for v in params.values()), names[0]: float(jnp.max(jnp.abs(x)))}
    if y is not None:
        sizes[names[1]] = float(jnp.max(jnp.abs(y)))
    culprit = max(sizes, key=sizes.__getitem__)  # the largest magnitude is the likeliest cause
    shown = ", ".join(f"{k} {v:.3g}" for k, v in sizes.items())
    dtype = np.dtype(params["W1"].dtype)
    wider = "" if dtype.itemsize >= 8 else ", or use float64"
    return ValueError(
        f"{culprit}: every input is finite, but the network's arithmetic overflowed {dtype.name} (largest "
        f"magnitudes: {shown}); standardise the data or scale the weights down{wider}"
    )


def check_values_of(
    params: Params,
    x: Any,
    y: Any,
    w: Any,
    *,
    head: str = "sigmoid",
    names: tuple[str, str, str] = ("x", "y", "sample_weight"),
) -> None:
    """Refuse NaN/inf (in the params' dtype), labels outside the head's range and bad weights."""
    arrays = [a for a in (*params.values(), x, y, w) if a is not None]
    if not all(is_concrete(a) for a in arrays):
        return
    host = all(on_host(a) for a in (x, y, w) if a is not None)  # numpy: exact, no program per row count
    ok = host_flags(params, x, y, w, head) if host else np.asarray(_flags(params, x, y, w, head))
    explain_flags(ok, params, x, y, w, head, names)


def on_host(a: Any) -> bool:
    """``a`` is readable as numpy without a transfer: a numpy array, or a jax array held by the CPU."""
    if not isinstance(a, jax.Array):
        return True
    return a.is_fully_addressable and all(d.platform == "cpu" for d in a.devices())


def host_all_finite(tree: Any) -> bool:
    """Every entry of every array in ``tree`` is finite, tested with numpy (:func:`all_finite` on the host)."""
    return all(bool(np.isfinite(np.asarray(v)).all()) for v in jax.tree.leaves(tree))


def host_flags(params: Params, x: Any, y: Any, w: Any, head: str) -> np.ndarray:
    """:func:`flags` computed with numpy on host data (the same tests; nothing is compiled).

    The values are already in the params' dtype. Weights: finite, no sign bit
    except on zero (``-0.0`` passes, ``-1e-45`` does not), and one above 0.

    >>> import numpy as np
    >>> host_flags({"W1": np.ones((1, 1), np.float32)}, np.ones((2, 1)), None, np.array([0.0, -0.0]), "sigmoid")
    array([ True,  True,  True, False])
    """
    values = params.values()
    small = all(on_host(v) or v.is_fully_addressable for v in values)  # another process's part cannot be read
    small = small and sum(int(v.nbytes) for v in values) <= HOST_CHECK_BYTES
    if all(on_host(v) for v in values) or small:
        params_ok = host_all_finite(list(values))  # read back from an accelerator: a copy, no program
    else:  # large parameters on an accelerator, or spread over processes: checked there (one program per shape)
        params_ok = bool(_params_finite(params))
    ok = [params_ok, x is None or host_all_finite(x)]
    if y is None or HEADS[head].labels == "values":
        ok.append(y is None or host_all_finite(y))
    else:
        yv = np.asarray(y)
        in_range = bool(((yv >= 0) & (yv <= 1)).all())
        if HEADS[head].labels == "classes":
            tol = ROW_SUM_TOLERANCE * yv.shape[-1]
            in_range &= bool((np.abs(yv.sum(axis=-1, dtype=np.float64) - 1) <= tol).all())
        ok.append(in_range)
    if w is None:
        ok.append(True)
    else:
        wv = np.asarray(w)
        signed = np.signbit(wv) & (wv != 0)
        ok.append(bool(np.isfinite(wv).all() and not signed.any() and (wv > 0).any()))
    return np.array(ok)


def explain_flags(
    flags: np.ndarray,
    params: Params,
    x: Any,
    y: Any,
    w: Any,
    head: str,
    names: tuple[str, str, str] = ("x", "y", "sample_weight"),
) -> None:
    """Nothing if every flag holds; else the detailed error for the first argument at fault."""
    if flags.all():
        return
    dtype = params["W1"].dtype
    if not flags[0]:
        for k, v in params.items():
            _explain_finite(f"params['{k}']", v, dtype)
    if not flags[1]:
        _explain_finite(names[0], x, dtype)
    if not flags[2]:
        _explain_labels(names[1], np.asarray(y, np.float64), head)
    if not flags[3]:
        _explain_finite(names[2], w, dtype)
        wv = np.asarray(w, np.float64)
        if (wv < 0).any():
            raise refuse(names[2], "weights >= 0", f"minimum {wv.min():g}")
        raise refuse(names[2], "at least one positive weight", "all zero")
    raise ValueError("arguments: a value check failed but no argument was found at fault")  # pragma: no cover


def _explain_finite(name: str, a: Any, dtype: Any) -> None:
    """The one finite-value check, in the params' dtype (float64 here: numpy's isfinite skips bfloat16)."""
    what = f"finite values (no NaN/inf) in {np.dtype(dtype).name} (the params' dtype; larger magnitudes overflow)"
    finite(name, np.asarray(a).astype(np.float64), what)


def _explain_labels(name: str, yv: np.ndarray, head: str) -> None:
    if np.isnan(yv).any():
        raise refuse(name, "finite labels", "NaN")
    if HEADS[head].labels == "values":
        raise refuse(name, "finite targets in the params' dtype", "NaN/inf")
    if ((yv < 0) | (yv > 1)).any():
        raise refuse(name, "labels in [0, 1]", f"values in [{yv.min()}, {yv.max()}]")
    sums = yv.sum(axis=-1)
    worst = float(sums.flat[np.argmax(np.abs(sums - 1))])
    what = f"one-hot or probability rows that sum to 1 (within {ROW_SUM_TOLERANCE:g} per class)"
    raise refuse(name, what, f"a row summing to {worst!r} (|sum - 1| = {abs(worst - 1):.2g})")

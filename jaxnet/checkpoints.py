"""Save and load parameters as safetensors files (no pickle), atomically.

A checkpoint holds the tensors ``W1, b1, …, WL, bL`` and, in the safetensors
metadata under the key ``"jaxnet"``, a JSON record of the layer sizes, dtype,
jaxnet version and the caller's own (JSON-serialisable) metadata.

>>> import os, tempfile, jaxnet
>>> params, x, y = jaxnet.seed_example()
>>> path = os.path.join(tempfile.mkdtemp(), "net.safetensors")
>>> save(path, params, metadata={"step": 1, "note": "demo"})
>>> loaded, meta = load(path)
>>> meta["layer_sizes"], meta["step"], meta["note"]
((2, 3, 1), 1, 'demo')
"""

from __future__ import annotations

import json
import os
import secrets
import struct
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np
import safetensors.numpy

__all__ = ["CheckpointError", "save", "load"]

_KEY = "jaxnet"
_FORMAT_VERSION = 1
_RESERVED = ("layer_sizes", "dtype", "jaxnet_version")
_FLOAT_DTYPES = ("float16", "float32", "float64")


class CheckpointError(ValueError):
    """A file that is not a usable jaxnet checkpoint; the message names the
    path and the problem."""


def save(path: str | os.PathLike, params: Mapping[str, Any], *, metadata: Mapping[str, Any] | None = None) -> None:
    """Write ``params`` (and ``metadata``) to ``path`` atomically.

    The bytes go to a temporary file in the same folder, which is flushed,
    fsync'ed and then renamed over ``path``: a crash never leaves a half-written
    file at ``path``, and the temporary file is removed on failure.
    ``metadata`` must be a dict with str keys and JSON-serialisable values;
    ``"step"``, if given, must be a non-negative int; the keys
    ``layer_sizes``, ``dtype`` and ``jaxnet_version`` are reserved. Values
    come back from :func:`load` as JSON gives them (tuples as lists).

    >>> import os, tempfile, jaxnet
    >>> save(os.path.join(tempfile.mkdtemp(), "p.safetensors"), jaxnet.seed_example()[0])
    """
    import jaxnet  # late: jaxnet/__init__ imports this module

    p = os.fspath(path)
    jaxnet.validate(params)
    user = _check_metadata(metadata)
    tensors = {k: np.asarray(v) for k, v in params.items()}
    dtypes = sorted({str(t.dtype) for t in tensors.values()})
    if len(dtypes) != 1 or dtypes[0] not in _FLOAT_DTYPES:
        raise TypeError(f"params: expected every array to have one float dtype of {_FLOAT_DTYPES}, got {dtypes}")
    record = {
        "format_version": _FORMAT_VERSION,
        "layer_sizes": list(jaxnet.layer_sizes(params)),
        "dtype": dtypes[0],
        "jaxnet_version": jaxnet.__version__,
        "metadata": user,
    }
    data = safetensors.numpy.save(tensors, metadata={_KEY: json.dumps(record, allow_nan=False)})
    _atomic_write(p, data)


def load(path: str | os.PathLike) -> tuple[dict[str, jnp.ndarray], dict[str, Any]]:
    """Read a checkpoint: ``(params, metadata)``.

    ``params`` are jax arrays in the stored dtype (float64 needs
    ``jax_enable_x64``; without it JAX gives float32, as everywhere in JAX).
    ``metadata`` is the caller's metadata plus ``layer_sizes`` (tuple),
    ``dtype`` (str) and ``jaxnet_version``. Raises :class:`CheckpointError`
    for a missing, truncated, corrupted, non-jaxnet or inconsistent file.

    >>> import os, tempfile, jaxnet
    >>> p = os.path.join(tempfile.mkdtemp(), "p.safetensors")
    >>> save(p, jaxnet.seed_example()[0])
    >>> sorted(load(p)[0])
    ['W1', 'W2', 'b1', 'b2']
    """
    p = os.fspath(path)
    try:
        with open(p, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise CheckpointError(f"{p}: no such checkpoint file") from None
    except OSError as e:
        raise CheckpointError(f"{p}: cannot read checkpoint ({e.strerror or e})") from None
    try:
        tensors = safetensors.numpy.load(data)
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + n])
    except Exception as e:  # safetensors raises its own SafetensorError
        raise CheckpointError(f"{p}: not a valid safetensors file, truncated or corrupted ({e})") from None
    raw = (header.get("__metadata__") or {}).get(_KEY)
    if raw is None:
        raise CheckpointError(f"{p}: a safetensors file but not a jaxnet checkpoint (no {_KEY!r} metadata)")
    try:
        record = json.loads(raw)
        sizes = tuple(int(s) for s in record["layer_sizes"])
        dtype = str(record["dtype"])
        user = dict(record["metadata"])
        version = str(record["jaxnet_version"])
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{p}: corrupted jaxnet metadata ({type(e).__name__}: {e})") from None
    _check_tensors(p, tensors, sizes, dtype)
    params = {k: jnp.asarray(tensors[k]) for k in _param_keys(len(sizes) - 1)}
    meta = {**user, "layer_sizes": sizes, "dtype": dtype, "jaxnet_version": version}
    return params, meta


def _param_keys(n_layers: int) -> list[str]:
    return [f"{c}{i}" for i in range(1, n_layers + 1) for c in ("W", "b")]


def _check_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata: expected a dict or None, got {type(metadata).__name__}")
    bad = [k for k in metadata if not isinstance(k, str)]
    if bad:
        raise TypeError(f"metadata: expected str keys, got {bad[0]!r} ({type(bad[0]).__name__})")
    clash = [k for k in metadata if k in _RESERVED]
    if clash:
        raise ValueError(f"metadata: the keys {_RESERVED} are reserved (recorded by save), got {clash[0]!r}")
    metadata = dict(metadata)
    step = metadata.get("step")
    if isinstance(step, np.integer):  # e.g. a step count read back from a jax/numpy array
        metadata["step"] = step = int(step)
    if "step" in metadata and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
        raise ValueError(f"metadata: expected 'step' to be a non-negative int, got {step!r}")
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f"metadata: expected JSON-serialisable values (str, int, float, bool, None, list, dict), {e}") from None
    return metadata


def _check_tensors(p: str, tensors: Mapping[str, np.ndarray], sizes: tuple[int, ...], dtype: str) -> None:
    if len(sizes) < 2 or any(s < 1 for s in sizes):
        raise CheckpointError(f"{p}: corrupted jaxnet metadata (layer sizes {sizes})")
    expected = _param_keys(len(sizes) - 1)
    missing = [k for k in expected if k not in tensors]
    if missing:
        raise CheckpointError(f"{p}: missing tensor(s) {missing} for layer sizes {sizes}")
    extra = sorted(k for k in tensors if k not in expected)
    if extra:
        raise CheckpointError(f"{p}: unexpected tensor(s) {extra} for layer sizes {sizes}")
    for i in range(1, len(sizes)):
        for name, shape in ((f"W{i}", (sizes[i], sizes[i - 1])), (f"b{i}", (sizes[i],))):
            t = tensors[name]
            if t.shape != shape:
                raise CheckpointError(
                    f"{p}: tensor {name} has shape {t.shape}, expected {shape} for layer sizes {sizes}"
                )
            if str(t.dtype) != dtype:
                raise CheckpointError(f"{p}: tensor {name} has dtype {t.dtype}, expected {dtype}")


def _atomic_write(p: str, data: bytes) -> None:
    folder, name = os.path.split(os.path.abspath(p))
    tmp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as e:
        raise OSError(e.errno, f"cannot write checkpoint in {folder!r}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: str) -> None:
    """Make the rename durable where the OS allows opening a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

"""The checkpoint file format: the jaxnet record, its checksum, and every check :func:`jaxnet.load` makes.

The format is described in :mod:`jaxnet.checkpoints` (the public ``save`` and
``load``): safetensors tensors ``W1, b1, ..., WL, bL`` (plus ``extra/...``)
and a JSON record under the metadata key ``"jaxnet"``, with a SHA-256 over the
record and the tensors (:func:`digest`). Reading a file goes :func:`read_regular_file`,
:func:`parse`, :func:`format_version`, :func:`verify_digest`, :func:`fields`,
:func:`check_tensors`, :func:`as_jax`; each raises :class:`CheckpointError`
naming the path and the problem. :func:`check_metadata` is the rule of the
caller's metadata, for ``save`` and ``load`` alike.

>>> check_metadata({"step": 3}, RESERVED)
{'step': 3}
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import warnings
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np
import safetensors
import safetensors.numpy

from jaxnet._atomic import kind
from jaxnet._checks import FLOAT_DTYPES, INT32_MAX, finite, one_of, refuse
from jaxnet._version import __version__
from jaxnet.network import activation_named, check_outputs, param_keys

KEY = "jaxnet"
FORMAT_VERSION = 2
KNOWN_VERSIONS = (1, 2)
RESERVED_V1 = ("layer_sizes", "dtype", "jaxnet_version")
RESERVED = (*RESERVED_V1, "activation", "head")
SAVED_DTYPES = tuple(d for d in FLOAT_DTYPES if d != "bfloat16")  # safetensors' numpy reader has no bfloat16
JAXNET_VERSION = __version__


class CheckpointError(ValueError):
    """A file that is not a usable jaxnet checkpoint; the message names the
    path and the problem."""

    __module__ = "jaxnet.checkpoints"


class CheckpointWarning(UserWarning):
    """A checkpoint that loads but cannot be fully verified (written before checksums existed)."""

    __module__ = "jaxnet.checkpoints"


def check_metadata(metadata: Mapping[str, Any] | None, reserved: tuple[str, ...]) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata: expected a dict or None, got {type(metadata).__name__}")
    bad = [k for k in metadata if not isinstance(k, str)]
    if bad:
        raise TypeError(f"metadata: expected str keys, got {bad[0]!r} ({type(bad[0]).__name__})")
    clash = [k for k in metadata if k in reserved]
    if clash:
        raise ValueError(f"metadata: the keys {reserved} are reserved (recorded by save), got {clash[0]!r}")
    metadata = dict(metadata)
    step = metadata.get("step")
    if isinstance(step, np.integer):  # e.g. a step count read back from a jax/numpy array
        metadata["step"] = step = int(step)
    if "step" in metadata and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
        raise ValueError(f"metadata: expected 'step' to be a non-negative int, got {step!r}")
    try:
        json.dumps(metadata, allow_nan=False)
    except ValueError as e:  # the right kind, a wrong value: NaN or inf
        raise ValueError(f"metadata: expected finite numbers (JSON has no NaN or inf), {e}") from None
    except TypeError as e:
        raise TypeError(
            f"metadata: expected JSON-serialisable values (str, int, float, bool, None, list, dict), {e}"
        ) from None
    except RecursionError:
        raise ValueError("metadata: nested too deeply to serialise as JSON") from None
    check_nested_keys(metadata)
    return metadata


def check_nested_keys(metadata: Mapping[str, Any]) -> None:
    """Refuse a non-str key at any depth: JSON would turn ``1`` into ``"1"`` and lose one of ``{1: .., "1": ..}``.

    Runs after ``json.dumps`` succeeded, so the value has no cycles and is not nested too deeply.
    """
    stack: list[tuple[str, Any]] = [("metadata", metadata)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, Mapping):
            for k, v in value.items():
                if not isinstance(k, str):
                    raise TypeError(
                        f"metadata: expected str keys at every depth (JSON turns other keys into strings), got "
                        f"{k!r} ({type(k).__name__}) in {where}"
                    )
                stack.append((f"{where}[{k!r}]", v))
        elif isinstance(value, (list, tuple)):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(value))


def digest(record: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> str:
    """SHA-256 of the canonical record (without ``sha256``) and every named tensor's bytes (see the module doc)."""
    h = hashlib.sha256()
    body = {k: v for k, v in record.items() if k != "sha256"}
    h.update(json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode())
    for name in sorted(tensors):
        t = tensors[name]
        h.update(f"\n{name}:{t.dtype.name}:{list(t.shape)}\n".encode())
        h.update(np.ascontiguousarray(t, dtype=t.dtype.newbyteorder("<")).tobytes())
    return h.hexdigest()


def read_regular_file(p: str) -> bytes:
    """The bytes of ``p``, a regular file: a FIFO or device is refused from ``stat``, never read.

    The file is opened non-blocking and checked again with ``fstat``, so one
    swapped for a FIFO between the two steps cannot block or be read either.
    """
    try:
        st = os.stat(p)
        if not stat.S_ISREG(st.st_mode):
            raise CheckpointError(f"{p}: not a regular file ({kind(st.st_mode)}); a checkpoint is a regular file")
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise CheckpointError(f"{p}: not a regular file ({kind(st.st_mode)}); a checkpoint is a regular file")
            return f.read()
    except FileNotFoundError:
        raise CheckpointError(f"{p}: no such checkpoint file") from None
    except OSError as e:
        raise CheckpointError(f"{p}: cannot read checkpoint ({e.strerror or e})") from None


def _refuse_constant(name: str) -> float:
    """``json``'s hook for ``NaN``/``Infinity``: JSON has no such numbers and the record never holds them."""
    raise refuse("number", "a finite number", name)


def _finite_float(text: str) -> float:
    """``json``'s hook for a float: refused if it overflows (``1e999``)."""
    value = float(text)
    if not np.isfinite(value):
        raise refuse("number", "a number within a float's range", text[:40])
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are unique (``json`` keeps the last of a repeated key, silently)."""
    seen: set[str] = set()
    for k, _ in pairs:
        if k in seen:
            raise ValueError(f"the key {k[:40]!r} appears twice in one object")
        seen.add(k)
    return dict(pairs)


def parse(p: str, data: bytes) -> tuple[dict[str, np.ndarray], Any]:
    """The tensors and the parsed jaxnet record (any JSON value) of a safetensors file."""
    try:
        tensors = safetensors.numpy.load(data)
        n = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + n])
        stored = header.get("__metadata__") or {}
        raw = stored.get(KEY)
    except (safetensors.SafetensorError, ValueError, TypeError, AttributeError, RecursionError) as e:
        raise CheckpointError(f"{p}: not a valid safetensors file, truncated or corrupted ({e})") from None
    if not isinstance(raw, str):
        raise CheckpointError(f"{p}: a safetensors file but not a jaxnet checkpoint (no {KEY!r} metadata)")
    try:
        record = json.loads(
            raw, parse_constant=_refuse_constant, parse_float=_finite_float, object_pairs_hook=_unique_keys
        )
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"{p}: corrupted jaxnet metadata ({type(e).__name__}: {e})") from None
    return tensors, record


def format_version(p: str, record: Any) -> int:
    if not isinstance(record, dict) or "format_version" not in record:
        raise CheckpointError(f"{p}: corrupted jaxnet metadata (no format_version in the record)")
    version = record["format_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version not in KNOWN_VERSIONS:
        raise CheckpointError(
            f"{p}: unknown checkpoint format_version {version!r}; this jaxnet ({JAXNET_VERSION}) reads "
            f"{', '.join(map(str, KNOWN_VERSIONS))} (a newer jaxnet may have written it)"
        )
    return int(version)


def verify_digest(p: str, record: dict[str, Any], tensors: Mapping[str, np.ndarray], version: int) -> None:
    stored = record.get("sha256")
    if stored is None and version == 1:
        warnings.warn(
            f"{p}: format_version 1 checkpoint (written before checksums); its contents cannot be verified. "
            "Re-save it with jaxnet.save to add a checksum.",
            CheckpointWarning,
            stacklevel=3,
        )
        return
    if not isinstance(stored, str) or not re.fullmatch(r"[0-9a-f]{64}", stored):
        raise CheckpointError(f"{p}: corrupted jaxnet metadata (missing or malformed sha256 checksum)")
    try:
        actual = digest(record, tensors)
    except (TypeError, ValueError) as e:  # e.g. a tensor dtype numpy cannot name
        raise CheckpointError(f"{p}: corrupted checkpoint ({e})") from None
    if actual != stored:
        raise CheckpointError(
            f"{p}: checksum mismatch (SHA-256 {actual[:12]}… expected {stored[:12]}…): the file is corrupted"
        )


def fields(
    p: str, record: dict[str, Any], version: int
) -> tuple[tuple[int, ...], str, str, str, dict[str, Any], tuple[str, ...]]:
    """``(layer_sizes, dtype, activation, head, user metadata, names filled in)`` from the record, each checked."""

    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"{p}: corrupted jaxnet metadata ({what})")

    missing = [k for k in ("layer_sizes", "dtype", "jaxnet_version", "metadata") if k not in record]
    if missing:
        raise bad(f"missing {missing}")
    sizes = record["layer_sizes"]
    if (
        not isinstance(sizes, list)
        or len(sizes) < 2
        or any(isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= INT32_MAX for s in sizes)
    ):
        raise bad(f"layer_sizes must be at least 2 integers in [1, {INT32_MAX}], got {str(sizes)[:80]}")
    dtype = record["dtype"]
    try:
        one_of("dtype", dtype if isinstance(dtype, str) else str(dtype), SAVED_DTYPES)
    except ValueError as e:
        raise bad(str(e)[:200]) from None
    if not isinstance(record["jaxnet_version"], str):
        raise bad("jaxnet_version must be a string")
    if not isinstance(record["metadata"], dict):
        raise bad("metadata must be a JSON object")
    try:
        user = check_metadata(record["metadata"], RESERVED if version >= 2 else RESERVED_V1)
    except (TypeError, ValueError) as e:
        raise bad(str(e)) from None
    source = record if version >= 2 else {"activation": "relu", "head": "sigmoid", **user}  # v1: the caller's, if any
    filled_in = () if version >= 2 else tuple(k for k in ("activation", "head") if k not in user)
    activation, head = source.get("activation"), source.get("head")
    try:
        activation_named(activation)
        check_outputs(head, sizes[-1], "layer_sizes", sizes)
    except ValueError as e:
        raise bad(str(e)) from None
    return tuple(sizes), dtype, str(activation), str(head), user, filled_in


def check_tensors(p: str, tensors: Mapping[str, np.ndarray], sizes: tuple[int, ...], dtype: str) -> None:
    expected = param_keys(len(sizes) - 1)
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
            if t.dtype.name != dtype:
                raise CheckpointError(f"{p}: tensor {name} has dtype {t.dtype}, expected {dtype}")
            try:
                finite(f"tensor {name}", t)
            except ValueError as e:
                raise CheckpointError(f"{p}: {e}") from None


def as_jax(p: str, tensors: Mapping[str, np.ndarray], names: list[str]) -> dict[str, jnp.ndarray]:
    """The tensors as jax arrays, checked after the cast: without x64, float64 becomes float32 and 1e300 inf."""
    with np.errstate(over="ignore"):  # checked below, with a message that says what to do
        params = {k: jnp.asarray(tensors[k]) for k in names}
    for k, v in params.items():
        if v.dtype != tensors[k].dtype and not bool(jnp.all(jnp.isfinite(v))):
            big = float(np.max(np.abs(tensors[k])))
            raise CheckpointError(
                f"{p}: tensor {k} holds {tensors[k].dtype} values up to {big:.4g}, beyond {v.dtype}, the dtype JAX "
                f"gives it in this process (jax_enable_x64 is off); turn x64 on before loading "
                "(jax.config.update('jax_enable_x64', True))"
            )
    return params

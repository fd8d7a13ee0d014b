"""Save and load parameters as safetensors files (no pickle), atomically and verified.

A checkpoint holds the tensors ``W1, b1, …, WL, bL`` and, in the safetensors
metadata under the key ``"jaxnet"``, a JSON record (``format_version`` 2)::

    {"format_version": 2, "layer_sizes": [2, 3, 1], "dtype": "float32",
     "activation": "relu", "head": "sigmoid", "jaxnet_version": "0.2.0",
     "metadata": {...the caller's own JSON...}, "sha256": "<64 hex digits>"}

**Checksum.** ``sha256`` is the SHA-256 of the record without that field, as
canonical JSON (``json.dumps(record, sort_keys=True, separators=(",", ":"))``,
UTF-8), followed, for each tensor in sorted name order, by the line
``"\\n{name}:{dtype}:{shape}\\n"`` and the tensor's little-endian C-order bytes.
It covers the tensors *and* the record, so :func:`load` refuses a flipped bit
anywhere that changes what it would return. Files written before the checksum
(``format_version`` 1) still load, with a :class:`CheckpointWarning`, as
``activation="relu"``, ``head="sigmoid"`` unless their user metadata named them;
the metadata then says what was filled in (:attr:`Metadata.filled_in`), so a
reader that must not guess (:meth:`jaxnet.Model.from_checkpoint`,
:func:`jaxnet.load_model`) refuses such a file, naming what is missing.

**What load refuses** (:class:`CheckpointError`): anything that is not a
regular file (a FIFO or ``/dev/zero`` is never opened for reading), a
truncated or non-safetensors file, a checksum mismatch, an unknown
``format_version``, a record whose numbers overflow (``1e999``) or are out of
range, tensors that are missing, extra, of the wrong shape, integer or
non-finite. :func:`save` refuses the same things up front (``ValueError`` /
``TypeError``), so every file it writes loads.

>>> import os, tempfile, jaxnet
>>> params, x, y = jaxnet.seed_example()
>>> path = os.path.join(tempfile.mkdtemp(), "net.safetensors")
>>> save(path, params, metadata={"step": 1, "note": "demo"}, activation="tanh")
True
>>> loaded, meta = load(path)
>>> meta["layer_sizes"], meta["activation"], meta["head"], meta["step"], meta["note"]
((2, 3, 1), 'tanh', 'sigmoid', 1, 'demo')
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import secrets
import stat
import time
import warnings
from collections.abc import Mapping
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: stale temp files are recognised by age alone
    fcntl = None  # type: ignore[assignment]

import jax
import jax.numpy as jnp
import numpy as np
import safetensors
import safetensors.numpy

from jaxnet._validate import INT32_MAX, prepare, resolve_spec
from jaxnet._version import __version__
from jaxnet.network import activation_named, head_named, layer_count, param_keys
from jaxnet.spec import Model

__all__ = [
    "MAX_HEADER_BYTES",
    "CheckpointError",
    "CheckpointWarning",
    "Metadata",
    "load",
    "load_extra",
    "require_recorded",
    "save",
]

_KEY = "jaxnet"
_FORMAT_VERSION = 2
_KNOWN_VERSIONS = (1, 2)
_RESERVED_V1 = ("layer_sizes", "dtype", "jaxnet_version")
_RESERVED = (*_RESERVED_V1, "activation", "head")
_FLOAT_DTYPES = ("float16", "float32", "float64")
MAX_HEADER_BYTES = 100_000_000
"""safetensors' reader refuses a header (JSON plus padding) longer than this, so :func:`save` does too."""
_TMP_GRACE_S = 2.0 if fcntl is not None else 600.0  # see _remove_stale_temps


_JAXNET_VERSION = __version__


class CheckpointError(ValueError):
    """A file that is not a usable jaxnet checkpoint; the message names the
    path and the problem."""


class CheckpointWarning(UserWarning):
    """A checkpoint that loads but cannot be fully verified (written before checksums existed)."""


class Metadata(dict):
    """The metadata :func:`load` returns: a plain ``dict``, plus :attr:`filled_in`.

    ``filled_in``: the names of the fields the file does not record and :func:`load` filled in with
    the defaults (``("activation", "head")`` for a format-1 file that did not name them); ``()`` for
    every file :func:`save` writes today. A key of the dict could not say it: the user metadata of an
    old file may hold any key.

    >>> Metadata({"head": "sigmoid"}, filled_in=("head",)).filled_in
    ('head',)
    """

    filled_in: tuple[str, ...]

    def __init__(self, *args: Any, filled_in: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filled_in = tuple(filled_in)

    def __reduce__(self) -> Any:  # pickle and copy keep filled_in
        return (type(self), (dict(self),), {"filled_in": self.filled_in})


def require_recorded(path: Any, meta: Mapping[str, Any], reader: str) -> None:
    """Raise :class:`CheckpointError` if :func:`load` filled in any field of ``meta`` (see :class:`Metadata`).

    For readers that would otherwise compute with a guessed activation or head; ``reader`` names the
    reader in the message.
    """
    missing = tuple(getattr(meta, "filled_in", ()))
    if missing:
        raise CheckpointError(
            f"{os.fsdecode(path)}: the file does not record its {' and '.join(missing)} (a format-1 checkpoint); "
            f"{reader} will not guess them. Load it with jaxnet.load(path), which fills in relu/sigmoid, and "
            "if that is the network, re-save it with jaxnet.save(path, params, activation=..., head=...)"
        )


def save(
    path: str | os.PathLike,
    params: Mapping[str, Any] | Model,
    *,
    metadata: Mapping[str, Any] | None = None,
    activation: str | None = None,
    head: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> bool:
    """Write ``params`` (with ``activation``, ``head`` and ``metadata``) to ``path`` atomically.

    ``params`` is a dict or a :class:`~jaxnet.Model`, whose activation and head
    are recorded (``activation``/``head``, if given, must agree). For a dict
    they default to ``"relu"``/``"sigmoid"``, but a dict of several outputs
    must name its ``head`` (sigmoid multi-label and softmax classes read
    differently). :meth:`jaxnet.Model.from_checkpoint` loads the file as a Model.

    ``extra``: more named arrays (e.g. an optimizer state), each name starting with ``"extra/"``;
    their names are recorded (``"extra_tensors"``) and covered by the checksum; read them back with
    :func:`load_extra` (:func:`load` ignores them).

    Returns ``True``. In a multi-process program (``jax.distributed``),
    only process 0 writes: every process checks the arguments (and raises the
    same errors), and the others return ``False`` without touching ``path``,
    so that processes sharing a file system never race for one file.

    ``params`` are checked as :func:`jaxnet.validate` checks them (so lists
    are accepted; NaN/inf, a zero-width layer or a softmax head on one output
    are refused) before anything is written. ``metadata`` must be a dict
    with str keys and JSON-serialisable values; ``"step"``, if given, must be
    a non-negative int; the keys ``layer_sizes``, ``dtype``,
    ``jaxnet_version``, ``activation`` and ``head`` are reserved. Values come
    back from :func:`load` as JSON gives them (tuples as lists). The whole
    header must fit in :data:`MAX_HEADER_BYTES` (ValueError otherwise).

    The bytes go to a temporary file ``.NAME.<12 hex>.tmp`` in the same
    folder, which is flushed, fsync'ed and renamed over ``path``: a crash
    never leaves a half-written file at ``path``. Saving through a symlink
    writes the link's target (the link stays). Re-saving keeps the existing
    file's permission bits; a new file gets the umask's. Temporary files of
    this name left by a killed writer (not locked by a live writer, and older
    than 2 s) are removed.

    >>> import os, tempfile, jaxnet
    >>> path = os.path.join(tempfile.mkdtemp(), "p.safetensors")
    >>> save(path, jaxnet.seed_example()[0])
    True
    """
    p = os.fsdecode(path)
    params, spec = resolve_spec(params, activation, head, need_head=True)
    activation, head = spec.activation, spec.head
    arrays, sizes = _arrays_to_save(params, activation, head)
    more = _check_extra(extra)
    arrays.update(more)
    user = _check_metadata(metadata, _RESERVED)
    record: dict[str, Any] = {
        "format_version": _FORMAT_VERSION,
        "layer_sizes": list(sizes),
        "dtype": arrays["W1"].dtype.name,
        "activation": activation,
        "head": head,
        "jaxnet_version": _JAXNET_VERSION,
        "metadata": user,
    }
    if more:
        record["extra_tensors"] = sorted(more)
    record["sha256"] = "0" * 64  # a placeholder of the digest's length: the header's size is known before hashing
    raw = json.dumps(record, allow_nan=False)
    _check_header_size(arrays, raw)
    record["sha256"] = _digest(json.loads(raw), arrays)  # of the record as load will parse it
    raw = json.dumps(record, allow_nan=False)
    try:
        data = safetensors.numpy.save(arrays, metadata={_KEY: raw})
    except safetensors.SafetensorError as e:  # pragma: no cover - _check_header_size catches the known cause
        raise ValueError(f"metadata: safetensors cannot serialise this checkpoint ({e})") from None
    if jax.process_index() != 0:  # multi-process: process 0 writes, the others must not race it
        return False
    _atomic_write(p, data)
    return True


def load(path: str | os.PathLike) -> tuple[dict[str, jnp.ndarray], Metadata]:
    """Read and verify a checkpoint: ``(params, metadata)``.

    ``params`` are jax arrays in the stored dtype (float64 needs
    ``jax_enable_x64``; without it JAX gives float32, as everywhere in JAX).
    ``metadata`` is the caller's metadata plus ``layer_sizes`` (tuple),
    ``dtype`` (str), ``activation``, ``head`` and ``jaxnet_version``, as a
    :class:`Metadata` dict whose ``filled_in`` names what the file did not
    record (format 1: ``activation``/``head`` filled in as relu/sigmoid). Raises
    :class:`CheckpointError` for a missing, non-regular, truncated,
    corrupted (checksum mismatch), non-jaxnet, newer-format or inconsistent
    file; warns :class:`CheckpointWarning` for a format-1 file (no checksum).

    >>> import os, tempfile, jaxnet
    >>> p = os.path.join(tempfile.mkdtemp(), "p.safetensors")
    >>> save(p, jaxnet.seed_example()[0])
    True
    >>> params, meta = load(p)
    >>> sorted(params), meta["activation"], meta["head"]
    (['W1', 'W2', 'b1', 'b2'], 'relu', 'sigmoid')
    """
    params, meta, _ = load_extra(path)
    return params, meta


def load_extra(path: str | os.PathLike) -> tuple[dict[str, jnp.ndarray], Metadata, dict[str, np.ndarray]]:
    """:func:`load`, plus the ``extra`` arrays given to :func:`save` (numpy, by name; ``{}`` if none)."""
    p = os.fsdecode(path)
    tensors, record = _parse(p, _read_regular_file(p))
    version = _format_version(p, record)
    _verify_digest(p, record, tensors, version)
    sizes, dtype, activation, head, user, filled_in = _fields(p, record, version)
    names = record.get("extra_tensors", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n.startswith("extra/") for n in names):
        raise CheckpointError(f"{p}: corrupted jaxnet metadata (extra_tensors must be a list of 'extra/...' names)")
    extra = {n: tensors.pop(n) for n in names if n in tensors}
    if len(extra) != len(names):
        raise CheckpointError(f"{p}: missing tensor(s) {sorted(set(names) - set(extra))} listed in extra_tensors")
    _check_tensors(p, tensors, sizes, dtype)
    params = _as_jax(p, tensors, param_keys(len(sizes) - 1))
    meta = Metadata(
        {
            **user,
            "layer_sizes": sizes,
            "dtype": dtype,
            "activation": activation,
            "head": head,
            "jaxnet_version": record["jaxnet_version"],
        },
        filled_in=filled_in,
    )
    return params, meta, extra


# ---------------------------------------------------------------- save: checks


def _check_extra(extra: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
    """The ``extra`` arrays to write: names ``"extra/..."``, numeric numpy arrays in little-endian C order."""
    if extra is None:
        return {}
    if not isinstance(extra, Mapping):
        raise TypeError(f"extra: expected a dict of arrays or None, got {type(extra).__name__}")
    out = {}
    for name, value in extra.items():
        if not isinstance(name, str) or not name.startswith("extra/"):
            raise ValueError(f"extra: expected names starting with 'extra/', got {name!r}")
        a = np.asarray(value)
        if a.dtype.kind not in "biuf":
            raise TypeError(f"extra: {name!r} must be a numeric array, got dtype {a.dtype}")
        out[name] = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    return out


def _arrays_to_save(params: Any, activation: Any, head: Any) -> tuple[dict[str, np.ndarray], tuple[int, ...]]:
    """The tensors to write (little-endian, C order), after every check :func:`jaxnet.validate` makes."""
    prepare(params, activation=activation, head=head)  # static checks, names, head vs outputs, finite values
    depth = layer_count(params)
    arrays = {k: np.asarray(params[k]) for k in param_keys(depth)}
    dtype = arrays["W1"].dtype
    if dtype.name not in _FLOAT_DTYPES:
        raise TypeError(f"params: expected arrays of one dtype of {_FLOAT_DTYPES}, got {dtype.name}")
    little = dtype.newbyteorder("<")
    arrays = {k: np.ascontiguousarray(a, dtype=little) for k, a in arrays.items()}
    sizes = (arrays["W1"].shape[1], *(arrays[f"W{l}"].shape[0] for l in range(1, depth + 1)))
    return arrays, tuple(int(s) for s in sizes)


def _check_metadata(metadata: Mapping[str, Any] | None, reserved: tuple[str, ...]) -> dict[str, Any]:
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
    _check_nested_keys(metadata)
    return metadata


def _check_nested_keys(metadata: Mapping[str, Any]) -> None:
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


def _check_header_size(arrays: Mapping[str, np.ndarray], raw: str) -> None:
    """Refuse a header over :data:`MAX_HEADER_BYTES` (an upper bound of what safetensors will write).

    safetensors writes compact JSON ``{"__metadata__": {...}, NAME: {"dtype":
    "F32", "shape": [...], "data_offsets": [a, b]}, ...}`` padded with spaces
    to a multiple of 8; offsets are bounded here by the total byte count.
    """
    total = sum(a.nbytes for a in arrays.values())
    entries = {k: {"dtype": "F00", "shape": list(a.shape), "data_offsets": [total, total]} for k, a in arrays.items()}
    header = json.dumps({"__metadata__": {_KEY: raw}, **entries}, separators=(",", ":"), ensure_ascii=False)
    n = len(header.encode())
    n += -n % 8
    if n > MAX_HEADER_BYTES:
        raise ValueError(
            f"metadata: the checkpoint header would be {n:,} bytes, over the {MAX_HEADER_BYTES:,} bytes that "
            "safetensors can read back; keep large data in its own file"
        )


def _digest(record: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> str:
    """SHA-256 of the canonical record (without ``sha256``) and every named tensor's bytes (see the module doc)."""
    h = hashlib.sha256()
    body = {k: v for k, v in record.items() if k != "sha256"}
    h.update(json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode())
    for name in sorted(tensors):
        t = tensors[name]
        h.update(f"\n{name}:{t.dtype.name}:{list(t.shape)}\n".encode())
        h.update(np.ascontiguousarray(t, dtype=t.dtype.newbyteorder("<")).tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------- load: reading and checks


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _read_regular_file(p: str) -> bytes:
    """The bytes of ``p``, a regular file: a FIFO or device is refused from ``stat``, never read.

    The file is opened non-blocking and checked again with ``fstat``, so one
    swapped for a FIFO between the two steps cannot block or be read either.
    """
    try:
        st = os.stat(p)
        if not stat.S_ISREG(st.st_mode):
            raise CheckpointError(f"{p}: not a regular file ({_kind(st.st_mode)}); a checkpoint is a regular file")
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise CheckpointError(f"{p}: not a regular file ({_kind(st.st_mode)}); a checkpoint is a regular file")
            return f.read()
    except FileNotFoundError:
        raise CheckpointError(f"{p}: no such checkpoint file") from None
    except OSError as e:
        raise CheckpointError(f"{p}: cannot read checkpoint ({e.strerror or e})") from None


def _refuse_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} overflows a float")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are unique (``json`` keeps the last of a repeated key, silently)."""
    seen: set[str] = set()
    for k, _ in pairs:
        if k in seen:
            raise ValueError(f"the key {k[:40]!r} appears twice in one object")
        seen.add(k)
    return dict(pairs)


def _parse(p: str, data: bytes) -> tuple[dict[str, np.ndarray], Any]:
    """The tensors and the parsed jaxnet record (any JSON value) of a safetensors file."""
    try:
        tensors = safetensors.numpy.load(data)
        n = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + n])
        stored = header.get("__metadata__") or {}
        raw = stored.get(_KEY)
    except (safetensors.SafetensorError, ValueError, TypeError, AttributeError, RecursionError) as e:
        raise CheckpointError(f"{p}: not a valid safetensors file, truncated or corrupted ({e})") from None
    if not isinstance(raw, str):
        raise CheckpointError(f"{p}: a safetensors file but not a jaxnet checkpoint (no {_KEY!r} metadata)")
    try:
        record = json.loads(
            raw, parse_constant=_refuse_constant, parse_float=_finite_float, object_pairs_hook=_unique_keys
        )
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"{p}: corrupted jaxnet metadata ({type(e).__name__}: {e})") from None
    return tensors, record


def _format_version(p: str, record: Any) -> int:
    if not isinstance(record, dict) or "format_version" not in record:
        raise CheckpointError(f"{p}: corrupted jaxnet metadata (no format_version in the record)")
    version = record["format_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version not in _KNOWN_VERSIONS:
        raise CheckpointError(
            f"{p}: unknown checkpoint format_version {version!r}; this jaxnet ({_JAXNET_VERSION}) reads "
            f"{', '.join(map(str, _KNOWN_VERSIONS))} (a newer jaxnet may have written it)"
        )
    return int(version)


def _verify_digest(p: str, record: dict[str, Any], tensors: Mapping[str, np.ndarray], version: int) -> None:
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
        actual = _digest(record, tensors)
    except (TypeError, ValueError) as e:  # e.g. a tensor dtype numpy cannot name
        raise CheckpointError(f"{p}: corrupted checkpoint ({e})") from None
    if actual != stored:
        raise CheckpointError(
            f"{p}: checksum mismatch (SHA-256 {actual[:12]}… expected {stored[:12]}…): the file is corrupted"
        )


def _fields(
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
    if dtype not in _FLOAT_DTYPES:
        raise bad(f"dtype must be one of {_FLOAT_DTYPES}, got {str(dtype)[:40]!r}")
    if not isinstance(record["jaxnet_version"], str):
        raise bad("jaxnet_version must be a string")
    if not isinstance(record["metadata"], dict):
        raise bad("metadata must be a JSON object")
    try:
        user = _check_metadata(record["metadata"], _RESERVED if version >= 2 else _RESERVED_V1)
    except (TypeError, ValueError) as e:
        raise bad(str(e)) from None
    source = record if version >= 2 else {"activation": "relu", "head": "sigmoid", **user}  # v1: the caller's, if any
    filled_in = () if version >= 2 else tuple(k for k in ("activation", "head") if k not in user)
    activation, head = source.get("activation"), source.get("head")
    try:
        activation_named(activation)
        least = head_named(head).min_outputs
    except ValueError as e:
        raise bad(str(e)) from None
    if sizes[-1] < least:
        raise bad(f"head {head!r} needs at least {least} outputs, layer_sizes end in {sizes[-1]}")
    return tuple(sizes), dtype, str(activation), str(head), user, filled_in


def _check_tensors(p: str, tensors: Mapping[str, np.ndarray], sizes: tuple[int, ...], dtype: str) -> None:
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
            bad = int(t.size - np.isfinite(t).sum())
            if bad:
                raise CheckpointError(f"{p}: tensor {name} has {bad} NaN/inf entr{'y' if bad == 1 else 'ies'}")


def _as_jax(p: str, tensors: Mapping[str, np.ndarray], names: list[str]) -> dict[str, jnp.ndarray]:
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


# ---------------------------------------------------------------- atomic writing


def _atomic_write(p: str, data: bytes) -> None:
    """Write ``data`` to a locked temporary file beside ``p``'s real target, fsync it and rename it over."""
    target = os.path.realpath(p)  # through symlinks: the link stays, its target is replaced
    mode = _existing_mode(p, target)
    folder, name = os.path.split(target)
    _remove_stale_temps(folder, name)
    tmp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as e:
        raise OSError(e.errno, f"cannot write checkpoint in {folder!r}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # tells _remove_stale_temps a live writer owns it
            if mode is not None:
                os.chmod(tmp, mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, target)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)


def _existing_mode(p: str, target: str) -> int | None:
    """The permission bits of the file being replaced (None if new); refuses to replace a non-regular file."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"path: {p!r} is {_kind(st.st_mode)}, not a regular file; refusing to replace it")
    return stat.S_IMODE(st.st_mode) & 0o777


def _remove_stale_temps(folder: str, name: str) -> None:
    """Remove ``.NAME.<12 hex>.tmp`` files a killed writer left beside ``NAME``.

    Only files of exactly that pattern, regular, not locked (a live writer
    holds an ``flock`` on its temporary file until the rename; the kernel
    drops it when a writer dies) and not modified for ``_TMP_GRACE_S``
    seconds (the moment between a writer's create and lock). Without
    ``fcntl`` (Windows) only the age tells, so the wait is 10 minutes.
    Errors are ignored: cleaning up never makes a save fail.
    """
    pattern = re.compile(rf"\.{re.escape(name)}\.[0-9a-f]{{12}}\.tmp")
    try:
        entries = [e for e in os.listdir(folder) if pattern.fullmatch(e)]
    except OSError:
        return
    for entry in entries:
        _remove_if_stale(os.path.join(folder, entry))


def _remove_if_stale(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or time.time() - st.st_mtime < _TMP_GRACE_S:
            return
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # OSError while a live writer holds it
        os.remove(path)
    except OSError:
        pass
    finally:
        os.close(fd)


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

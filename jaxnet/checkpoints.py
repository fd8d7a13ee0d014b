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

import json
import os
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import safetensors
import safetensors.numpy

from jaxnet._atomic import atomic_write as _atomic_write  # also the CLI's writer of predict --out
from jaxnet._checkpoint_format import (
    FORMAT_VERSION,
    JAXNET_VERSION,
    KEY,
    RESERVED,
    SAVED_DTYPES,
    CheckpointError,
    CheckpointWarning,
    as_jax,
    check_metadata,
    check_tensors,
    fields,
    format_version,
    parse,
    read_regular_file,
    verify_digest,
)
from jaxnet._checkpoint_format import digest as _digest  # tests forge valid checksums with it
from jaxnet._checks import float_dtype, refuse
from jaxnet._validate import prepare, resolve_spec
from jaxnet.network import depth, param_keys, widths
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

MAX_HEADER_BYTES = 100_000_000
"""safetensors' reader refuses a header (JSON plus padding) longer than this, so :func:`save` does too."""


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
    arrays, sizes = _arrays_to_save(params, spec.activation, spec.head)
    more = _check_extra(extra)
    record = _record(sizes, arrays["W1"].dtype.name, spec.activation, spec.head, metadata, sorted(more))
    data = _serialise(record, {**arrays, **more})
    if jax.process_index() != 0:  # multi-process: process 0 writes, the others must not race it
        return False
    _atomic_write(p, data)
    return True


def _record(
    sizes: tuple[int, ...], dtype: str, activation: str, head: str, metadata: Any, extra: list[str]
) -> dict[str, Any]:
    """The jaxnet record of a checkpoint (without its checksum); ``metadata`` is checked here."""
    record: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "layer_sizes": list(sizes),
        "dtype": dtype,
        "activation": activation,
        "head": head,
        "jaxnet_version": JAXNET_VERSION,
        "metadata": check_metadata(metadata, RESERVED),
    }
    if extra:
        record["extra_tensors"] = extra
    return record


def _serialise(record: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """The safetensors bytes of ``arrays`` with ``record`` and its checksum, after the header-size check."""
    record["sha256"] = "0" * 64  # a placeholder of the digest's length: the header's size is known before hashing
    raw = json.dumps(record, allow_nan=False)
    _check_header_size(arrays, raw)
    record["sha256"] = _digest(json.loads(raw), arrays)  # of the record as load will parse it
    raw = json.dumps(record, allow_nan=False)
    try:
        return safetensors.numpy.save(arrays, metadata={KEY: raw})
    except safetensors.SafetensorError as e:  # pragma: no cover - _check_header_size catches the known cause
        raise ValueError(f"metadata: safetensors cannot serialise this checkpoint ({e})") from None


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
    tensors, record = parse(p, read_regular_file(p))
    version = format_version(p, record)
    verify_digest(p, record, tensors, version)
    sizes, dtype, activation, head, user, filled_in = fields(p, record, version)
    names = record.get("extra_tensors", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n.startswith("extra/") for n in names):
        raise CheckpointError(f"{p}: corrupted jaxnet metadata (extra_tensors must be a list of 'extra/...' names)")
    extra = {n: tensors.pop(n) for n in names if n in tensors}
    if len(extra) != len(names):
        raise CheckpointError(f"{p}: missing tensor(s) {sorted(set(names) - set(extra))} listed in extra_tensors")
    check_tensors(p, tensors, sizes, dtype)
    params = as_jax(p, tensors, param_keys(len(sizes) - 1))
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
        raise refuse("extra", "a dict of arrays or None", type(extra).__name__, TypeError)
    out = {}
    for name, value in extra.items():
        if not isinstance(name, str) or not name.startswith("extra/"):
            raise refuse("extra", "names starting with 'extra/'", repr(name))
        a = np.asarray(value)
        if a.dtype.kind not in "biuf":
            raise refuse("extra", "numeric arrays", f"{name!r} of dtype {a.dtype}", TypeError)
        out[name] = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    return out


def _arrays_to_save(params: Any, activation: Any, head: Any) -> tuple[dict[str, np.ndarray], tuple[int, ...]]:
    """The tensors to write (little-endian, C order), after every check :func:`jaxnet.validate` makes."""
    prepare(params, activation=activation, head=head)  # static checks, names, head vs outputs, finite values
    arrays = {k: np.asarray(params[k]) for k in param_keys(depth(params))}
    dtype = float_dtype("params", arrays["W1"].dtype, SAVED_DTYPES)  # one dtype for all: prepare checked
    little = dtype.newbyteorder("<")
    arrays = {k: np.ascontiguousarray(a, dtype=little) for k, a in arrays.items()}
    return arrays, widths(arrays)


def _check_header_size(arrays: Mapping[str, np.ndarray], raw: str) -> None:
    """Refuse a header over :data:`MAX_HEADER_BYTES` (an upper bound of what safetensors will write).

    safetensors writes compact JSON ``{"__metadata__": {...}, NAME: {"dtype":
    "F32", "shape": [...], "data_offsets": [a, b]}, ...}`` padded with spaces
    to a multiple of 8; offsets are bounded here by the total byte count.
    """
    total = sum(a.nbytes for a in arrays.values())
    entries = {k: {"dtype": "F00", "shape": list(a.shape), "data_offsets": [total, total]} for k, a in arrays.items()}
    header = json.dumps({"__metadata__": {KEY: raw}, **entries}, separators=(",", ":"), ensure_ascii=False)
    n = len(header.encode())
    n += -n % 8
    if n > MAX_HEADER_BYTES:
        raise ValueError(
            f"metadata: the checkpoint header would be {n:,} bytes, over the {MAX_HEADER_BYTES:,} bytes that "
            "safetensors can read back; keep large data in its own file"
        )

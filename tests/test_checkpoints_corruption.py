"""jaxnet.checkpoints.load refuses every corrupted or hostile file with CheckpointError (issue 9, section 4).

Bit flips anywhere in a file, records with overflowing numbers, unknown
format versions, NaN/inf and integer tensors, FIFOs and device files; files of
the previous format (1, no checksum) still load, with a CheckpointWarning.
"""

import hashlib
import json
import os
import threading
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import safetensors.numpy

import jaxnet
from jaxnet import checkpoints
from jaxnet.checkpoints import CheckpointError, CheckpointWarning

USER = {"step": 7, "note": "demo", "lr": 0.25, "nested": {"a": [1, None, True]}}


def net(sizes=(2, 3, 1), dtype=jnp.float32, seed=0):
    return jaxnet.init_mlp(jax.random.key(seed), sizes, dtype=dtype)


def saved(tmp_path, sizes=(2, 3, 1), dtype=jnp.float32, **kwargs):
    path = tmp_path / "net.safetensors"
    checkpoints.save(path, net(sizes, dtype), metadata=USER, **kwargs)
    return path


def header_length(blob):
    return int.from_bytes(blob[:8], "little")


def parts(path):
    """The tensors and the jaxnet record of a checkpoint, read with safetensors and json alone."""
    blob = path.read_bytes()
    header = json.loads(blob[8 : 8 + header_length(blob)])
    return safetensors.numpy.load(blob), json.loads(header["__metadata__"]["jaxnet"])


def seal(record, tensors):
    """``record`` with the checksum the module docstring defines (a crafted file that is not corrupted)."""
    body = {k: v for k, v in record.items() if k != "sha256"}
    h = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    for name in sorted(tensors):
        t = np.asarray(tensors[name])
        h.update(f"\n{name}:{t.dtype.name}:{list(t.shape)}\n".encode() + t.astype(t.dtype.newbyteorder("<")).tobytes())
    return {**body, "sha256": h.hexdigest()}


def write(path, tensors, raw_record):
    path.write_bytes(safetensors.numpy.save(tensors, metadata={"jaxnet": raw_record}))


def write_edited(path, tensors, record, old, new):
    """``record`` as JSON with the text ``old`` replaced by ``new``, sealed when Python's json can parse it.

    A valid checksum makes load reach the checks of the record's fields (the
    edit is crafted, not corruption); text Python's json refuses gets a dummy.
    """
    raw = json.dumps({**record, "sha256": "@"})
    assert raw.count(old) == 1, old
    raw = raw.replace(old, new)
    try:
        sha = seal(json.loads(raw), tensors)["sha256"]
    except (ValueError, RecursionError):
        sha = "0" * 64
    write(path, tensors, raw.replace('"@"', f'"{sha}"'))


def load_quietly(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a corrupted file must not load as "format 1 with a warning"
        return checkpoints.load(path)


def test_stored_checksum_is_the_documented_one(tmp_path):
    tensors, record = parts(saved(tmp_path))
    assert record["format_version"] == 2
    assert record["sha256"] == seal(record, tensors)["sha256"]


# ---------------------------------------------------------------- bit flips


@pytest.mark.parametrize(
    "dtype",
    [jnp.float32, pytest.param(jnp.float64, marks=pytest.mark.slow), pytest.param(jnp.float16, marks=pytest.mark.slow)],
)
def test_every_single_bit_flip_in_the_tensor_data_is_refused(tmp_path, dtype):
    path = saved(tmp_path, dtype=dtype)
    blob = path.read_bytes()
    start = 8 + header_length(blob)
    assert len(blob) - start == 13 * jnp.dtype(dtype).itemsize  # the (2, 3, 1) net's 13 numbers, nothing else
    bad = tmp_path / "flipped.safetensors"
    for bit in range(start * 8, len(blob) * 8):
        flipped = bytearray(blob)
        flipped[bit // 8] ^= 1 << (bit % 8)
        bad.write_bytes(bytes(flipped))
        with pytest.raises(CheckpointError, match="checksum mismatch"):
            load_quietly(bad)


def _flip_header_bits(tmp_path, bits):
    """Flip each bit of the length prefix and JSON header: CheckpointError, or the very same params and metadata."""
    path = saved(tmp_path)
    blob = path.read_bytes()
    params, meta = checkpoints.load(path)
    bad = tmp_path / "flipped.safetensors"
    for bit in bits(8 + header_length(blob)):
        flipped = bytearray(blob)
        flipped[bit // 8] ^= 1 << (bit % 8)
        bad.write_bytes(bytes(flipped))
        try:
            got, got_meta = load_quietly(bad)
        except CheckpointError:
            continue
        assert got_meta == meta, f"bit {bit}: the metadata changed silently"
        for k in params:
            np.testing.assert_array_equal(np.asarray(got[k]), np.asarray(params[k]), err_msg=f"bit {bit}")


def test_bit_flips_in_the_header_are_refused_or_change_nothing(tmp_path):
    _flip_header_bits(tmp_path, lambda n: range(0, 8 * n, 13))  # every 13th bit: all bit positions, most bytes


@pytest.mark.slow
def test_every_bit_flip_in_the_header_is_refused_or_changes_nothing(tmp_path):
    _flip_header_bits(tmp_path, lambda n: range(8 * n))


def test_edits_of_the_record_that_keep_valid_json_are_caught_by_the_checksum(tmp_path):
    path = saved(tmp_path)
    blob = path.read_bytes()
    edits = [
        (b'\\"step\\": 7', b'\\"step\\": 6'),
        (b'\\"demo\\"', b'\\"dEmo\\"'),
        (b'\\"relu\\"', b'\\"tanh\\"'),
        (b"[2, 3, 1]", b"[2, 3, 7]"),
    ]
    for old, new in edits:
        assert blob.count(old) == 1, old
        path.write_bytes(blob.replace(old, new))
        with pytest.raises(CheckpointError, match="checksum mismatch"):
            checkpoints.load(path)


# ---------------------------------------------------------------- format versions


def _v1_file(tmp_path, user=None, **changes):
    """A checkpoint as format 1 (the previous save) wrote it: no checksum, no activation or head."""
    params = net()
    tensors = {k: np.asarray(v) for k, v in params.items()}
    record = {
        "format_version": 1,
        "layer_sizes": [2, 3, 1],
        "dtype": "float32",
        "jaxnet_version": "0.1.0",
        "metadata": dict(USER if user is None else user),
        **changes,
    }
    path = tmp_path / "v1.safetensors"
    write(path, tensors, json.dumps(record, allow_nan=False))
    return path, params


def test_format_1_files_load_with_a_warning_as_relu_sigmoid(tmp_path):
    path, params = _v1_file(tmp_path)
    with pytest.warns(CheckpointWarning, match="format_version 1.*cannot be verified"):
        loaded, meta = checkpoints.load(path)
    for k in params:
        np.testing.assert_array_equal(np.asarray(loaded[k]), np.asarray(params[k]))
    assert meta == {
        **USER,
        "layer_sizes": (2, 3, 1),
        "dtype": "float32",
        "activation": "relu",
        "head": "sigmoid",
        "jaxnet_version": "0.1.0",
    }
    assert issubclass(CheckpointWarning, UserWarning)


def test_format_1_files_that_named_their_activation_in_user_metadata_keep_it(tmp_path):
    path, _ = _v1_file(tmp_path, user={"activation": "tanh", "head": "identity"})
    with pytest.warns(CheckpointWarning):
        _, meta = checkpoints.load(path)
    assert (meta["activation"], meta["head"]) == ("tanh", "identity")
    path, _ = _v1_file(tmp_path, user={"activation": "swish"})
    with pytest.warns(CheckpointWarning), pytest.raises(CheckpointError, match="activation.*'swish'"):
        checkpoints.load(path)


def test_format_1_files_are_still_checked(tmp_path):
    path, _ = _v1_file(tmp_path, layer_sizes=[2, 4, 1])
    with pytest.warns(CheckpointWarning), pytest.raises(CheckpointError, match="shape"):
        checkpoints.load(path)


def test_a_checksum_in_a_format_1_record_is_verified_too(tmp_path):
    path, _ = _v1_file(tmp_path, sha256="0" * 64)
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        checkpoints.load(path)


@pytest.mark.parametrize("version", [0, 3, 99, -1, "2", 2.0, True, None, [2]])
def test_unknown_format_versions_are_refused(tmp_path, version):
    tensors, record = parts(saved(tmp_path))
    path = tmp_path / "new.safetensors"
    write(path, tensors, json.dumps(seal({**record, "format_version": version}, tensors)))
    with pytest.raises(CheckpointError, match="unknown checkpoint format_version"):
        checkpoints.load(path)


def test_a_record_without_format_version_or_checksum_is_refused(tmp_path):
    tensors, record = parts(saved(tmp_path))
    path = tmp_path / "bad.safetensors"
    write(path, tensors, json.dumps(seal({k: v for k, v in record.items() if k != "format_version"}, tensors)))
    with pytest.raises(CheckpointError, match="no format_version"):
        checkpoints.load(path)
    for sha in (None, "", "X" * 64, 12):
        body = {k: v for k, v in record.items() if k != "sha256"}
        write(path, tensors, json.dumps(body if sha is None else {**body, "sha256": sha}))
        with pytest.raises(CheckpointError, match="sha256"):
            load_quietly(path)


# ---------------------------------------------------------------- records with bad numbers and names


RAW_SIZES = [
    "[2, 1e999, 1]",
    "[2, -1e999, 1]",
    "[2, " + "9" * 400 + ", 1]",
    "[2, " + "9" * 5000 + ", 1]",
    "[2, 2147483648, 1]",
    "[2, 0, 1]",
    "[2, -3, 1]",
    "[2, 3.0, 1]",
    "[2, true, 1]",
    '[2, "3", 1]',
    "[2, NaN, 1]",
    "[2, Infinity, 1]",
    "[3]",
    "[]",
    "3",
    "null",
    '"2-3-1"',
]


@pytest.mark.parametrize("sizes", RAW_SIZES, ids=[s[:20] for s in RAW_SIZES])
def test_layer_sizes_that_overflow_or_are_not_widths_are_refused(tmp_path, sizes):
    tensors, record = parts(saved(tmp_path))
    path = tmp_path / "bad.safetensors"
    write_edited(path, tensors, record, '"layer_sizes": [2, 3, 1]', f'"layer_sizes": {sizes}')
    with pytest.raises(CheckpointError, match="corrupted jaxnet metadata"):
        checkpoints.load(path)


BAD_NUMBERS = ["1e999", "-1e400", "NaN", "Infinity", "-Infinity", "9" * 5000, "[" * 100_000 + "]" * 100_000]


@pytest.mark.parametrize("value", BAD_NUMBERS, ids=[v[:12] for v in BAD_NUMBERS])
def test_overflowing_or_too_deep_user_metadata_is_refused(tmp_path, value):
    tensors, record = parts(saved(tmp_path))
    path = tmp_path / "bad.safetensors"
    write_edited(path, tensors, record, '"lr": 0.25', f'"lr": {value}')
    with pytest.raises(CheckpointError, match="corrupted jaxnet metadata"):
        checkpoints.load(path)


@pytest.mark.parametrize(
    "change, words",
    [
        ({"activation": "swish"}, "activation.*'swish'"),
        ({"activation": None}, "activation"),
        ({"head": "softplus"}, "head.*'softplus'"),
        ({"head": "softmax"}, "layer_sizes: expected at least 2 outputs for head 'softmax'"),
        ({"dtype": "int32"}, "dtype: expected one of"),
        ({"dtype": "bfloat16"}, "dtype: expected one of"),
        ({"metadata": [1, 2]}, "metadata must be a JSON object"),
        ({"metadata": {"step": -1}}, "step"),
        ({"metadata": {"head": "identity"}}, "reserved"),
        ({"jaxnet_version": 1}, "jaxnet_version"),
    ],
)
def test_records_that_save_would_not_write_are_refused(tmp_path, change, words):
    tensors, record = parts(saved(tmp_path))
    path = tmp_path / "bad.safetensors"
    write(path, tensors, json.dumps(seal({**record, **change}, tensors)))
    with pytest.raises(CheckpointError, match=words):
        checkpoints.load(path)


@pytest.mark.parametrize("record", ["[1, 2]", '"text"', "null", "7"])
def test_a_record_that_is_not_an_object_is_refused(tmp_path, record):
    tensors, _ = parts(saved(tmp_path))
    path = tmp_path / "bad.safetensors"
    write(path, tensors, record)
    with pytest.raises(CheckpointError, match="corrupted jaxnet metadata"):
        checkpoints.load(path)


# ---------------------------------------------------------------- bad tensors


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_tensors_are_refused(tmp_path, value):
    tensors, record = parts(saved(tmp_path))
    tensors["W2"][0, 1] = value
    path = tmp_path / "bad.safetensors"
    write(path, tensors, json.dumps(seal(record, tensors)))
    with pytest.raises(CheckpointError, match=r"tensor W2: expected finite values, got -?(nan|inf) at index \(0, 1\)"):
        checkpoints.load(path)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.bool_])
def test_integer_tensors_are_refused(tmp_path, dtype):
    tensors, record = parts(saved(tmp_path))
    tensors = {k: np.ones(t.shape, dtype) for k, t in tensors.items()}
    path = tmp_path / "int.safetensors"
    write(path, tensors, json.dumps(seal(record, tensors)))  # the record still says float32
    with pytest.raises(CheckpointError, match=f"dtype {np.dtype(dtype).name}, expected float32"):
        checkpoints.load(path)
    write(path, tensors, json.dumps(seal({**record, "dtype": np.dtype(dtype).name}, tensors)))
    with pytest.raises(CheckpointError, match="dtype: expected one of"):
        checkpoints.load(path)


# ---------------------------------------------------------------- files that are not regular files


def _load_in_thread(path, seconds=10.0):
    """``load(path)``'s exception in a daemon thread; fails the test (rather than hanging it) on a block."""
    outcome = []

    def run():
        try:
            checkpoints.load(path)
            outcome.append(None)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            outcome.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return thread.is_alive(), outcome


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
@pytest.mark.parametrize("through_link", [False, True])
def test_a_fifo_is_refused_without_blocking(tmp_path, through_link):
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    path = fifo
    if through_link:
        path = tmp_path / "link.safetensors"
        path.symlink_to(fifo)
    hung, outcome = _load_in_thread(path)
    if hung:  # unblock the reader so the thread ends, then fail
        with open(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), "wb"):
            pass
        pytest.fail("load blocked on a FIFO")
    assert isinstance(outcome[0], CheckpointError), outcome
    assert "not a regular file (a FIFO)" in str(outcome[0]) and str(path) in str(outcome[0])


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_device_files_are_refused_not_read(device):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    hung, outcome = _load_in_thread(device)
    assert not hung, f"load kept reading {device}"
    assert isinstance(outcome[0], CheckpointError) and "character device" in str(outcome[0]), outcome


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="not a regular file \\(a directory\\)"):
        checkpoints.load(tmp_path)


def test_an_unreadable_file_is_refused(tmp_path, monkeypatch):
    path = saved(tmp_path)

    def denied(*args, **kwargs):  # what open gives a user without read permission (tests may run as root)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(checkpoints.os, "open", denied)
    with pytest.raises(CheckpointError, match="cannot read checkpoint \\(Permission denied\\)"):
        checkpoints.load(path)

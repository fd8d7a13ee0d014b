"""jaxnet.checkpoints: exact round trips, atomic writes, refusal of bad files: load refuses every corrupted or
hostile file with CheckpointError."""

import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import safetensors.numpy

import jaxnet
from jaxnet import _atomic, checkpoints
from jaxnet.checkpoints import CheckpointError, CheckpointWarning


def net(dtype, sizes=(4, 5, 3, 2), seed=0):
    return jaxnet.init_mlp(jax.random.key(seed), sizes, dtype=dtype)


def save(path, params, **kwargs):
    """``checkpoints.save`` of these tests' nets, sigmoid unless a head is given: a dict of several outputs
    must name its head (issue 16), and these tests are about the file, not the head."""
    return checkpoints.save(path, params, **{"head": "sigmoid", **kwargs})


@pytest.mark.parametrize(
    "dtype, activation, head",
    [
        (jnp.float32, "relu", "sigmoid"),
        (jnp.float64, "tanh", "softmax"),
        (jnp.float64, "gelu", "identity"),
    ],
)
@pytest.mark.slow
def test_round_trip_is_exact(tmp_path, dtype, activation, head):
    params = net(dtype)
    user = {"step": 7, "note": "hello", "nested": {"a": [1, 2.5, None]}, "flag": True, "lr": 0.1}
    path = tmp_path / "net.safetensors"
    save(path, params, metadata=user, activation=activation, head=head)
    loaded, meta = checkpoints.load(path)
    assert sorted(loaded) == sorted(params)
    for k in params:
        assert isinstance(loaded[k], jax.Array)
        assert loaded[k].dtype == params[k].dtype == dtype
        assert loaded[k].shape == params[k].shape
        np.testing.assert_array_equal(np.asarray(loaded[k]), np.asarray(params[k]))
    assert meta == {
        **user,
        "layer_sizes": (4, 5, 3, 2),
        "dtype": jnp.dtype(dtype).name,
        "activation": activation,
        "head": head,
        "jaxnet_version": jaxnet.__version__,
    }
    assert os.listdir(tmp_path) == ["net.safetensors"]  # no temporary file left


def test_save_overwrites_and_default_metadata(tmp_path):
    path = tmp_path / "net.safetensors"
    save(path, net(jnp.float32, seed=1))
    params = net(jnp.float32, seed=2)
    save(str(path), params)
    loaded, meta = checkpoints.load(str(path))
    np.testing.assert_array_equal(np.asarray(loaded["W1"]), np.asarray(params["W1"]))
    assert "step" not in meta and meta["layer_sizes"] == (4, 5, 3, 2)


def test_file_is_plain_safetensors(tmp_path):
    path = tmp_path / "net.safetensors"
    params, _, _ = jaxnet.seed_example(jnp.float64)
    save(path, params, metadata={"step": 3})
    raw = safetensors.numpy.load_file(str(path))
    np.testing.assert_array_equal(raw["W1"], np.asarray(params["W1"]))


@pytest.mark.parametrize("keep", [0, 5, 8, 40, -1])
def test_truncated_file_is_refused(tmp_path, keep):
    path = tmp_path / "net.safetensors"
    save(path, net(jnp.float32))
    blob = path.read_bytes()
    path.write_bytes(blob[: keep if keep >= 0 else len(blob) + keep])
    with pytest.raises(CheckpointError, match="truncated or corrupted") as err:
        checkpoints.load(path)
    assert str(path) in str(err.value)


def test_garbage_and_missing_files_are_refused(tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(CheckpointError, match="x.safetensors"):
        checkpoints.load(path)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        checkpoints.load(tmp_path / "absent.safetensors")


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_crash_mid_save_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch, failing):
    path = tmp_path / "net.safetensors"
    old = net(jnp.float32, seed=1)
    save(path, old, metadata={"step": 1})

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoints.os, failing, boom)
    with pytest.raises(OSError, match="No space left"):
        save(path, net(jnp.float32, seed=2), metadata={"step": 2})
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["net.safetensors"]
    loaded, meta = checkpoints.load(path)
    assert meta["step"] == 1
    np.testing.assert_array_equal(np.asarray(loaded["W2"]), np.asarray(old["W2"]))


def documented_sha256(record, tensors):
    """The checksum as the module docstring defines it, written out independently of jaxnet."""
    body = {k: v for k, v in record.items() if k != "sha256"}
    h = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    for name in sorted(tensors):
        t = np.asarray(tensors[name])
        h.update(f"\n{name}:{t.dtype.name}:{list(t.shape)}\n".encode() + t.astype(t.dtype.newbyteorder("<")).tobytes())
    return h.hexdigest()


def _write_raw(path, tensors, record, *, seal=True):
    """A checkpoint with these tensors and record; ``seal``: with a valid checksum (a crafted, not corrupted, file)."""
    if record is not None and seal and isinstance(record, dict):
        record = {**record, "sha256": documented_sha256(record, tensors)}
    meta = None if record is None else {"jaxnet": json.dumps(record)}
    path.write_bytes(safetensors.numpy.save(tensors, metadata=meta))


def _valid_raw(tmp_path):
    path = tmp_path / "ok.safetensors"
    save(path, net(jnp.float32, sizes=(2, 3, 1)))
    tensors = safetensors.numpy.load_file(str(path))
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        record = json.loads(json.loads(f.read(n))["__metadata__"]["jaxnet"])
    return tensors, record


def _drop(name):
    return lambda tensors: tensors.pop(name)


def _put(name, value):
    return lambda tensors: tensors.__setitem__(name, value)


# (case, change to the tensors of a valid (2, 3, 1) float32 checkpoint, what the error must say)
BAD_TENSORS = [
    ("missing tensor", _drop("b2"), r"bad.safetensors.*missing tensor.*'b2'"),
    ("extra tensor", _put("W3", np.zeros((1, 1), np.float32)), "unexpected tensor.*W3"),
    ("W2 shape", _put("W2", np.zeros((1, 4), np.float32)), "tensor W2 has shape"),
    ("b1 shape", _put("b1", np.zeros((2,), np.float32)), "tensor b1 has shape"),
    ("W1 rank", _put("W1", np.zeros((3, 2, 1), np.float32)), "tensor W1 has shape"),
    ("mixed dtype", _put("b2", np.zeros((1,), np.float64)), "b2 has dtype float64, expected float32"),
]


@pytest.mark.parametrize("change, message", [c[1:] for c in BAD_TENSORS], ids=[c[0] for c in BAD_TENSORS])
def test_inconsistent_tensors_are_refused(tmp_path, change, message):
    tensors, record = _valid_raw(tmp_path)
    change(tensors)
    path = tmp_path / "bad.safetensors"
    _write_raw(path, tensors, record)
    with pytest.raises(CheckpointError, match=message):
        checkpoints.load(path)


def test_non_jaxnet_and_corrupted_metadata_are_refused(tmp_path):
    tensors, record = _valid_raw(tmp_path)
    path = tmp_path / "other.safetensors"
    _write_raw(path, tensors, None)
    with pytest.raises(CheckpointError, match="other.safetensors.*not a jaxnet checkpoint"):
        checkpoints.load(path)
    path.write_bytes(safetensors.numpy.save(tensors, metadata={"jaxnet": "{broken"}))
    with pytest.raises(CheckpointError, match="corrupted jaxnet metadata"):
        checkpoints.load(path)
    del record["layer_sizes"]
    _write_raw(path, tensors, record)
    with pytest.raises(CheckpointError, match="corrupted jaxnet metadata"):
        checkpoints.load(path)


@pytest.mark.parametrize(
    "metadata,err,words",
    [
        ({"x": object()}, TypeError, "JSON-serialisable"),
        ({"x": float("nan")}, ValueError, "finite numbers"),
        ({1: "a"}, TypeError, "str keys"),
        ({"dtype": "float32"}, ValueError, "reserved"),
        ({"step": -1}, ValueError, "step"),
        ({"step": 1.5}, ValueError, "step"),
        (["step", 1], TypeError, "metadata"),
    ],
)
def test_bad_metadata_is_refused_before_writing(tmp_path, metadata, err, words):
    path = tmp_path / "net.safetensors"
    with pytest.raises(err, match=words):
        save(path, net(jnp.float32), metadata=metadata)
    assert os.listdir(tmp_path) == []


def test_invalid_params_are_refused_before_writing(tmp_path):
    params = net(jnp.float32)
    del params["b1"]
    with pytest.raises(ValueError, match="b1"):
        save(tmp_path / "net.safetensors", params)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- activation and head (issue 10)


@pytest.mark.parametrize("activation", sorted(jaxnet.ACTIVATIONS))
@pytest.mark.parametrize("head", sorted(jaxnet.HEADS))
def test_activation_and_head_round_trip(tmp_path, activation, head):
    path = tmp_path / "net.safetensors"
    save(path, net(jnp.float32), activation=activation, head=head)
    _, meta = checkpoints.load(path)
    assert (meta["activation"], meta["head"]) == (activation, head)


@pytest.mark.parametrize(
    "kwargs, err, words",
    [
        ({"activation": "swish"}, ValueError, "activation: expected one of"),
        ({"activation": 7}, ValueError, "activation: expected one of"),  # None is now "the default"
        ({"head": "softplus"}, ValueError, "head: expected one of"),
        ({"metadata": {"activation": "tanh"}}, ValueError, "reserved"),
        ({"metadata": {"head": "identity"}}, ValueError, "reserved"),
    ],
)
def test_bad_activation_or_head_is_refused_before_writing(tmp_path, kwargs, err, words):
    with pytest.raises(err, match=words):
        save(tmp_path / "net.safetensors", net(jnp.float32), **kwargs)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- save refuses what load refuses, accepts what validate accepts


def _zero_width():
    p = net(jnp.float32, sizes=(2, 3, 1))
    return {
        **p,
        "W1": jnp.zeros((0, 2), jnp.float32),
        "b1": jnp.zeros((0,), jnp.float32),
        "W2": jnp.zeros((1, 0), jnp.float32),
    }


def _with(key, index, value, dtype=jnp.float32):
    p = net(dtype, sizes=(2, 3, 1))
    return {**p, key: p[key].at[index].set(value)}


BAD_PARAMS = [
    ("zero-width layer", _zero_width, ValueError, r"params\['W1'\]: expected a non-empty 2-D"),
    ("NaN", lambda: _with("W2", (0, 1), jnp.nan), ValueError, r"params\['W2'\]: expected finite"),
    ("inf", lambda: _with("b1", 2, -jnp.inf), ValueError, r"params\['b1'\]: expected finite"),
    (
        "integers",
        lambda: {k: np.ones(v.shape, np.int32) for k, v in net(jnp.float32, (2, 3, 1)).items()},
        TypeError,
        "expected a floating dtype",
    ),
    (
        "bfloat16",
        lambda: {k: v.astype(jnp.bfloat16) for k, v in net(jnp.float32, (2, 3, 1)).items()},
        TypeError,
        "bfloat16",
    ),
    ("softmax on one output", lambda: net(jnp.float32, (2, 3, 1)), ValueError, "at least 2 outputs for head 'softmax'"),
    ("not a dict", lambda: [np.zeros((3, 2))], TypeError, "params: expected a dict"),
    (
        "gap in the layers",
        lambda: {k.replace("2", "3"): v for k, v in net(jnp.float32, (2, 3, 1)).items()},
        ValueError,
        "missing key",
    ),
]


@pytest.mark.parametrize("make, err, words", [c[1:] for c in BAD_PARAMS], ids=[c[0] for c in BAD_PARAMS])
def test_save_refuses_what_load_would_refuse_before_writing(tmp_path, make, err, words):
    head = "softmax" if "softmax" in words else "sigmoid"
    with pytest.raises(err, match=words):
        save(tmp_path / "net.safetensors", make(), head=head)
    assert os.listdir(tmp_path) == []


def test_save_accepts_lists_as_validate_does(tmp_path):
    params = net(jnp.float64, sizes=(2, 3, 1))
    as_lists = {k: np.asarray(v).tolist() for k, v in params.items()}
    jaxnet.validate(as_lists)
    path = tmp_path / "lists.safetensors"
    save(path, as_lists)
    loaded, meta = checkpoints.load(path)
    assert meta["dtype"] == "float64" and meta["layer_sizes"] == (2, 3, 1)
    for k in params:
        np.testing.assert_array_equal(np.asarray(loaded[k]), np.asarray(params[k]))


@pytest.mark.slow
def test_oversized_metadata_is_a_value_error_before_writing(tmp_path):
    path = tmp_path / "net.safetensors"
    with pytest.raises(ValueError, match="header would be .* over the 100,000,000 bytes"):
        save(path, net(jnp.float32), metadata={"blob": "x" * checkpoints.MAX_HEADER_BYTES})
    assert os.listdir(tmp_path) == []


def test_the_header_size_check_is_at_least_as_strict_as_the_real_header(tmp_path, monkeypatch):
    """With the limit set to the real header's length minus one, save refuses; with a little slack it saves."""
    path = tmp_path / "net.safetensors"
    user = {"note": 'é\n"' * 50, "values": list(range(100))}
    save(path, net(jnp.float32), metadata=user)
    real = int.from_bytes(path.read_bytes()[:8], "little")
    monkeypatch.setattr(checkpoints, "MAX_HEADER_BYTES", real - 1)
    with pytest.raises(ValueError, match="header would be"):
        save(path, net(jnp.float32), metadata=user)
    monkeypatch.setattr(checkpoints, "MAX_HEADER_BYTES", real + 64)
    save(path, net(jnp.float32), metadata=user)


@pytest.mark.slow
def test_metadata_just_under_the_limit_saves_and_loads_back(tmp_path):
    path = tmp_path / "net.safetensors"
    blob = "x" * (checkpoints.MAX_HEADER_BYTES - 2_000)
    save(path, net(jnp.float32), metadata={"blob": blob})
    _, meta = checkpoints.load(path)
    assert meta["blob"] == blob


# ---------------------------------------------------------------- re-saving: permissions, symlinks, temp files


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o444])
def test_resaving_keeps_the_files_permission_bits(tmp_path, mode):
    path = tmp_path / "net.safetensors"
    save(path, net(jnp.float32, seed=1))
    path.chmod(mode)
    save(path, net(jnp.float32, seed=2), metadata={"step": 2})
    assert stat.S_IMODE(os.stat(path).st_mode) == mode
    assert checkpoints.load(path)[1]["step"] == 2


def test_a_new_file_gets_the_umask_default(tmp_path):
    umask = os.umask(0o027)
    try:
        save(tmp_path / "net.safetensors", net(jnp.float32))
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "net.safetensors").st_mode) == 0o666 & ~0o027


@pytest.mark.parametrize("relative", [True, False])
def test_saving_through_a_symlink_writes_its_target_and_keeps_the_link(tmp_path, relative):
    (tmp_path / "store").mkdir()
    target = tmp_path / "store" / "real.safetensors"
    save(target, net(jnp.float32, seed=1), metadata={"step": 1})
    target.chmod(0o600)
    link = tmp_path / "latest.safetensors"
    link.symlink_to(os.path.join("store", "real.safetensors") if relative else target)
    params = net(jnp.float32, seed=2)
    save(link, params, metadata={"step": 2})
    assert link.is_symlink() and os.readlink(link) == (
        os.path.join("store", "real.safetensors") if relative else str(target)
    )
    assert checkpoints.load(target)[1]["step"] == 2
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    np.testing.assert_array_equal(np.asarray(checkpoints.load(link)[0]["W1"]), np.asarray(params["W1"]))
    assert sorted(os.listdir(tmp_path / "store")) == ["real.safetensors"]  # the temp file was beside the target


def test_saving_through_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "latest.safetensors"
    link.symlink_to("made.safetensors")
    save(link, net(jnp.float32))
    assert link.is_symlink() and (tmp_path / "made.safetensors").is_file()
    checkpoints.load(link)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_save_refuses_to_replace_a_fifo_or_a_folder(tmp_path):
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="is a FIFO, not a regular file"):
        save(fifo, net(jnp.float32))
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    folder = tmp_path / "dir.safetensors"
    folder.mkdir()
    with pytest.raises(ValueError, match="is a directory, not a regular file"):
        save(folder, net(jnp.float32))
    assert sorted(os.listdir(tmp_path)) == ["dir.safetensors", "pipe.safetensors"]


def _temp(folder, name, age_s, hex12="0123456789ab"):
    path = folder / f".{name}.{hex12}.tmp"
    path.write_bytes(b"half a checkpoint")
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def test_next_save_removes_temp_files_a_killed_writer_left(tmp_path):
    stale = [_temp(tmp_path, "net.safetensors", 60, h) for h in ("0123456789ab", "ffffffffffff")]
    fresh = _temp(tmp_path, "net.safetensors", 0, "aaaaaaaaaaaa")  # may be a writer between create and lock
    others = [
        _temp(tmp_path, "other.safetensors", 60),
        _temp(tmp_path, "net.safetensors", 60, "not-hex-1234"),
        _temp(tmp_path, "net.safetensors.bak", 60),
    ]
    save(tmp_path / "net.safetensors", net(jnp.float32))
    assert not any(p.exists() for p in stale)
    assert fresh.exists() and all(p.exists() for p in others)


@pytest.mark.skipif(_atomic.fcntl is None, reason="needs fcntl.flock")
def test_a_temp_file_locked_by_a_live_writer_is_kept(tmp_path):
    busy = _temp(tmp_path, "net.safetensors", 60)
    with open(busy, "rb") as f:
        _atomic.fcntl.flock(f.fileno(), _atomic.fcntl.LOCK_EX)
        save(tmp_path / "net.safetensors", net(jnp.float32))
        assert busy.exists()
    save(tmp_path / "net.safetensors", net(jnp.float32))
    assert not busy.exists()


_KILLED_WRITER = """
import sys, time, jax, jaxnet
from jaxnet import checkpoints
def stuck(*args):  # the writer hangs after writing its temp file, before the rename
    print("written", flush=True)
    time.sleep(600)
checkpoints.os.replace = stuck
checkpoints.save(sys.argv[1], jaxnet.init_mlp(jax.random.key(0), (2, 3, 1)))
"""


@pytest.mark.slow
def test_temp_file_of_a_writer_killed_with_sigkill_is_removed_by_the_next_save(tmp_path):
    path = tmp_path / "net.safetensors"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    try:
        assert proc.stdout.readline().strip() == "written"
        (left,) = [p for p in tmp_path.iterdir() if p.name.startswith(".net.safetensors.")]
        save(path, net(jnp.float32))  # the writer is alive and holds its lock: kept
        assert left.exists()
    finally:
        proc.kill()
        proc.wait(30)
    stamp = time.time() - 60
    os.utime(left, (stamp, stamp))
    save(path, net(jnp.float32))
    assert os.listdir(tmp_path) == ["net.safetensors"]


# ---------------------------------------------------------------- corrupted or hostile files (issue 9, section 4)
# jaxnet.checkpoints.load refuses every corrupted or hostile file with CheckpointError (issue 9, section 4).
#
# Bit flips anywhere in a file, records with overflowing numbers, unknown
# format versions, NaN/inf and integer tensors, FIFOs and device files; files of
# the previous format (1, no checksum) still load, with a CheckpointWarning.
#

USER = {"step": 7, "note": "demo", "lr": 0.25, "nested": {"a": [1, None, True]}}


def small_net(sizes=(2, 3, 1), dtype=jnp.float32, seed=0):
    return jaxnet.init_mlp(jax.random.key(seed), sizes, dtype=dtype)


def saved(tmp_path, sizes=(2, 3, 1), dtype=jnp.float32, **kwargs):
    path = tmp_path / "net.safetensors"
    checkpoints.save(path, small_net(sizes, dtype), metadata=USER, **kwargs)
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
    return {**body, "sha256": documented_sha256(body, tensors)}


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
    params = small_net()
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


def assert_edit_is_refused(tmp_path, old, new):
    """A saved file whose metadata has ``old`` replaced by ``new`` (sealed as write_edited does) loads as corrupted."""
    tensors, record = parts(saved(tmp_path))
    path = tmp_path / "bad.safetensors"
    write_edited(path, tensors, record, old, new)
    with pytest.raises(CheckpointError, match="corrupted jaxnet metadata"):
        checkpoints.load(path)


@pytest.mark.parametrize("sizes", RAW_SIZES, ids=[s[:20] for s in RAW_SIZES])
def test_layer_sizes_that_overflow_or_are_not_widths_are_refused(tmp_path, sizes):
    assert_edit_is_refused(tmp_path, '"layer_sizes": [2, 3, 1]', f'"layer_sizes": {sizes}')


BAD_NUMBERS = ["1e999", "-1e400", "NaN", "Infinity", "-Infinity", "9" * 5000, "[" * 100_000 + "]" * 100_000]


@pytest.mark.parametrize("value", BAD_NUMBERS, ids=[v[:12] for v in BAD_NUMBERS])
def test_overflowing_or_too_deep_user_metadata_is_refused(tmp_path, value):
    assert_edit_is_refused(tmp_path, '"lr": 0.25', f'"lr": {value}')


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

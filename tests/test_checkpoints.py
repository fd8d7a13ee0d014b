"""jaxnet.checkpoints: exact round trips, atomic writes, refusal of bad files."""

import hashlib
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import safetensors.numpy

import jaxnet
from jaxnet import checkpoints
from jaxnet.checkpoints import CheckpointError


def net(dtype, sizes=(4, 5, 3, 2), seed=0):
    return jaxnet.init_mlp(jax.random.key(seed), sizes, dtype=dtype)


@pytest.mark.parametrize("dtype, activation, head", [
    (jnp.float32, "relu", "sigmoid"), (jnp.float64, "tanh", "softmax"), (jnp.float64, "gelu", "identity"),
])
def test_round_trip_is_exact(tmp_path, dtype, activation, head):
    params = net(dtype)
    user = {"step": 7, "note": "hello", "nested": {"a": [1, 2.5, None]}, "flag": True, "lr": 0.1}
    path = tmp_path / "net.safetensors"
    checkpoints.save(path, params, metadata=user, activation=activation, head=head)
    loaded, meta = checkpoints.load(path)
    assert sorted(loaded) == sorted(params)
    for k in params:
        assert isinstance(loaded[k], jax.Array)
        assert loaded[k].dtype == params[k].dtype == dtype
        assert loaded[k].shape == params[k].shape
        np.testing.assert_array_equal(np.asarray(loaded[k]), np.asarray(params[k]))
    assert meta == {**user, "layer_sizes": (4, 5, 3, 2), "dtype": jnp.dtype(dtype).name,
                    "activation": activation, "head": head, "jaxnet_version": jaxnet.__version__}
    assert os.listdir(tmp_path) == ["net.safetensors"]  # no temporary file left


def test_save_overwrites_and_default_metadata(tmp_path):
    path = tmp_path / "net.safetensors"
    checkpoints.save(path, net(jnp.float32, seed=1))
    params = net(jnp.float32, seed=2)
    checkpoints.save(str(path), params)
    loaded, meta = checkpoints.load(str(path))
    np.testing.assert_array_equal(np.asarray(loaded["W1"]), np.asarray(params["W1"]))
    assert "step" not in meta and meta["layer_sizes"] == (4, 5, 3, 2)


def test_file_is_plain_safetensors(tmp_path):
    path = tmp_path / "net.safetensors"
    params, _, _ = jaxnet.seed_example(jnp.float64)
    checkpoints.save(path, params, metadata={"step": 3})
    raw = safetensors.numpy.load_file(str(path))
    np.testing.assert_array_equal(raw["W1"], np.asarray(params["W1"]))


@pytest.mark.parametrize("keep", [0, 5, 8, 40, -1])
def test_truncated_file_is_refused(tmp_path, keep):
    path = tmp_path / "net.safetensors"
    checkpoints.save(path, net(jnp.float32))
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
    checkpoints.save(path, old, metadata={"step": 1})

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoints.os, failing, boom)
    with pytest.raises(OSError, match="No space left"):
        checkpoints.save(path, net(jnp.float32, seed=2), metadata={"step": 2})
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
    checkpoints.save(path, net(jnp.float32, sizes=(2, 3, 1)))
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


@pytest.mark.parametrize("metadata,err,words", [
    ({"x": object()}, TypeError, "JSON-serialisable"),
    ({"x": float("nan")}, TypeError, "JSON-serialisable"),
    ({1: "a"}, TypeError, "str keys"),
    ({"dtype": "float32"}, ValueError, "reserved"),
    ({"step": -1}, ValueError, "step"),
    ({"step": 1.5}, ValueError, "step"),
    (["step", 1], TypeError, "metadata"),
])
def test_bad_metadata_is_refused_before_writing(tmp_path, metadata, err, words):
    path = tmp_path / "net.safetensors"
    with pytest.raises(err, match=words):
        checkpoints.save(path, net(jnp.float32), metadata=metadata)
    assert os.listdir(tmp_path) == []


def test_invalid_params_are_refused_before_writing(tmp_path):
    params = net(jnp.float32)
    del params["b1"]
    with pytest.raises(ValueError, match="b1"):
        checkpoints.save(tmp_path / "net.safetensors", params)
    assert os.listdir(tmp_path) == []

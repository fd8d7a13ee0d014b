"""Generated bad input for the ``jaxnet`` command: option values, checkpoint bytes, CSV text.

Whatever it is given, the command answers with an exit code and, for an
error, exactly one line ``jaxnet: error: ...`` that names the option or the
file: never a traceback, never an exception out of ``main``.
"""

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxnet import cli

NUMERIC_OPTIONS = ["--seed", "--steps", "--lr", "--batch-size", "--test-fraction", "--val-fraction",
                   "--early-stopping", "--eval-every", "--hidden"]  # fmt: skip

texts = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["inf", "-inf", "nan", "1e400", "-0", "0x10", "1_000", " 3 ", "1,2,", ",", "", "٣"]),
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def call(argv, capsys):
    before = jax.config.jax_enable_compilation_cache
    try:
        code = cli.main([*argv, "--no-cache"])
    finally:
        jax.config.update("jax_enable_compilation_cache", before)
    return code, *capsys.readouterr()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(NUMERIC_OPTIONS), value=texts)
@pytest.mark.slow
def test_any_option_value_is_refused_in_one_line_before_any_work(folder, capsys, option, value):
    out_file = folder / "m.safetensors"
    argv = ["train", "--data", str(folder / "missing.csv"), "--out", str(out_file), f"{option}={value}"]
    code, out, err = call(argv, capsys)
    assert code == 2, (code, out, err)
    assert err.count("\n") == 1 and err.startswith("jaxnet: error: ")
    assert option in err or "missing.csv" in err  # the bad option, or (for a good value) the missing file
    assert out == "" and not out_file.exists()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.binary(max_size=200), st.binary(min_size=8, max_size=8).map(lambda b: b + b"{}" * 10)))
def test_any_bytes_as_a_checkpoint(folder, capsys, raw):
    path = folder / "junk.safetensors"
    path.write_bytes(raw)
    (folder / "d.csv").write_text("a,b\n1,2\n")
    code, out, err = call(["predict", str(path), "--data", str(folder / "d.csv")], capsys)
    assert code == 2 and err.count("\n") == 1 and str(path) in err and out == ""
    code, out, err = call(["check", str(path)], capsys)
    assert code == 1 and out.startswith("checkpoint: FAILED") and out.count("\n") == 1 and err == ""


@pytest.fixture(scope="module")
def model(folder):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    (folder / "t.csv").write_text("a,b,y\n" + "".join(f"{p},{q},{int(p > 0)}\n" for p, q in x))
    before = jax.config.jax_enable_compilation_cache
    code = cli.main(["train", "--data", str(folder / "t.csv"), "--hidden", "3", "--steps", "20", "--no-progress",
                     "--out", str(folder / "model.safetensors"), "--no-cache"])  # fmt: skip
    jax.config.update("jax_enable_compilation_cache", before)
    assert code in (0, 4)
    return folder / "model.safetensors"


csv_text = st.lists(
    st.lists(st.one_of(st.sampled_from(["a", "b", "y", "", "1", "0", "nan", "x", '"', "1e999"]), st.text(max_size=4)),
             min_size=0, max_size=4),
    max_size=5,
).map(lambda rows: "\n".join(",".join(r) for r in rows))  # fmt: skip


@pytest.mark.slow
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=csv_text)
def test_any_csv_text_for_predict_and_check(folder, model, capsys, text):
    (folder / "f.csv").write_text(text)
    code, out, err = call(["predict", str(model), "--data", str(folder / "f.csv")], capsys)
    assert code in (0, 2), (code, out, err)
    if code == 2:
        assert err.count("\n") == 1 and err.startswith("jaxnet: error: ") and "f.csv" in err and out == ""
    else:
        assert out.startswith("row,class,probability_0,probability_1\n")
    code, out, err = call(["check", str(model), "--data", str(folder / "f.csv")], capsys)
    assert code in (0, 1), (code, out, err)
    assert ("check: OK" if code == 0 else "FAILED") in out and "Traceback" not in out + err

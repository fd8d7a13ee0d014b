"""jaxnet.data, issue 9 section 6 and issue 12 data helpers: strict number syntax with the
file/line/column named, headerless files, streaming in chunks, progress, several label
columns, ignored (text) columns, infer_head, leaky_columns, regression splits."""

import math
import os
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxnet import _data_csv, _source, data
from jaxnet.data import DataError


def write(tmp_path, text, name="d.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def raises_data_error(p, *words, **kwargs):
    """Load ``p`` with load_csv(**kwargs); the one-line DataError must name ``p`` and hold ``words``."""
    with pytest.raises(DataError) as err:
        data.load_csv(p, **kwargs)
    msg = str(err.value)
    assert "\n" not in msg and str(p) in msg, msg
    for w in words:
        assert w in msg, (w, msg)
    return msg


# ---------------------------------------------------------------- number syntax
BAD_CELLS = [
    "1_000",  # Python float() takes it
    "\u0661\u0662",  # Arabic-Indic digits, float() takes them
    "\u0968",  # Devanagari 2
    "\uff11",  # full-width 1
    "0x10",
    "inf",
    "-inf",
    "Infinity",
    "nan",
    "NaN",
    "1e",
    "e5",
    ".",
    "1.2.3",
    "--1",
    "+-1",
    "1 2",
    "1,5",
    "1e5.5",
    "١.5",
    "",
    "abc",
    "1\x1f2",  # the separator the chunk check joins cells with
    "1e999",
    "-1e999",  # overflow float64
]


@pytest.mark.parametrize("cell", BAD_CELLS)
def test_bad_cells_named_with_file_line_and_column(tmp_path, cell):
    quoted = '"' + cell + '"'
    p = write(tmp_path, f"a,b,y\n1,2,0\n3,{quoted},1\n")
    msg = raises_data_error(p, "line 3", "column 2 ('b')", repr(cell.strip()), "expected a finite number")
    if cell in ("1e999", "-1e999"):
        assert "overflows float64" in msg


def test_bad_cell_messages_say_what_to_do(tmp_path):
    assert "--ignore id" in raises_data_error(write(tmp_path, "id,a,y\ns0,1,0\n"), "line 2", "column 1 ('id')")
    assert "missing values" in raises_data_error(write(tmp_path, "a,b,y\n1,,0\n"), "column 2 ('b')")
    assert "scientific notation" in raises_data_error(write(tmp_path, "a,b,y\n1,1_000,0\n"))
    assert "NaN and infinity" in raises_data_error(write(tmp_path, "a,b,y\n1,inf,0\n"))


@pytest.mark.parametrize(
    "cell,value",
    [
        (" 1.5 ", 1.5),
        ("\t-2\t", -2.0),
        ("+.5", 0.5),
        ("5.", 5.0),
        ("1E+3", 1000.0),
        ("-1e-3", -1e-3),
        ("007", 7.0),
        ("0", 0.0),
        ("-0", -0.0),
        ("1.7976931348623157e308", 1.7976931348623157e308),
        ("4.9e-324", 5e-324),
        ("1e-400", 0.0),  # underflow to zero is a finite number
    ],
)
def test_plain_and_scientific_cells_parse_as_float(tmp_path, cell, value):
    p = write(tmp_path, f"a,y\n{cell},1\n")
    x, _, _ = data.load_csv(p)
    assert x[0, 0] == value and math.copysign(1.0, x[0, 0]) == math.copysign(1.0, value)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=20))
def test_every_finite_float64_round_trips_through_repr(tmp_path_factory, values):
    p = tmp_path_factory.mktemp("rt") / "d.csv"
    p.write_text("a,y\n" + "".join(f"{v!r},0\n" for v in values))
    x, y, _ = data.load_csv(p)
    np.testing.assert_array_equal(x[:, 0], np.array(values))
    assert y.shape == (len(values),)


def test_float32_overflow_is_named_but_float64_reads_it(tmp_path):
    p = write(tmp_path, "a,b,y\n1,2,0\n3,1e300,1\n")
    msg = raises_data_error(p, "line 3", "column 2 ('b')", "'1e300'", "overflows float32", dtype=np.float32)
    assert "3.4028235e+38" in msg
    x, _, _ = data.load_csv(p)
    assert x[1, 1] == 1e300


def test_float32_features_keep_float64_labels(tmp_path):
    p = write(tmp_path, "a,y\n0.1,0.1\n0.2,0.3\n")
    x, y, _ = data.load_csv(p, dtype=np.float32)
    assert x.dtype == np.float32 and y.dtype == np.float64
    np.testing.assert_array_equal(x[:, 0], np.array([0.1, 0.2], dtype=np.float32))
    np.testing.assert_array_equal(y, [0.1, 0.3])  # exact float64, not float32-rounded


@pytest.mark.parametrize("dtype", ["int32", np.float16, "U5", "no such dtype"])
def test_dtype_must_be_float32_or_float64(tmp_path, dtype):
    p = write(tmp_path, "a,y\n1,0\n")
    with pytest.raises(TypeError, match=r"^dtype: expected a floating dtype, one of \['float32', 'float64'\], got"):
        data.load_csv(p, dtype=dtype)


# ---------------------------------------------------------------- header
@pytest.mark.parametrize("text", ["1,2,0\n3,4,1\n", "\n 1.5 , -2e3\n3,4\n", "7\n8\n"])
def test_a_file_without_header_is_refused(tmp_path, text):
    p = write(tmp_path, text)
    raises_data_error(p, "looks like data, not a header", "column names")
    with pytest.raises(DataError, match="looks like data"):
        data.read_csv(p)
    with pytest.raises(DataError, match="looks like data"):
        data.csv_header(p)


def test_a_header_with_some_numeric_names_is_a_header(tmp_path):
    p = write(tmp_path, "x,2,y\n1,2,0\n")
    assert data.csv_header(p) == ["x", "2", "y"]
    assert data.load_csv(p)[2] == ["x", "2"]


# ---------------------------------------------------------------- streaming
@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(_data_csv, "_CHUNK_CELLS", 7)  # 2 rows of 3 cells per chunk: many chunks, many resizes


def test_many_chunks_give_the_same_table_as_one(tmp_path, small_chunks):
    rng = np.random.default_rng(0)
    table = rng.normal(size=(101, 3)) * 10.0 ** rng.integers(-5, 5, size=(101, 3))
    p = write(
        tmp_path,
        "a,b,y\n"
        + "".join(",".join(map(repr, r)) + ("\n\n" if i % 7 == 0 else "\n") for i, r in enumerate(table.tolist())),
    )
    x, y, names = data.load_csv(p)
    np.testing.assert_array_equal(x, table[:, :2])
    np.testing.assert_array_equal(y, table[:, 2])
    x32, y32, _ = data.load_csv(p, dtype=np.float32)
    np.testing.assert_array_equal(x32, table[:, :2].astype(np.float32))
    assert x.flags.owndata and x.flags.c_contiguous and x.shape == (101, 2)


def test_errors_in_a_late_chunk_name_their_line(tmp_path, small_chunks):
    rows = ["1,2,0"] * 40
    rows[33] = "1,2,x"  # line 35 (header is line 1)
    p = write(tmp_path, "a,b,y\n" + "\n".join(rows) + "\n")
    raises_data_error(p, "line 35", "column 3 ('y')", "'x'")
    rows[33] = "1,2"
    raises_data_error(write(tmp_path, "a,b,y\n" + "\n".join(rows) + "\n"), "line 35", "2 cells")
    rows[33] = "1,1e999,0"
    raises_data_error(write(tmp_path, "a,b,y\n" + "\n".join(rows) + "\n"), "line 35", "column 2 ('b')", "overflows")


def test_windows_line_endings_and_quoted_cells(tmp_path):
    p = tmp_path / "w.csv"
    p.write_bytes(b'id,a,y\r\n"s,0",1.5,0\r\n"multi\r\nline",2,1\r\n')
    x, y, names = data.load_csv(p, ignore="id")
    np.testing.assert_array_equal(x, [[1.5], [2.0]])
    np.testing.assert_array_equal(y, [0.0, 1.0])


@pytest.mark.parametrize(
    "row,line,column",
    [
        ("x" * 200_000 + ",1,0", 3, 1),  # over csv's field size limit: issue 18 §4 said "malformed CSV", no line
        ("s,1," + "7" * 131_073, 3, 3),
        ('"q,' + "x" * 131_073 + '",1,0', 3, 1),  # a quoted comma is not a column break
        ("s,1,0\n" * 3 + '"a\n,b,' + "y" * 131_073 + '",2,0', 7, 1),  # one quoted cell over two lines
    ],
    ids=["text", "number", "quoted", "two-lines"],
)
def test_a_cell_over_the_csv_size_limit_names_its_line_and_column(tmp_path, row, line, column):
    p = write(tmp_path, "id,a,y\ns,1,0\n" + row + "\n")
    where = f"line {line}, column {column}:" if line != 7 else f"line {line}:"
    raises_data_error(p, where, "longer than 131,072 characters", ignore="id")


def test_progress_bar_by_bytes(tmp_path, capsys, monkeypatch):
    p = write(tmp_path, "a,y\n" + "1,0\n" * 50)
    data.load_csv(p, progress=True)
    err = capsys.readouterr().err
    assert "reading d.csv" in err and "100%" in err
    data.load_csv(p)  # "auto": a 204-byte file flashes by, no bar
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(_data_csv, "PROGRESS_BYTES", 100)
    data.load_csv(p)
    assert "reading d.csv" in capsys.readouterr().err
    data.load_csv(p, progress=False)
    assert capsys.readouterr().err == ""
    with pytest.raises(ValueError, match="progress"):
        data.load_csv(p, progress="yes")


# ---------------------------------------------------------------- label and ignore
ONE_HOT = "id,px,is_0,is_1,is_2\ns0,0.5,1,0,0\ns1,0.25,0,1,0\ns2,1,0,0,1\ns3,2,0,1,0\n"


@pytest.mark.parametrize("label", ["is_1,is_2", " is_1 , is_2 ", ["is_1", "is_2"], ("is_1", "is_2")])
def test_several_label_columns_give_y_n_by_k(tmp_path, label):
    p = write(tmp_path, ONE_HOT)
    x, y, names = data.load_csv(p, label=label, ignore="id")
    assert names == ["px", "is_0"] and y.shape == (4, 2) and y.dtype == np.float64
    np.testing.assert_array_equal(y, [[0, 0], [1, 0], [0, 1], [1, 0]])
    np.testing.assert_array_equal(x, [[0.5, 1], [0.25, 0], [1, 0], [2, 0]])
    assert data.csv_columns(p, label=label, ignore="id") == (names, ["is_1", "is_2"])


def test_label_order_is_the_callers_and_a_one_name_list_is_2d(tmp_path):
    p = write(tmp_path, ONE_HOT)
    _, y, _ = data.load_csv(p, label=["is_2", "is_0"], ignore=["id"])
    np.testing.assert_array_equal(y, [[0, 1], [0, 0], [1, 0], [0, 0]])
    _, y, _ = data.load_csv(p, label=["is_2"], ignore=["id"])
    assert y.shape == (4, 1)
    _, y, _ = data.load_csv(p, label="is_2", ignore=["id"])
    assert y.shape == (4,)


def test_a_column_name_with_a_comma_can_be_the_label(tmp_path):
    p = write(tmp_path, 'a,"y,z"\n1,0\n')
    x, y, names = data.load_csv(p, label="y,z")
    assert names == ["a"] and y.shape == (1,)


def test_default_label_is_last_column_not_ignored(tmp_path):
    p = write(tmp_path, "a,y,id\n1,0,s0\n2,1,s1\n")
    x, y, names = data.load_csv(p, ignore="id")
    assert names == ["a"]
    np.testing.assert_array_equal(y, [0.0, 1.0])
    assert data.csv_columns(p, ignore="id") == (["a"], ["y"])


def test_text_id_column_refused_unless_ignored(tmp_path):
    p = write(tmp_path, "id,a,y\ns0,1,0\ns1,2,1\n")
    msg = raises_data_error(p, "line 2", "column 1 ('id')", "'s0'", "ignore=['id']", "--ignore id")
    x, _, names = data.load_csv(p, ignore="id")
    assert names == ["a"] and x.tolist() == [[1.0], [2.0]]
    table, cols = data.read_csv(p, ignore=["id"])
    assert cols == ["a", "y"] and table.tolist() == [[1.0, 0.0], [2.0, 1.0]]
    assert msg.count("\n") == 0


def test_load_features_skips_text_and_label_columns_it_was_not_asked_for(tmp_path):
    p = write(tmp_path, "id,b,a,y\ns0,2,1,yes\ns1,4,3,no\n")
    np.testing.assert_array_equal(data.load_features(p, ["a", "b"]), [[1.0, 2.0], [3.0, 4.0]])
    assert data.load_features(p, "b", dtype=np.float32).dtype == np.float32
    with pytest.raises(DataError, match="line 2, column 1 \\('id'\\)"):
        data.load_features(p, ["id"])


@pytest.mark.parametrize(
    "kwargs,err,words",
    [
        ({"label": "is_1,"}, ValueError, ["label", "non-empty"]),
        ({"label": "is_1,is_1"}, ValueError, ["label", "'is_1' named twice"]),
        ({"label": ["is_1", 2]}, TypeError, ["label"]),
        ({"label": 3}, TypeError, ["label"]),
        ({"label": []}, ValueError, ["label"]),
        ({"ignore": 5}, TypeError, ["ignore"]),
        ({"ignore": "id,"}, ValueError, ["ignore"]),
        ({"label": "is_1", "ignore": "id,is_1"}, ValueError, ["label, ignore", "'is_1'"]),
    ],
)
def test_bad_label_and_ignore_arguments(tmp_path, kwargs, err, words):
    p = write(tmp_path, ONE_HOT)
    with pytest.raises(err) as e:
        data.load_csv(p, **kwargs)
    for w in words:
        assert w in str(e.value), (w, str(e.value))


@pytest.mark.parametrize(
    "kwargs,words",
    [
        ({"ignore": "id,idx"}, ["no ignore column 'idx'", "'id', 'px'"]),
        ({"label": "is_1,is_9", "ignore": "id"}, ["no label column 'is_9'"]),
        ({"label": "is_0,is_7,is_9", "ignore": "id"}, ["no label columns 'is_7', 'is_9'"]),
        ({"ignore": "id,px,is_0,is_1"}, ["only the label column(s) 'is_2'", "feature columns"]),
        ({"ignore": "id,px,is_0,is_1,is_2"}, ["every column is ignored"]),
    ],
)
def test_missing_columns_are_data_errors(tmp_path, kwargs, words):
    raises_data_error(write(tmp_path, ONE_HOT), *words, **kwargs)


# ---------------------------------------------------------------- infer_head
@pytest.mark.parametrize(
    "y,head",
    [
        ([0, 1, 1, 0], "sigmoid"),
        ([1, 1, 1], "sigmoid"),
        ([[0, 1, 0], [1, 1, 0]], "sigmoid"),  # multi-label
        ([[0, 1], [1, 0]], "sigmoid"),  # one-hot rows: 0/1 values
        ([0, 1, 2, 2], "softmax"),
        (np.arange(10.0).repeat(3), "softmax"),
        ([0, 1, 3], "identity"),  # a gap: not classes 0..C-1
        ([1, 2, 3], "identity"),  # no class 0
        ([0, 1, 2.5], "identity"),
        ([-1, 0, 1], "identity"),
        ([[0, 1], [2, 3]], "identity"),
        ([[0.0], [2.0], [1.0]], "identity"),  # softmax classes come as (N,)
        ([0.2, 0.7], "identity"),
    ],
)
def test_infer_head(y, head):
    assert data.infer_head(np.array(y, dtype=float)) == head


@pytest.mark.parametrize("y", [np.zeros(0), np.zeros((2, 2, 2)), np.array([0.0, np.nan]), np.array([1.0, np.inf]), 3.0])
def test_infer_head_rejects_bad_labels(y):
    with pytest.raises(ValueError, match="y: expected"):
        data.infer_head(y)


# ---------------------------------------------------------------- leaky_columns
def digits_like(n=500, seed=0):
    """Ten classes, 4 noisy pixel features and the one-hot columns is_0..is_9."""
    rng = np.random.default_rng(seed)
    cls = rng.integers(0, 10, size=n)
    pixels = rng.normal(size=(n, 4)) + cls[:, None] * 0.1
    one_hot = (cls[:, None] == np.arange(10)).astype(float)
    return cls, pixels, one_hot


def test_one_hot_label_taken_from_a_group_is_flagged():
    cls, pixels, one_hot = digits_like()
    x = np.concatenate([pixels, one_hot[:, :9]], axis=1)  # is_9 taken as the label, is_0..is_8 left in
    names = ["p0", "p1", "p2", "p3"] + [f"is_{k}" for k in range(9)]
    assert data.leaky_columns(x, one_hot[:, 9], names) == [f"is_{k}" for k in range(9)]
    assert data.leaky_columns(pixels, one_hot[:, 9], names[:4]) == []


def test_several_labels_with_one_one_hot_column_left_in_the_features():
    cls, pixels, one_hot = digits_like()
    x = np.concatenate([pixels, one_hot[:, 9:]], axis=1)
    assert data.leaky_columns(x, one_hot[:, :9], ["p0", "p1", "p2", "p3", "is_9"]) == ["is_9"]
    assert data.leaky_columns(x, one_hot[:, :5], ["p0", "p1", "p2", "p3", "is_9"]) == []


def test_softmax_labels_with_their_one_hot_columns_in_the_features():
    cls, pixels, one_hot = digits_like()
    x = np.concatenate([one_hot[:, [3]], pixels], axis=1)
    assert data.leaky_columns(x, cls.astype(float), ["is_3", "p0", "p1", "p2", "p3"]) == ["is_3"]


def test_copy_and_complement_flagged_up_to_threshold_noise_and_rare_labels_not():
    rng = np.random.default_rng(1)
    y = (rng.random(1000) < 0.3).astype(float)
    copy, complement, noisy = y.copy(), 1.0 - y, y.copy()
    noisy[np.flatnonzero(y == 1)[:4]] = 0.0  # 4 of ~300 positives missed: recall ~0.987 < 0.99
    random_bit = (rng.random(1000) < 0.5).astype(float)
    x = np.stack([copy, complement, noisy, random_bit, np.zeros(1000), y * 2.0], axis=1)
    names = ["copy", "complement", "noisy", "random", "zeros", "scaled"]
    assert data.leaky_columns(x, y, names) == ["copy", "complement"]
    assert data.leaky_columns(x, y, names, threshold=0.98) == ["copy", "complement", "noisy"]
    rare = np.zeros(1000)
    rare[:3] = 1.0  # a constant-zero feature agrees with 99.7% of these labels, yet predicts nothing
    assert data.leaky_columns(np.zeros((1000, 1)) + np.eye(1000)[:, [500]], rare, ["almost_zero"]) == []


def test_regression_labels_are_not_checked_and_two_valued_labels_are():
    y = np.array([-1.0, 1.0, 1.0, -1.0])
    x = np.array([[0.0], [1.0], [1.0], [0.0]])
    assert data.leaky_columns(x, y, ["sign"]) == ["sign"]
    assert data.leaky_columns(x, np.array([0.1, 0.5, 0.7, 0.2]), ["sign"]) == []


@pytest.mark.parametrize(
    "args,err",
    [
        ((np.zeros((3, 2)), np.zeros(3), ["a"]), "names"),
        ((np.zeros((3, 2)), np.zeros(4), ["a", "b"]), "x, y"),
        ((np.zeros(3), np.zeros(3), ["a"]), "x, y"),
        ((np.zeros((3, 1)), np.array([0.0, np.nan, 1.0]), ["a"]), "y: expected finite"),
    ],
)
def test_leaky_columns_rejects_bad_shapes(args, err):
    with pytest.raises(ValueError, match=err):
        data.leaky_columns(*args)


@pytest.mark.parametrize("threshold,err", [(0.5, ValueError), (1.5, ValueError), (True, TypeError), ("0.9", TypeError)])
def test_leaky_columns_rejects_bad_threshold(threshold, err):
    with pytest.raises(err, match=r"^threshold: expected a number in \(0.5, 1\], got"):
        data.leaky_columns(np.zeros((3, 1)), np.zeros(3), ["a"], threshold=threshold)


# ---------------------------------------------------------------- split and standardise
def test_regression_targets_get_a_plain_shuffle():
    x = np.arange(40.0).reshape(20, 2)
    y = np.linspace(0.0, 1.0, 20) ** 2  # continuous: every value its own "class"
    a = data.train_test_split(x, y, test_fraction=0.25, seed=4)
    b = data.train_test_split(x, y, test_fraction=0.25, seed=4, stratify=False)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert len(a[1]) == 5  # stratifying per value would have put every sample in train


@pytest.mark.parametrize("as_one_hot", [False, True])
def test_multiclass_split_is_stratified_by_class_or_one_hot_row(as_one_hot):
    cls = np.repeat([0, 1, 2], [10, 20, 30])
    y = np.eye(3)[cls] if as_one_hot else cls.astype(float)
    x = np.arange(60.0)[:, None]
    x_tr, x_te, y_tr, y_te = data.train_test_split(x, y, test_fraction=0.2, seed=0)
    te_cls = y_te.argmax(axis=1) if as_one_hot else y_te
    assert np.bincount(te_cls.astype(int)).tolist() == [2, 4, 6]
    np.testing.assert_array_equal(y_te, y[x_te[:, 0].astype(int)])  # rows stay paired


def test_split_of_labels_with_nan_is_refused():
    with pytest.raises(ValueError, match="y: expected finite"):
        data.train_test_split(np.zeros((4, 1)), np.array([0.0, 1.0, np.nan, 1.0]))


def test_standardize_several_sets_and_float32():
    tr = np.array([[0.0, 1.0], [2.0, 3.0]])
    a, b, c = data.standardize(tr, np.array([[4.0, 5.0]]), np.array([[1.0, 2.0]]))
    np.testing.assert_array_equal(a, [[-1.0, -1.0], [1.0, 1.0]])
    np.testing.assert_array_equal(b, [[3.0, 3.0]])
    np.testing.assert_array_equal(c, [[0.0, 0.0]])
    mean, std = data.fit_standardize(tr.astype(np.float32))
    assert mean.dtype == std.dtype == np.float64
    out = data.apply_standardize(tr.astype(np.float32), mean, std)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, a.astype(np.float32))


def test_standardize_rejects_non_finite_data_and_bad_statistics():
    with pytest.raises(ValueError, match="x: expected finite"):
        data.fit_standardize(np.array([[1.0], [np.nan]]))
    with pytest.raises(ValueError, match="std > 0"):
        data.apply_standardize(np.zeros((2, 1)), np.zeros(1), np.zeros(1))
    with pytest.raises(ValueError, match="mean, std"):
        data.apply_standardize(np.zeros((2, 1)), np.array([np.nan]), np.ones(1))


def test_several_labels_with_an_all_zero_label_column_warn_nothing_spurious():
    cls, pixels, one_hot = digits_like()
    y = np.concatenate([one_hot[:, :3], np.zeros((len(cls), 1))], axis=1)  # a label column never on
    x = np.concatenate([pixels, (cls[:, None] >= 3).astype(float)], axis=1)  # "none of is_0..is_2"
    with np.errstate(all="raise"):
        assert data.leaky_columns(x, y, ["p0", "p1", "p2", "p3", "other"]) == ["other"]


@pytest.mark.parametrize("chunk_cells", [7, 1 << 16])
def test_line_numbers_count_quoted_line_breaks_and_blank_lines(tmp_path, monkeypatch, chunk_cells):
    monkeypatch.setattr(_data_csv, "_CHUNK_CELLS", chunk_cells)
    p = tmp_path / "q.csv"
    head = b'id,a,y\n"x\ny",1,0\n"p\r\nq",2,1\n\n  \n"r\rs",3,0\n'  # rows end on lines 3, 5, 9 (csv's line_num)
    p.write_bytes(head)
    x, y, _ = data.load_csv(p, ignore="id")
    np.testing.assert_array_equal(x[:, 0], [1.0, 2.0, 3.0])
    p.write_bytes(head + b"z,bad,1\n")
    raises_data_error(p, "line 10,", "column 2 ('a')", "'bad'", ignore="id")
    p.write_bytes(head + b"z,1\n")
    raises_data_error(p, "line 10:", "2 cells", ignore="id")
    p.write_bytes(b'id,a,y\n"x\ny",1,0\n' + b"z,1,1\n" * 5 + b"z,1e999,1\n")
    raises_data_error(p, "line 9,", "overflows float64", ignore="id")


# ---------------------------------------------------------------- issue 18: one pass, pipes, devices, locations
def _pipe_path(payload: bytes):
    """A path to the read end of a pipe whose writer (a thread) writes ``payload`` and closes:
    what ``<(cat f.csv)`` gives a program. Returns (path, thread, read fd)."""
    r, w = os.pipe()

    def writer():
        with os.fdopen(w, "wb") as f:
            f.write(payload)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    return f"/dev/fd/{r}", t, r


def _in_thread(fn, timeout=20.0):
    """Run ``fn`` in a thread; the exception it raised (or None), or fail if it is still running."""
    out = {}

    def run():
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            out["e"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "still running: it hangs"
    return out.get("e")


PIPE_TEXT = b"id,a,b,y\n" + b"".join(b"s%d,%d,%d.5,%d\n" % (i, i, -i, i % 2) for i in range(200))


@pytest.mark.parametrize("reader", ["load_csv", "read_csv", "load_features", "read_table"])
def test_a_pipe_with_a_writer_is_read_once(tmp_path, monkeypatch, reader):
    monkeypatch.setattr(_data_csv, "_CHUNK_CELLS", 7)  # many chunks: the arrays of a pipe grow
    p = tmp_path / "d.csv"
    p.write_bytes(PIPE_TEXT)
    calls = {
        "load_csv": lambda path: data.load_csv(path, ignore="id"),
        "read_csv": lambda path: data.read_csv(path, ignore="id"),
        "load_features": lambda path: data.load_features(path, ["b", "a"]),
        "read_table": lambda path: tuple(data.read_table(path, ignore="id")),
    }
    path, writer, r = _pipe_path(PIPE_TEXT)
    try:
        got = calls[reader](path)
    finally:
        writer.join(10)
        os.close(r)
    want = calls[reader](p)
    for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


def test_a_fifo_with_no_writer_is_refused_at_once(tmp_path):
    fifo = tmp_path / "f.csv"
    os.mkfifo(fifo)
    for call in (data.load_csv, data.csv_header, data.read_csv, lambda p: data.load_features(p, ["a"])):
        e = _in_thread(lambda call=call: call(fifo))
        assert isinstance(e, DataError) and "no writer" in str(e) and str(fifo) in str(e), e


def test_a_fifo_whose_writer_waits_in_open_is_read(tmp_path):
    # mkfifo f; cat d.csv > f & jaxnet train --data f: the writer blocks in open() until a reader comes
    fifo = tmp_path / "f.csv"
    os.mkfifo(fifo)

    def writer():
        while True:
            fd = os.open(fifo, os.O_WRONLY)  # blocks until a reader opens the FIFO
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(PIPE_TEXT)
                return
            except BrokenPipeError:  # woken by an attempt below that had already found no writer
                continue

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    for _ in range(400):  # until the writer is waiting in open(): each refusal must be the no-writer one
        try:
            x, y, names = data.load_csv(fifo, ignore="id")
            break
        except DataError as e:
            assert "no writer" in str(e)
            time.sleep(0.025)
    else:
        pytest.fail("the writer never got to open the FIFO")
    t.join(10)
    assert names == ["a", "b"] and x.shape == (200, 2) and y.sum() == 100


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_devices_are_refused_unread(device):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    for call in (data.load_csv, data.csv_header, data.read_csv, lambda p: data.load_features(p, ["a"])):
        e = _in_thread(lambda call=call: call(device))
        assert isinstance(e, DataError) and "character device" in str(e), e


def test_an_endless_line_is_refused_not_held(tmp_path, monkeypatch):
    monkeypatch.setattr(_source, "MAX_LINE_BYTES", 5000)
    monkeypatch.setattr(_source, "BLOCK_BYTES", 1024)
    path, writer, r = _pipe_path(b"a,y\n1,0\n" + b"\0" * 20_000)  # /dev/zero through a pipe
    try:
        with pytest.raises(DataError, match="line 3: longer than"):
            data.load_csv(path)
    finally:
        os.close(r)  # the writer may still be blocked writing: closing our end ends it
        writer.join(10)


def test_bad_utf8_names_its_byte_offset_and_line(tmp_path):
    text = bytearray(b"a,y\n" + b"1,0\n" * 40_000)
    text[120_003] = 0xFF  # issue 18 §4: was "at byte 5315", no line
    p = tmp_path / "u.csv"
    p.write_bytes(bytes(text))
    raises_data_error(p, "line 30001:", "byte ff at byte offset 120003 of the file")
    p.write_bytes(b"\xef\xbb\xbfa,y\n1,0\n\xc3(,1\n")  # after a BOM: offsets still count its 3 bytes
    raises_data_error(p, "line 3:", "byte c3 at byte offset 11 of the file")  # 3 + 4 + 4


@pytest.mark.parametrize("block", [1, 2, 3, 5, 1 << 18])
def test_lines_cut_at_any_block_size_read_the_same(tmp_path, monkeypatch, block):
    monkeypatch.setattr(_source, "BLOCK_BYTES", block)
    text = (
        "\ufeffid,a,y\r\n"  # BOM, CRLF that a small block cuts between \r and \n
        '"x\r\ny\u00e9",1,0\r'  # quoted line break, é (2 bytes), CR only
        "\u20ac\x0c\u2028,2,1\n"  # €, form feed and line separator: inside the cell, not breaks
        "\n"
        "z,3,0"  # no final line break
    )
    p = tmp_path / "b.csv"
    p.write_bytes(text.encode("utf-8"))
    x, y, names = data.load_csv(p, ignore="id")
    np.testing.assert_array_equal(x[:, 0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(y, [0.0, 1.0, 0.0])
    p.write_bytes(text.encode("utf-8") + b"\nq,bad,1\n")
    raises_data_error(p, "line 7,", "'bad'", ignore="id")


def test_read_table_gives_header_and_columns_from_one_read(tmp_path):
    p = write(tmp_path, "id,a,b,y,z\ns0,1,2,0,5\ns1,3,4,1,6\n")
    t = data.read_table(p, ignore="id")
    assert t.header == ["id", "a", "b", "y", "z"] and t.features == ["a", "b", "y"] and t.labels == ["z"]
    np.testing.assert_array_equal(t.y, [5.0, 6.0])
    t = data.read_table(p, features=["b", "a"], label=["y", "z"])
    np.testing.assert_array_equal(t.x, [[2.0, 1.0], [4.0, 3.0]])
    np.testing.assert_array_equal(t.y, [[0.0, 5.0], [1.0, 6.0]])
    t = data.read_table(p, features=["b"], label="y,q", optional_label=True)
    assert t.y is None and t.labels == [] and t.x.shape == (2, 1)
    t = data.read_table(p, label=[], ignore="id")
    assert t.features == ["a", "b", "y", "z"] and t.y is None
    with pytest.raises(DataError, match="no label column 'q'"):
        data.read_table(p, features=["b"], label="q")
    with pytest.raises(ValueError, match="^features, ignore"):
        data.read_table(p, features=["a"], ignore="id")
    with pytest.raises(ValueError, match="^label, features: .*'a'"):
        data.read_table(p, features=["a"], label="a")
    with pytest.raises(TypeError, match="^optional_label"):
        data.read_table(p, optional_label="yes")
    with pytest.raises(TypeError, match="^on_columns"):
        data.read_table(p, on_columns=3)


def test_on_columns_runs_after_the_header_before_any_row(tmp_path):
    p = write(tmp_path, "id,a,y\ns0,1,0\ns1,bad,1\n")  # a row that would fail if it were parsed
    seen = []

    def check(features, labels):
        seen.append((features, labels))
        raise ValueError("hidden: too big for 2 features")

    with pytest.raises(ValueError, match="too big"):
        data.read_table(p, ignore="id", on_columns=check)
    assert seen == [(["a"], ["y"])]


@pytest.mark.parametrize("text", ["a,y\n" + "1,0\n" * 300 + "1,0", "id,a,y\n" + ",1,0\n" * 300])
def test_a_files_arrays_are_allocated_once_never_grown(tmp_path, monkeypatch, text):
    # the memory claim: a file's arrays come from its size (untouched pages cost nothing), so the
    # zero-filled growth that touched 1.25x the rows (issue 18 §2.10: 4.86x a 0/1 file) never happens
    monkeypatch.setattr(_data_csv, "_CHUNK_CELLS", 64)
    store = _data_csv._store

    def no_growth(outs, n, parts):
        assert n + len(parts[0]) <= outs[0].shape[0], "grew"
        return store(outs, n, parts)

    monkeypatch.setattr(_data_csv, "_store", no_growth)
    p = write(tmp_path, text)
    x, y, _ = data.load_csv(p, ignore="id" if text.startswith("id") else None)
    assert x.shape == (301, 1) or x.shape == (300, 1)
    assert x.base is None and x.flags.owndata  # trimmed in place, not a view of the big block


def test_without_overcommit_the_arrays_grow_instead(tmp_path, monkeypatch):
    empty = np.empty

    def strict(shape, dtype=float):
        if shape[0] > 1024:
            raise MemoryError("no overcommit")
        return empty(shape, dtype=dtype)

    p = write(tmp_path, "a,y\n" + "1,0\n" * 3000)
    monkeypatch.setattr(np, "empty", strict)
    x, y, _ = data.load_csv(p)
    assert x.shape == (3000, 1) and y.sum() == 0.0

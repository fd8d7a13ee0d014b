"""jaxnet.data: CSV loading (and every bad-file case), the shipped data, split, standardise."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxnet import _data_tables, data
from jaxnet.data import DataError


def write(tmp_path, text, name="d.csv", encoding="utf-8"):
    p = tmp_path / name
    p.write_text(text, encoding=encoding)
    return p


def test_the_namespace_lists_every_data_helper_each_documented_with_an_example():
    flat = {"DataError", "load_csv", "load_breast_cancer", "infer_head", "leaky_columns", "train_test_split"}
    flat |= {"fit_standardize", "apply_standardize", "standardize"}  # the flat jaxnet names of data helpers
    assert flat <= set(data.__all__)
    for name in data.__all__:
        obj = getattr(data, name)
        assert obj.__doc__, name
        if callable(obj) and not isinstance(obj, type):
            assert "jaxnet.data." + name + "(" in obj.__doc__, f"{name}'s example does not call jaxnet.data.{name}"
    assert "jaxnet.data." in data.__doc__ and ">>>" in data.__doc__
    assert _data_tables._names("a, b", "label") == ["a", "b"]  # the CLI's column-name parser


def test_load_csv_default_label_is_last_column(tmp_path):
    p = write(tmp_path, "a,b,y\n1,2.5,0\n-3,4e2,1\n")
    x, y, names = data.load_csv(p)
    assert names == ["a", "b"]
    np.testing.assert_array_equal(x, [[1.0, 2.5], [-3.0, 400.0]])
    np.testing.assert_array_equal(y, [0.0, 1.0])
    assert x.dtype == y.dtype == np.float64


def test_load_csv_labels_are_any_finite_numbers(tmp_path):
    # Contract change (issue 12): labels are no longer restricted to 0/1; infer_head picks the head.
    p = write(tmp_path, "a,b,y\n1,2,0\n3,4,2\n5,6,-0.5\n")
    x, y, names = data.load_csv(p)
    np.testing.assert_array_equal(y, [0.0, 2.0, -0.5])
    assert data.infer_head(y) == "identity"


def test_load_csv_named_label_in_the_middle_blank_lines_bom_spaces(tmp_path):
    p = write(tmp_path, "\ufeff a , lab ,c\n1, 1 ,2\n\n3,0,4\n\n", encoding="utf-8")
    x, y, names = data.load_csv(p, label="lab")
    assert names == ["a", "c"]
    np.testing.assert_array_equal(x, [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(y, [1.0, 0.0])


BAD_FILES = [
    # (file text or None for "no file", label, words the message must contain)
    (None, None, ["no such file"]),
    ("", None, ["empty"]),
    ("\n\n", None, ["empty"]),
    ("a,b,y\n", None, ["no data rows"]),
    ("a,b,y\n1,2,0\n1,2\n", None, ["line 3", "2 cells", "expected 3"]),
    ("a,b,y\n1,2,0\n1,2,0,5\n", None, ["line 3", "4 cells"]),
    ("a,b,y\n1,2,0\n1,abc,1\n", None, ["line 3", "'b'", "'abc'", "expected a finite number"]),
    ("a,b,y\n1,,0\n", None, ["line 2", "'b'", "expected a finite number"]),
    ("a,b,y\n1,nan,0\n", None, ["line 2", "'b'", "'nan'"]),
    ("a,b,y\n1,inf,0\n", None, ["'inf'"]),
    ("a,b,y\n1,2,0\n", "target", ["no label column 'target'", "'a', 'b', 'y'"]),
    ("y\n1\n", None, ["feature columns"]),
    ("a,a,y\n1,2,0\n", None, ["'a' appears twice"]),
    ("a,,y\n1,2,0\n", None, ["column 2", "empty name"]),
]


@pytest.mark.parametrize("text,label,words", BAD_FILES)
def test_load_csv_bad_files_raise_one_line_data_error(tmp_path, text, label, words):
    p = tmp_path / "bad.csv"
    if text is not None:
        p.write_text(text)
    with pytest.raises(DataError) as err:
        data.load_csv(p, label=label)
    msg = str(err.value)
    assert isinstance(err.value, ValueError)
    assert "\n" not in msg and str(p) in msg
    for w in words:
        assert w in msg, (w, msg)


def test_load_csv_folder_and_binary_file(tmp_path):
    with pytest.raises(DataError, match="folder"):
        data.load_csv(tmp_path)
    p = tmp_path / "bin.csv"
    p.write_bytes(b"a,b\n\xff\xfe\x00,1\n")
    with pytest.raises(DataError, match="UTF-8"):
        data.load_csv(p)


def test_load_csv_label_type_checked(tmp_path):
    p = write(tmp_path, "a,y\n1,0\n")
    with pytest.raises(TypeError, match="label"):
        data.load_csv(p, label=1)


def test_read_csv_and_load_features(tmp_path):
    p = write(tmp_path, "b,a,y\n2,1,0\n4,3,1\n")
    table, names = data.read_csv(p)
    assert names == ["b", "a", "y"] and table.shape == (2, 3)
    np.testing.assert_array_equal(data.load_features(p, ["a", "b"]), [[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(DataError, match="missing feature column.*'c'"):
        data.load_features(p, ["a", "c"])


def test_load_breast_cancer_shipped_copy():
    x, y, names = data.load_breast_cancer()
    assert x.shape == (569, 30) and y.shape == (569,) and len(names) == 30
    assert names[0] == "mean radius" and names[-1] == "worst fractal dimension"
    assert int(y.sum()) == 357  # 1 = benign, as in scikit-learn
    assert set(np.unique(y)) == {0.0, 1.0}


def test_load_breast_cancer_matches_scikit_learn():
    datasets = pytest.importorskip("sklearn.datasets")
    ref = datasets.load_breast_cancer()
    x, y, names = data.load_breast_cancer()
    np.testing.assert_array_equal(x, ref.data)
    np.testing.assert_array_equal(y, ref.target)
    assert names == list(ref.feature_names)


def _split_data(n0=30, n1=70):
    y = np.array([0.0] * n0 + [1.0] * n1)
    x = np.stack([np.arange(n0 + n1, dtype=float), np.zeros(n0 + n1)], axis=1)  # column 0: row id
    return x, y


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.33, 0.5])
def test_stratified_split_keeps_class_ratio_and_partitions(fraction):
    x, y = _split_data()
    x_tr, x_te, y_tr, y_te = data.train_test_split(x, y, test_fraction=fraction, seed=3)
    assert (y_te == 0).sum() == round(30 * fraction) and (y_te == 1).sum() == round(70 * fraction)
    ids_tr, ids_te = x_tr[:, 0].astype(int), x_te[:, 0].astype(int)
    assert sorted(np.concatenate([ids_tr, ids_te]).tolist()) == list(range(100))  # a partition
    np.testing.assert_array_equal(y_tr, y[ids_tr])  # rows stay paired with their labels
    np.testing.assert_array_equal(y_te, y[ids_te])


def test_split_is_deterministic_in_seed():
    x, y = _split_data()
    a = data.train_test_split(x, y, seed=1)
    b = data.train_test_split(x, y, seed=1)
    c = data.train_test_split(x, y, seed=2)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[1], c[1])


def test_split_small_class_keeps_one_on_each_side_and_unstratified():
    x, y = _split_data(n0=2, n1=8)
    _, _, y_tr, y_te = data.train_test_split(x, y, test_fraction=0.1, seed=0)
    assert (y_te == 0).sum() == 1 and (y_tr == 0).sum() == 1
    _, x_te, _, _ = data.train_test_split(x, y, test_fraction=0.3, seed=0, stratify=False)
    assert len(x_te) == 3


@pytest.mark.parametrize(
    "kwargs,err",
    [
        ({"test_fraction": 0.0}, ValueError),
        ({"test_fraction": 1.0}, ValueError),
        ({"test_fraction": True}, TypeError),
        ({"seed": 1.5}, TypeError),
    ],
)
def test_split_rejects_bad_arguments(kwargs, err):
    x, y = _split_data()
    with pytest.raises(err, match=next(iter(kwargs))):
        data.train_test_split(x, y, **kwargs)


def test_split_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="x, y"):
        data.train_test_split(np.zeros((5, 2)), np.zeros(4))


def test_standardize_uses_train_statistics_and_is_safe_for_constant_columns():
    x_tr = np.array([[0.0, 5.0, 1.0], [2.0, 5.0, 3.0], [4.0, 5.0, 5.0]])
    x_te = np.array([[2.0, 7.0, 1.0]])
    s_tr, s_te = data.standardize(x_tr, x_te)
    np.testing.assert_allclose(s_tr.mean(axis=0), 0.0, atol=1e-15)
    np.testing.assert_allclose(s_tr[:, [0, 2]].std(axis=0), 1.0)
    np.testing.assert_array_equal(s_tr[:, 1], 0.0)  # constant column: no NaN, no inf
    std = np.sqrt(8.0 / 3.0)
    np.testing.assert_allclose(s_te, [[0.0, 2.0, -2.0 / std]])
    mean, sd = data.fit_standardize(x_tr)
    np.testing.assert_allclose(data.apply_standardize(x_te, mean, sd), s_te)


def test_standardize_rejects_bad_shapes():
    with pytest.raises(ValueError, match="x"):
        data.fit_standardize(np.zeros(3))
    with pytest.raises(ValueError, match="mean"):
        data.apply_standardize(np.zeros((2, 3)), np.zeros(2), np.ones(2))


# ---------------------------------------------------------------- issue 18: standardisation, split and label checks
def test_nanosecond_timestamps_are_not_a_constant_column():
    ts = 1.7e18 + np.arange(20.0)[:, None] * 1e5  # issue 18 §2.9: came out spanning ±9.5e5
    mean, std = data.fit_standardize(ts)
    d = (ts - ts[0]).ravel()  # exact (Sterbenz): the stored values are 1.7e18 + k * 1e5 rounded to 256
    np.testing.assert_allclose(std, [d.std()], rtol=1e-12)
    np.testing.assert_allclose(mean - ts[0], [d.mean()], rtol=0, atol=128)  # half a float64 ulp at 1.7e18
    z = data.apply_standardize(ts, mean, std)
    np.testing.assert_allclose(z.ravel(), (d - d.mean()) / d.std(), atol=128 / d.std())  # the mean, rounded
    assert np.abs(z).max() < 2.0  # was ±9.5e5


@pytest.mark.parametrize("value", [1.7e18, -3e300, 1.0, 1e-300])
def test_constant_columns_of_any_magnitude_standardise_to_zero(value):
    x = np.full((7, 1), value)
    mean, std = data.fit_standardize(x)
    assert mean.tolist() == [value] and std.tolist() == [1.0]
    np.testing.assert_array_equal(data.standardize(x)[0], 0.0)


def test_a_column_differing_only_by_rounding_is_constant():
    x = np.array([[0.3], [0.1 + 0.2], [0.3]])  # 0.1 + 0.2 is one ulp above 0.3
    assert data.fit_standardize(x)[1].tolist() == [1.0]
    x32 = np.array([[1.0], [np.nextafter(np.float32(1.0), np.float32(2.0))]], dtype=np.float32)
    assert data.fit_standardize(x32)[1].tolist() == [1.0]  # float32 rounding: the float32 resolution


@pytest.mark.parametrize("big", [1e200, 1.7e308])
def test_huge_finite_columns_give_finite_statistics_and_no_warning(big):
    x = np.array([[-big, 1.0], [big, 3.0]])
    with np.errstate(all="raise"):  # issue 18 §4: "overflow encountered in square" leaked out
        mean, std = data.fit_standardize(x)
        z = data.apply_standardize(x, mean, std)
    np.testing.assert_allclose(mean, [0.0, 2.0])
    np.testing.assert_allclose(std, [big, 1.0], rtol=1e-15)
    np.testing.assert_allclose(z, [[-1.0, -1.0], [1.0, 1.0]])


def test_integer_columns_including_the_int64_extremes():
    x = np.array([[1, 2**62], [3, -(2**63)]])
    mean, std = data.fit_standardize(x)
    np.testing.assert_allclose(mean, [2.0, (2.0**62 - 2.0**63) / 2])
    np.testing.assert_allclose(std, [1.0, (2.0**62 + 2.0**63) / 2])


def test_standardisation_errors_name_the_column():
    with pytest.raises(ValueError, match=r"^x: .*nan in column 1 \('b'\), row 0"):
        data.fit_standardize(np.array([[1.0, np.nan]]), names=["a", "b"])
    with pytest.raises(ValueError, match=r"^mean, std: .*std 0.0 in column 1 \('b'\)"):
        data.apply_standardize(np.zeros((2, 2)), np.zeros(2), np.array([1.0, 0.0]), names=["a", "b"])
    with pytest.raises(ValueError, match=r"^mean, std: .*in column 0$"):
        data.apply_standardize(np.zeros((2, 1)), np.array([np.inf]), np.ones(1))
    with (
        np.errstate(all="raise"),
        pytest.raises(ValueError, match=r"^x: .*column 0 \('z'\), row 1, which overflows float64"),
    ):
        data.apply_standardize(np.array([[0.0], [1e308]]), np.array([-1e308]), np.array([2.0]), names=["z"])
    with pytest.raises(ValueError, match=r"^x: .*column 0, row 0, which overflows float32"):
        data.apply_standardize(np.array([[3e38]], dtype=np.float32), np.array([-3e38]), np.ones(1))
    with pytest.raises(ValueError, match="^names: expected 2 column names"):
        data.standardize(np.zeros((2, 2)), names=["a"])


@pytest.mark.parametrize(
    "call",
    [
        lambda: data.fit_standardize([["1", "2"]]),
        lambda: data.apply_standardize([["1"]], np.zeros(1), np.ones(1)),
        lambda: data.standardize(np.array([["a"]])),
        lambda: data.infer_head(["a", "b"]),
        lambda: data.train_test_split(["a", "b"], [0.0, 1.0]),
        lambda: data.train_test_split(np.zeros((2, 1)), np.array(["0", "1"])),
    ],
)
def test_string_arrays_are_refused_naming_the_argument(call):
    with pytest.raises(TypeError, match=r"^(x|y): expected a numeric array, got dtype <U1"):
        call()


def test_ragged_labels_are_refused_naming_y():
    with pytest.raises(ValueError, match="^y: expected a rectangular numeric array"):
        data.infer_head([[1.0, 2.0], [3.0]])


def test_split_seed_minus_one_is_named_and_numpy_fractions_accepted():
    x, y = _split_data()
    with pytest.raises(ValueError, match=r"^seed: expected an integer >= 0 at most \d+, got -1"):
        data.train_test_split(x, y, seed=-1)
    a = data.train_test_split(x, y, test_fraction=np.float32(0.2), seed=4)
    b = data.train_test_split(x, y, test_fraction=0.2, seed=4)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    with pytest.raises(TypeError, match=r"^test_fraction: expected a number in \(0, 1\), got .*True"):
        data.train_test_split(x, y, test_fraction=np.bool_(True))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(-(10**9), 10**9).map(lambda k: k / 1000), min_size=2, max_size=30),  # no underflow
    st.sampled_from([1.0, 2.0**-40, 3e140, -7e-140]),  # numpy squares x: |x| < 1e154 for it to be safe
)
def test_fit_standardize_agrees_with_numpy_where_numpy_is_safe(values, scale):
    x = np.array(values)[:, None] * scale
    mean, std = data.fit_standardize(x)
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-12, atol=1e-13 * np.abs(x).max())
    want = x.std(axis=0)
    if want[0] > 16 * np.finfo(np.float64).eps * np.abs(x).max():  # not a constant column
        np.testing.assert_allclose(std, want, rtol=1e-12)
    else:
        assert std.tolist() == [1.0]

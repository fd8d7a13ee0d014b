"""jaxnet.data: CSV loading (and every bad-file case), the shipped data, split, standardise."""

import numpy as np
import pytest

from jaxnet import data
from jaxnet.data import DataError


def write(tmp_path, text, name="d.csv", encoding="utf-8"):
    p = tmp_path / name
    p.write_text(text, encoding=encoding)
    return p


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
    ("a,b,y\n1,2,0\n1,abc,1\n", None, ["line 3", "'b'", "'abc'", "not a finite number"]),
    ("a,b,y\n1,,0\n", None, ["line 2", "'b'", "not a finite number"]),
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
        ({"test_fraction": True}, ValueError),
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

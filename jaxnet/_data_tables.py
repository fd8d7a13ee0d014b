"""Choosing a CSV's columns and loading them, for :mod:`jaxnet.data`: :func:`read_table` and the loaders.

Column arguments (``label``, ``ignore``, ``features``) are a name, a
comma-separated string or a list of names (:func:`_names`, which the CLI's
flags use too); :func:`_choose` turns them and a file's header into the
feature and label columns to read, before any row is parsed. The reading
itself is :mod:`jaxnet._data_csv`'s, in one pass (a pipe works).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any, NamedTuple

import numpy as np

from jaxnet._checks import float_dtype, refuse
from jaxnet._data_csv import ColumnNames, Groups, Progress, _path, _read, csv_header
from jaxnet._source import DataError


def _names(value: ColumnNames, what: str) -> list[str] | None:
    """``None``, ``"a"``, ``"a,b"`` or ``["a", "b"]`` as a list of names (or None)."""
    if value is None:
        return None
    if isinstance(value, str):
        names = [s.strip() for s in value.split(",")]
    elif isinstance(value, (list, tuple)) and all(isinstance(s, str) for s in value):
        names = [s.strip() for s in value]
    else:
        raise TypeError(f"{what}: expected a column name, a comma-separated string or a list of names, got {value!r}")
    if not names or not all(names):
        raise ValueError(f"{what}: expected non-empty column names, got {value!r}")
    twice = sorted(s for s, k in Counter(names).items() if k > 1)
    if twice:
        raise ValueError(f"{what}: column(s) {_short_list(twice)} named twice in {value!r}")
    return names


def _missing(p: str, header: list[str], names: Sequence[str], what: str) -> None:
    present = set(header)
    missing = [s for s in names if s not in present]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        raise DataError(f"{p}: no {what} {noun} {_short_list(missing)} (columns: {_short_list(header)})")


def _split_columns(
    p: str, header: list[str], label: ColumnNames, ignore: ColumnNames
) -> tuple[list[str], list[str], bool]:
    """``(feature names, label names, one_label)`` for a header; ``one_label``: y is (N,)."""
    ignored = _names(ignore, "ignore") or []
    _missing(p, header, ignored, "ignore")
    named = [label.strip()] if isinstance(label, str) and label.strip() in header else _names(label, "label")
    one = label is None or isinstance(label, str) and len(named or ()) == 1  # y (N,), else (N, k)
    if named is None:  # the default: the last column not ignored
        named = [h for h in header if h not in ignored][-1:]
        if not named:
            raise DataError(f"{p}: every column is ignored, no label left")
    labels: list[str] = named
    both = [s for s in labels if s in ignored]
    if both:
        raise ValueError(f"label, ignore: column(s) {_short_list(both)} are both a label and ignored")
    _missing(p, header, labels, "label")
    dropped = set(labels) | set(ignored)
    features = [h for h in header if h not in dropped]
    if not features:
        raise DataError(f"{p}: only the label column(s) {_short_list(labels)}, expected feature columns too")
    return features, labels, one


def _choose(
    p: str, header: list[str], label: Any, ignore: ColumnNames, features: ColumnNames, optional: bool
) -> tuple[list[str], list[str], bool]:
    """``(feature names, label names, one_label)`` that :func:`read_table` reads from ``header``."""
    none = isinstance(label, (list, tuple)) and len(label) == 0  # label=[]: no label columns
    if not none and optional and label is not None:
        named = [label.strip()] if isinstance(label, str) and label.strip() in header else _names(label, "label")
        none = any(n not in header for n in named or ())
    if features is None:
        if not none:
            return _split_columns(p, header, label, ignore)
        ignored = _names(ignore, "ignore") or []
        _missing(p, header, ignored, "ignore")
        chosen = [h for h in header if h not in ignored]
        if not chosen:
            raise DataError(f"{p}: every column is ignored")
        return chosen, [], False
    if ignore is not None:
        raise ValueError("features, ignore: give the feature columns or the columns to ignore, not both")
    chosen = _names(features, "features") or []
    missing = [n for n in chosen if n not in header]
    if missing:
        raise DataError(f"{p}: missing feature column(s) {_short_list(missing)} (columns: {_short_list(header)})")
    if none or label is None:
        return chosen, [], False
    labels = [label.strip()] if isinstance(label, str) and label.strip() in header else _names(label, "label") or []
    both = [n for n in labels if n in chosen]
    if both:
        raise ValueError(f"label, features: column(s) {_short_list(both)} are both a label and a feature")
    _missing(p, header, labels, "label")
    return chosen, labels, isinstance(label, str) and len(labels) == 1


class Table(NamedTuple):
    """What :func:`read_table` read: ``x`` (N, F), ``y`` (N,) or (N, k) float64 or None, the
    feature and label column names, and the file's ``header`` (every column, in order)."""

    x: np.ndarray
    y: np.ndarray | None
    features: list[str]
    labels: list[str]
    header: list[str]


Table.__module__ = "jaxnet.data"  # its public home, as DataError's


def _check_table_arguments(label: Any, optional_label: Any, on_columns: Any) -> None:
    """The types of :func:`read_table`'s ``label``, ``optional_label`` and ``on_columns`` (TypeErrors)."""
    if label is not None and not isinstance(label, (str, list, tuple)):
        raise refuse("label", "a column name, a comma-separated string or a list of names", repr(label), TypeError)
    if not isinstance(optional_label, bool):
        raise refuse("optional_label", "True or False", repr(optional_label), TypeError)
    if on_columns is not None and not callable(on_columns):
        raise refuse("on_columns", "a function or None", type(on_columns).__name__, TypeError)


def read_table(
    path: str | os.PathLike,
    *,
    label: ColumnNames = None,
    ignore: ColumnNames = None,
    features: ColumnNames = None,
    optional_label: bool = False,
    on_columns: Callable[[list[str], list[str]], Any] | None = None,
    dtype: Any = np.float64,
    progress: Progress = "auto",
) -> Table:
    """Read a CSV in one pass: header, feature and label columns (a pipe such as ``<(cat f.csv)`` works).

    ``features=None``: every column not a label or ignored, ``label`` as in
    :func:`load_csv` (default: the last column not ignored). ``features``
    named: those columns in that order (no ``ignore``; other columns, such
    as a text id, are never parsed), and labels only when ``label`` names
    them. ``label=[]``: no label. ``optional_label``: named label columns
    missing from the file give ``y=None`` instead of an error (data to
    predict on, with or without its labels). ``on_columns(features,
    labels)`` is called after the header and before any row is parsed (to
    check sizes before a long load; raise to stop). y is (N,) for one label
    named by a string (or the default), else (N, k). A FIFO with no writer
    is refused at once and a device (``/dev/zero``) unread.

    Memory: the returned arrays plus a working set of a few MB (a file's
    arrays are allocated once from its size; untouched pages cost nothing).

    >>> import os, tempfile
    >>> import jaxnet.data
    >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(p, "w").write("id,a,b,y\\ns0,1,2,0\\ns1,3,4,1\\n")
    >>> t = jaxnet.data.read_table(p, ignore="id")
    >>> t.x.tolist(), t.y.tolist(), t.features, t.labels, t.header
    ([[1.0, 2.0], [3.0, 4.0]], [0.0, 1.0], ['a', 'b'], ['y'], ['id', 'a', 'b', 'y'])
    >>> t = jaxnet.data.read_table(
    ...     p, features=["b"], label=["y", "z"], optional_label=True
    ... )
    >>> t.x.tolist(), t.y, t.labels
    ([[2.0], [4.0]], None, [])
    """
    _check_table_arguments(label, optional_label, on_columns)
    p = _path(path)
    dt = float_dtype("dtype", dtype, ("float32", "float64"))
    chosen: list[Any] = []

    def select(header: list[str]) -> Groups:
        chosen.extend(_choose(p, header, label, ignore, features, optional_label))
        if on_columns is not None:
            on_columns(list(chosen[0]), list(chosen[1]))
        return [(chosen[0], dt)] + ([(chosen[1], np.dtype(np.float64))] if chosen[1] else [])

    header, outs = _read(p, select, progress)
    x, y = outs[0], (outs[1] if len(outs) > 1 else None)
    if y is not None and chosen[2]:
        y = y[:, 0]
    return Table(x, y, list(chosen[0]), list(chosen[1]), header)


def csv_columns(
    path: str | os.PathLike, *, label: ColumnNames = None, ignore: ColumnNames = None
) -> tuple[list[str], list[str]]:
    """``(feature names, label names)`` that :func:`load_csv` would use, from the header alone.

    Cheap (reads the first lines): lets a caller name the default label
    (the last column that is not ignored) or check columns before a long
    load. On a pipe, use :func:`read_table`, which reads it once.

    >>> import os, tempfile
    >>> import jaxnet.data
    >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(p, "w").write("id,a,b,is_0,is_1\\ns0,1,2,0,1\\n")
    >>> jaxnet.data.csv_columns(p, ignore="id")
    (['a', 'b', 'is_0'], ['is_1'])
    >>> jaxnet.data.csv_columns(p, label="is_0,is_1", ignore=["id"])
    (['a', 'b'], ['is_0', 'is_1'])
    """
    p = _path(path)
    features, labels, _ = _split_columns(p, csv_header(p), label, ignore)
    return features, labels


def load_csv(
    path: str | os.PathLike,
    *,
    label: ColumnNames = None,
    ignore: ColumnNames = None,
    dtype: Any = np.float64,
    progress: Progress = "auto",
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load a labelled CSV: ``(x (N, F) dtype, y float64, feature names)``.

    ``label`` is one column name (y is (N,)), or a comma-separated string
    ``"a,b"`` or a list of names (y is (N, k): several outputs, e.g. a
    multi-label sigmoid head); default: the last column not ignored. Label
    values are any finite numbers (see :func:`jaxnet.data.infer_head`). ``ignore`` (a
    name, ``"id,name"`` or a list) drops columns, which may hold text; every
    other column is a numeric feature. ``progress``: a bar by bytes
    (``"auto"``: for files over 50 MB). Raises :class:`DataError`, naming the
    file, line and column, for a missing, empty, headerless, ragged or
    non-numeric file or a missing column. The file is read once (a pipe
    works; :func:`read_table` also gives the label names and the header).

    Memory: the peak is the returned arrays plus a working set of a few
    MiB, whatever the width of the cells (the text is never held whole; a
    file's arrays are allocated once from its size). Measured with
    ``benchmarks/csv_memory.py`` on 64 MiB files of 1- to 19-character
    cells: 1.7 to 8.3 MiB above the arrays. The arrays take 8 bytes a cell
    (4 in float32): 4x a file of 1-character cells ("0,1,...") in float64,
    so the peak stays under 1.35x the file only for cells of 6 or more
    characters (3 or more in float32).

    >>> import os, tempfile
    >>> import jaxnet.data
    >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(p, "w").write("id,a,b,y\\ns0,1,2,0\\ns1,3,4,2.5\\n")
    >>> x, y, names = jaxnet.data.load_csv(p, ignore="id")
    >>> x.tolist(), y.tolist(), names
    ([[1.0, 2.0], [3.0, 4.0]], [0.0, 2.5], ['a', 'b'])
    >>> x, y, names = jaxnet.data.load_csv(
    ...     p, label="b,y", ignore="id", dtype=np.float32
    ... )
    >>> x.dtype, y.shape, names
    (dtype('float32'), (2, 2), ['a'])
    """
    t = read_table(path, label=label, ignore=ignore, dtype=dtype, progress=progress)
    assert t.y is not None
    return t.x, t.y, t.features


def read_csv(
    path: str | os.PathLike, *, ignore: ColumnNames = None, dtype: Any = np.float64, progress: Progress = "auto"
) -> tuple[np.ndarray, list[str]]:
    """Every column of a numeric CSV with a header (less ``ignore``): ``(table (N, C), names)``.

    >>> import os, tempfile
    >>> import jaxnet.data
    >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(p, "w").write("id,a,b\\nx7,1,2\\n")
    >>> jaxnet.data.read_csv(p, ignore="id")
    (array([[1., 2.]]), ['a', 'b'])
    """
    t = read_table(path, label=[], ignore=ignore, dtype=dtype, progress=progress)
    return t.x, t.features


def load_features(
    path: str | os.PathLike, feature_names: ColumnNames, *, dtype: Any = np.float64, progress: Progress = "auto"
) -> np.ndarray:
    """Load the named columns of a CSV, in the given order, as (N, F).

    Other columns (a label, a text id) are skipped unread.

    >>> import os, tempfile
    >>> import jaxnet.data
    >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(p, "w").write("id,b,a\\ns0,2,1\\n")
    >>> jaxnet.data.load_features(p, ["a", "b"]).tolist()
    [[1.0, 2.0]]
    """
    if feature_names is None:
        raise TypeError("feature_names: expected column names, got None")
    _names(feature_names, "feature_names")  # the argument's name in its errors
    return read_table(path, features=feature_names, dtype=dtype, progress=progress).x


def load_breast_cancer() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The Breast Cancer Wisconsin (Diagnostic) set shipped with jaxnet.

    569 samples, 30 features; ``y = 1`` is benign, ``y = 0`` malignant
    (scikit-learn's coding). See ``jaxnet/datasets/README.txt`` for origin
    and licence (CC BY 4.0).

    >>> import jaxnet.data
    >>> x, y, names = jaxnet.data.load_breast_cancer()
    >>> int(y.sum()), len(names)
    (357, 30)
    """
    ref = resources.files("jaxnet").joinpath("datasets").joinpath("breast_cancer.csv")
    with resources.as_file(ref) as p:
        return load_csv(p, label="target", progress=False)


def _short_list(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")

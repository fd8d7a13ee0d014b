"""Tabular data: CSV loading, the shipped breast-cancer set, the head a label
column asks for, label-leak checks, train/test splits and standardisation.

Everything here is plain numpy; cast to your model's dtype when you train
(or read the features straight into float32 with ``dtype=np.float32``). A CSV
file has one header line of column names, then one row of numbers per sample.
A cell is plain decimal or scientific notation (``12``, ``-0.5``, ``3e-4``,
spaces around it allowed); ``1_000``, ``inf``, ``nan``, hex and non-ASCII
digits are refused with the file, line and column named. A file is read
once, in blocks, so a pipe works (``<(cat f.csv)``; :func:`read_table` gives
the header and the columns from that one pass); a FIFO with no writer or a
device such as ``/dev/zero`` is refused at once. Memory is the arrays
returned plus a few MiB, never the text; a progress bar shows over ~50 MB.

>>> x, y, names = load_breast_cancer()
>>> x.shape, y.shape, names[0], infer_head(y)
((569, 30), (569,), 'mean radius', 'sigmoid')
>>> x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_fraction=0.2, seed=0)
>>> x_tr, x_te = standardize(x_tr, x_te)
>>> x_tr.shape, x_te.shape
((456, 30), (113, 30))
"""

from __future__ import annotations

import csv
import math
import operator
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from itertools import chain, islice
from typing import Any, Literal, NamedTuple

import numpy as np

from jaxnet._source import DataError, Source, open_source
from jaxnet.network import HEADS

__all__ = [
    "DataError",
    "Table",
    "read_table",
    "load_csv",
    "read_csv",
    "load_features",
    "csv_header",
    "csv_columns",
    "load_breast_cancer",
    "infer_head",
    "leaky_columns",
    "train_test_split",
    "fit_standardize",
    "apply_standardize",
    "standardize",
]

Progress = bool | Literal["auto"]
ColumnNames = str | Sequence[str] | None

#: One cell: plain decimal or scientific notation, optional spaces/tabs around it.
#: ASCII digits only (``\d`` would take Arabic-Indic digits); possessive
#: quantifiers keep a failed match linear in the cell's length.
NUMBER = r"[ \t]*+[+-]?+(?:[0-9]++(?:\.[0-9]*+)?+|\.[0-9]++)(?:[eE][+-]?+[0-9]++)?+[ \t]*+"
_CELL = re.compile(NUMBER)
_SEP = "\x1f"  # ASCII unit separator: joins a chunk's cells for one regex pass
_CHUNK = re.compile(f"(?:{NUMBER}{_SEP})*+")
_CHUNK_CELLS = 1 << 14  # cells parsed per chunk: bounds the Python objects alive at once (~1 MB)
PROGRESS_BYTES = 50 * 2**20  # progress="auto" shows a bar for files larger than this


# ---------------------------------------------------------------- reading
def _header(p: str, reader: Iterator[list[str]], line_num: Callable[[], int]) -> list[str]:
    """Read and check the header row (first non-blank row) from ``reader``."""
    header = next(reader, None)
    while header is not None and not any(c.strip() for c in header):
        header = next(reader, None)
    if header is None:
        raise DataError(f"{p}: the file is empty (expected a header line of column names)")
    header = [c.strip() for c in header]
    if all(_CELL.fullmatch(c) for c in header):
        shown = ", ".join(header[:4]) + (", …" if len(header) > 4 else "")
        raise DataError(
            f"{p}: line {line_num()} looks like data, not a header (every cell is a number: {shown}); "
            f"the first line must hold the column names"
        )
    seen: set[str] = set()
    for j, name in enumerate(header):
        if not name:
            raise DataError(f"{p}: line {line_num()}: column {j + 1} has an empty name")
        if name in seen:
            raise DataError(f"{p}: line {line_num()}: column name {name!r} appears twice")
        seen.add(name)
    return header


def _path(path: Any) -> str:
    """``path`` as a string, or a TypeError naming it."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a file path (str or os.PathLike), got {type(path).__name__}")
    return os.fspath(path)


def csv_header(path: str | os.PathLike) -> list[str]:
    """The column names of a CSV file (its first non-blank line), checked.

    Raises :class:`DataError` for a missing or empty file, an empty or repeated
    name, or a first line of numbers (a file without a header). Reads only
    the first lines: on a pipe, use :func:`read_table` for header and data.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(p, "w").write(" id , a,y\\n s0,1,0\\n")
    >>> csv_header(p)
    ['id', 'a', 'y']
    """
    header, _ = _read(_path(path), lambda header: [], False)
    return header


def _check_progress(progress: Any) -> None:
    if not (isinstance(progress, bool) or progress == "auto"):
        raise ValueError(f"progress: expected True, False or 'auto', got {progress!r}")


def _progress_bar(progress: Progress, src: Source) -> Any:
    """A bar by bytes (``"auto"``: for a file over :data:`PROGRESS_BYTES`; a pipe's size is unknown)."""
    if progress is False or (progress == "auto" and (src.size is None or src.size <= PROGRESS_BYTES)):
        return None
    from tqdm.auto import tqdm

    desc = f"reading {os.path.basename(src.path)}"
    return tqdm(total=src.size, unit="B", unit_scale=True, unit_divisor=1024, desc=desc)


def _long_cell_column(text: str, limit: int) -> int | None:
    """The 1-based column of the first cell of CSV line ``text`` longer than ``limit``, if any.

    None when the line has an odd number of quotes: a quoted cell runs over
    a line break, so the line need not start a row.
    """
    if text.count('"') % 2:
        return None
    if '"' not in text:
        cells = text.rstrip("\r\n").split(",")
        return next((j + 1 for j, c in enumerate(cells) if len(c) > limit), None)
    column, start, quoted = 1, 0, False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            if i - start > limit:
                return column
            column, start = column + 1, i + 1
    return column if len(text.rstrip("\r\n")) - start > limit else None


def _csv_error(p: str, e: csv.Error, line: int, text: str | None) -> DataError:
    """A csv.Error as a DataError naming the line (and, for a cell over csv's size limit, its column)."""
    if "field larger than field limit" in str(e):
        limit = csv.field_size_limit()
        column = _long_cell_column(text, limit) if text is not None else None
        where = f"line {line}" + (f", column {column}" if column else "")
        return DataError(f"{p}: {where}: a cell longer than {limit:,} characters (csv's limit); expected numbers")
    return DataError(f"{p}: line {line}: malformed CSV ({e})")


def _cell_error(p: str, line: int, j: int, name: str, cell: str, why: str) -> DataError:
    return DataError(f"{p}: line {line}, column {j + 1} ({name!r}): {cell.strip()!r} is not a finite number ({why})")


def _why_not_a_number(cell: str, name: str) -> str:
    """Why a cell failed :data:`NUMBER`, with the fix."""
    s = cell.strip()
    if not s:
        return "empty cell; missing values are not supported: fill them in or drop the row"
    try:
        v = float(s)
    except ValueError:
        return (
            f"text; if {name!r} is an id or other text column, leave it out with "
            f"ignore=[{name!r}] (jaxnet train --ignore {name})"
        )
    if not math.isfinite(v):
        return "NaN and infinity are not data"
    return "write plain decimal or scientific notation such as 12, -0.5 or 3e-4"


def _parse_chunk(
    p: str, header: list[str], rows: list[list[str]], lines: Sequence[int], idx: list[int], getter: Any
) -> np.ndarray:
    """Cells ``rows[:][idx]`` as float64 (R, len(idx)), each checked against :data:`NUMBER`."""
    cells = list(chain.from_iterable(map(getter, rows))) if len(idx) > 1 else list(map(getter, rows))
    joined = _SEP.join(cells) + _SEP
    if not (_CHUNK.fullmatch(joined) and joined.count(_SEP) == len(cells)):
        i = next(i for i, c in enumerate(cells) if not _CELL.fullmatch(c))
        r, c = divmod(i, len(idx))
        name = header[idx[c]]
        raise _cell_error(p, lines[r], idx[c], name, cells[i], _why_not_a_number(cells[i], name))
    values = np.array(cells, dtype=np.float64).reshape(len(rows), len(idx))
    _check_finite(p, header, rows, lines, idx, values, np.dtype(np.float64))
    return values


def _check_finite(
    p: str,
    header: list[str],
    rows: list[list[str]],
    lines: Sequence[int],
    idx: list[int],
    values: np.ndarray,
    dtype: np.dtype,
) -> None:
    """Raise naming the first cell that is not finite in ``dtype`` (it overflowed)."""
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if bad.size:
        r = int(bad[0])
        c = int(np.flatnonzero(~np.isfinite(values[r]))[0])
        limit = np.finfo(dtype).max
        raise _cell_error(
            p,
            lines[r],
            idx[c],
            header[idx[c]],
            rows[r][idx[c]],
            f"it overflows {dtype.name}, whose largest value is {limit:.8g}",
        )


def _store(outs: list[np.ndarray], n: int, parts: list[np.ndarray]) -> list[np.ndarray]:
    """Write ``parts`` at rows ``n:`` of ``outs``, growing their capacity in place by 1/4 when full.

    ``ndarray.resize`` reallocates (``mremap`` for large blocks: no copy) and
    zero-fills the new rows, so the memory touched stays within 1.25x of the
    rows filled; the caller trims the spare rows at the end.
    """
    need = n + parts[0].shape[0]
    if need > outs[0].shape[0]:
        cap = max(need, outs[0].shape[0] + outs[0].shape[0] // 4)
        for out in outs:
            out.resize((cap, out.shape[1]), refcheck=False)
    for out, part in zip(outs, parts):
        out[n:need] = part
    return outs


def _line_breaks(cells: list[str]) -> int:
    """Line breaks inside a row's (quoted) cells, counted as ``csv.reader.line_num`` does."""
    return sum(c.count("\n") + c.count("\r") - c.count("\r\n") for c in cells)


def _chunks(p: str, reader: Any, width: int, size: int) -> Iterator[tuple[list[list[str]], Sequence[int]]]:
    """``(rows, line numbers)`` of at most ``size`` rows of ``width`` cells; blank lines skipped.

    Rows are taken in bulk; the line of each row is worked out only for a
    chunk that is not one row per line (blank lines, quoted line breaks).
    """
    start = reader.line_num
    while rows := list(islice(reader, size)):
        end = reader.line_num
        if end - start == len(rows) and set(map(len, rows)) == {width}:
            yield rows, range(start + 1, end + 1)
        else:
            kept, lines, line = [], [], start
            for row in rows:
                line += 1 + _line_breaks(row)
                if len(row) != width:
                    if not any(c.strip() for c in row):
                        continue  # blank line
                    raise DataError(f"{p}: line {line}: has {len(row)} cells, expected {width} (one per header column)")
                kept.append(row)
                lines.append(line)
            if kept:
                yield kept, lines
        start = end


Groups = Sequence[tuple[Sequence[str], np.dtype]]


def _row_bound(size: int | None, width: int, k: int) -> int:
    """The most data rows a file of ``size`` bytes can hold (a row has ``width - 1`` commas, a line
    break and ``k`` numbers of at least one character); 1024 to start growing from when unknown."""
    return 1024 if size is None else size // (width + k) + 1


def _read_rows(p: str, src: Source, reader: Any, header: list[str], groups: Groups) -> list[np.ndarray]:
    """Stream the rows after the header into one (N, k) array per group ``(column names, dtype)``.

    Other columns are never parsed (they may hold text). Each chunk of rows
    is checked (cell count, number syntax, finite in float64 and in the
    group's dtype) before it is stored. A file's arrays are allocated once,
    for the most rows its size allows (``width + k`` bytes a row at least, k
    the columns read): pages never written are never touched, so memory is
    the rows read; a pipe's grow by 1/4 when full.
    """
    width = len(header)
    k = sum(len(names) for names, _ in groups)
    try:
        outs = [np.empty((_row_bound(src.size, width, k), len(names)), dtype=dt) for names, dt in groups]
    except MemoryError:  # no overcommit (vm.overcommit_memory=2): grow instead
        outs = [np.empty((_row_bound(None, width, k), len(names)), dtype=dt) for names, dt in groups]
    where = {name: j for j, name in enumerate(header)}
    idx = [where[name] for names, _ in groups for name in names]
    bounds = np.cumsum([0] + [len(names) for names, _ in groups])
    getter = operator.itemgetter(*idx)
    n = 0
    for rows_, lines in _chunks(p, reader, width, max(1, _CHUNK_CELLS // width)):
        values = _parse_chunk(p, header, rows_, lines, idx, getter)
        parts = []
        for (_, dt), a, b in zip(groups, bounds[:-1], bounds[1:]):
            with np.errstate(over="ignore"):  # overflow is reported, with its cell, just below
                parts.append(values[:, a:b].astype(dt))
            _check_finite(p, header, rows_, lines, idx[a:b], parts[-1], np.dtype(dt))
        outs = _store(outs, n, parts)
        n += len(rows_)
    if n == 0:
        raise DataError(f"{p}: has a header but no data rows")
    for out in outs:
        out.resize((n, out.shape[1]), refcheck=False)  # in place: frees the rows never used
    return outs


def _read(p: str, select: Callable[[list[str]], Groups], progress: Progress) -> tuple[list[str], list[np.ndarray]]:
    """One pass over CSV ``p``: ``(header, arrays)``, the arrays of the columns ``select(header)`` names.

    ``select`` may raise (a missing column) before any row is parsed; an
    empty selection reads the header only. The file is opened once, so a
    pipe works; see :mod:`jaxnet._source` for what is refused.
    """
    _check_progress(progress)
    with open_source(p) as src:
        bar = _progress_bar(progress, src)
        if bar is not None:
            src.on_read = bar.update
        reader = csv.reader(src.lines())
        try:
            header = _header(p, reader, lambda: reader.line_num)
            groups = select(header)
            outs = _read_rows(p, src, reader, header, groups) if groups else []
        except csv.Error as e:
            raise _csv_error(p, e, reader.line_num, src.line_text(reader.line_num)) from None
        finally:
            if bar is not None:
                bar.close()
    return header, outs


# ---------------------------------------------------------------- columns
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

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(p, "w").write("id,a,b,y\\ns0,1,2,0\\ns1,3,4,1\\n")
    >>> t = read_table(p, ignore="id")
    >>> t.x.tolist(), t.y.tolist(), t.features, t.labels, t.header
    ([[1.0, 2.0], [3.0, 4.0]], [0.0, 1.0], ['a', 'b'], ['y'], ['id', 'a', 'b', 'y'])
    >>> t = read_table(p, features=["b"], label=["y", "z"], optional_label=True)
    >>> t.x.tolist(), t.y, t.labels
    ([[2.0], [4.0]], None, [])
    """
    if label is not None and not isinstance(label, (str, list, tuple)):
        raise TypeError(f"label: expected a column name, a comma-separated string or a list of names, got {label!r}")
    if not isinstance(optional_label, bool):
        raise TypeError(f"optional_label: expected True or False, got {optional_label!r}")
    if on_columns is not None and not callable(on_columns):
        raise TypeError(f"on_columns: expected a function or None, got {type(on_columns).__name__}")
    p = _path(path)
    dt = _float_dtype(dtype)
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

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(p, "w").write("id,a,b,is_0,is_1\\ns0,1,2,0,1\\n")
    >>> csv_columns(p, ignore="id")
    (['a', 'b', 'is_0'], ['is_1'])
    >>> csv_columns(p, label="is_0,is_1", ignore=["id"])
    (['a', 'b'], ['is_0', 'is_1'])
    """
    p = _path(path)
    features, labels, _ = _split_columns(p, csv_header(p), label, ignore)
    return features, labels


def _float_dtype(dtype: Any) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype: expected float32 or float64, got {dt.name}")
    return dt


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
    values are any finite numbers (see :func:`infer_head`). ``ignore`` (a
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

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(p, "w").write("id,a,b,y\\ns0,1,2,0\\ns1,3,4,2.5\\n")
    >>> x, y, names = load_csv(p, ignore="id")
    >>> x.tolist(), y.tolist(), names
    ([[1.0, 2.0], [3.0, 4.0]], [0.0, 2.5], ['a', 'b'])
    >>> x, y, names = load_csv(p, label="b,y", ignore="id", dtype=np.float32)
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

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(p, "w").write("id,a,b\\nx7,1,2\\n")
    >>> read_csv(p, ignore="id")
    (array([[1., 2.]]), ['a', 'b'])
    """
    t = read_table(path, label=[], ignore=ignore, dtype=dtype, progress=progress)
    return t.x, t.features


def load_features(
    path: str | os.PathLike, feature_names: ColumnNames, *, dtype: Any = np.float64, progress: Progress = "auto"
) -> np.ndarray:
    """Load the named columns of a CSV, in the given order, as (N, F).

    Other columns (a label, a text id) are skipped unread.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(p, "w").write("id,b,a\\ns0,2,1\\n")
    >>> load_features(p, ["a", "b"]).tolist()
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

    >>> x, y, names = load_breast_cancer()
    >>> int(y.sum()), len(names)
    (357, 30)
    """
    ref = resources.files("jaxnet").joinpath("datasets").joinpath("breast_cancer.csv")
    with resources.as_file(ref) as p:
        return load_csv(p, label="target", progress=False)


# ---------------------------------------------------------------- labels
def _labels(y: Any, what: str = "y") -> np.ndarray:
    y = _numeric(y, what).astype(np.float64, copy=False)
    if y.ndim not in (1, 2) or y.shape[0] == 0 or y.size == 0:
        raise ValueError(f"{what}: expected a non-empty (N,) or (N, k) array of labels, got shape {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError(f"{what}: expected finite values, got NaN or infinity")
    return y


def infer_head(y: np.ndarray) -> Literal["sigmoid", "softmax", "identity"]:
    """The output head a label array asks for.

    - every value 0 or 1, y (N,) or (N, k) -> ``"sigmoid"`` (binary, or multi-label);
    - y (N,) of integers whose values are exactly {0, 1, ..., C-1}, C > 2 -> ``"softmax"``;
    - anything else (fractions, negatives, classes with gaps) -> ``"identity"`` (regression).

    >>> infer_head(np.array([0.0, 1.0, 1.0]))
    'sigmoid'
    >>> infer_head(np.array([[0, 1], [1, 1]]))
    'sigmoid'
    >>> infer_head(np.array([0, 2, 1, 2]))
    'softmax'
    >>> infer_head(np.array([0, 3, 1])), infer_head(np.array([0.5, 1.0]))
    ('identity', 'identity')
    """
    y = _labels(y)
    if ((y == 0.0) | (y == 1.0)).all():
        return "sigmoid"
    if y.ndim == 1 and (y == np.round(y)).all() and y.min() == 0.0:
        classes = np.unique(y)
        if classes.size > 2 and classes[-1] == classes.size - 1:
            return "softmax"
    return "identity"


def _balanced(pred: np.ndarray, t: np.ndarray) -> float:
    """min(recall on t, recall on ~t) of boolean prediction ``pred`` for boolean target ``t``."""
    return float(min((pred & t).sum() / t.sum(), (~pred & ~t).sum() / (~t).sum()))


def _complement_group(b: np.ndarray, t: np.ndarray, threshold: float) -> np.ndarray:
    """Columns of boolean ``b`` (N, m) that, with ``t``, form a one-hot group
    (``t`` is on exactly when none of them is), or an empty index array.

    Candidates are the columns almost never on with ``t``; the one that least
    often is the only candidate on in its rows is dropped until each is alone
    in >= ``threshold`` of its rows (counts updated on the dropped column's
    rows only, so the cost is O(N m + ones * m)).
    """
    with_t = np.count_nonzero(b[t], axis=0)
    group = np.flatnonzero((with_t <= (1.0 - threshold) * t.sum()) & b.any(axis=0))
    if group.size < 2:
        return group[:0]
    on = b[:, group]
    count = np.count_nonzero(on, axis=1)
    alone = np.count_nonzero(on[count == 1], axis=0)
    total = np.count_nonzero(on, axis=0)
    active = np.ones(group.size, dtype=bool)
    while active.sum() >= 2:
        share = np.where(active, alone / total, np.inf)
        worst = int(np.argmin(share))
        if share[worst] >= threshold:
            break
        active[worst] = False
        rows = np.flatnonzero(on[:, worst])
        count[rows] -= 1
        now_alone = rows[count[rows] == 1]
        np.add.at(alone, (on[now_alone] & active).argmax(axis=1), 1)
    group = group[active]
    if group.size >= 2 and _balanced(np.logical_not(b[:, group].any(axis=1)), t) >= threshold:
        return group
    return group[:0]


def _binary_targets(y: np.ndarray) -> list[np.ndarray]:
    """Boolean one-vs-rest targets of each label column with 2 values or softmax classes."""
    targets = []
    for col in y.reshape(y.shape[0], -1).T:
        values = np.unique(col)
        if values.size == 2:
            targets.append(col == values[1])
        elif HEADS[infer_head(col)].labels == "classes":
            targets.extend(col == v for v in values)
    return targets


def leaky_columns(x: np.ndarray, y: np.ndarray, names: Sequence[str], threshold: float = 0.99) -> list[str]:
    """Feature columns that give the label away: 0/1 columns that predict it almost perfectly.

    For each label column with two values (or each class of softmax labels,
    one-vs-rest, target ``t``), a 0/1 feature ``c`` is flagged when it is
    ``t`` or ``not t`` with recall >= ``threshold`` on both sides (so a
    constant column never "predicts" a rare label), and a group of 0/1
    features is flagged when, one-hot with the label, ``t == none of them``
    (``is_9`` taken as the label with ``is_0..is_8`` left as features). With
    several 0/1 label columns a feature that is on exactly when none of them
    is (a one-hot column left out of ``label``) is flagged too. x (N, F),
    y (N,) or (N, k), ``names`` F feature names; returns names in column order.

    >>> x = np.array([[1, 0, 5.0], [0, 1, 3.0], [0, 0, 4.0], [0, 0, 1.0]])
    >>> y = np.array([0.0, 0.0, 1.0, 1.0])  # is_2; is_0 and is_1 left in x
    >>> leaky_columns(x, y, ["is_0", "is_1", "pixel"])
    ['is_0', 'is_1']
    >>> leaky_columns(x[:, 2:], y, ["pixel"])
    []
    """
    x = np.asarray(x, dtype=np.float64)
    y = _labels(y)
    if x.ndim != 2 or x.shape[0] != y.shape[0] or len(names) != x.shape[1]:
        raise ValueError(
            f"x, y, names: expected shapes (N, F), (N,) or (N, k) and F names, "
            f"got {x.shape}, {y.shape} and {len(names)} names"
        )
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.5 < threshold <= 1.0:
        raise ValueError(f"threshold: expected a number in (0.5, 1], got {threshold!r}")
    one = x == 1.0
    is_binary = (one | (x == 0.0)).all(axis=0) & one.any(axis=0) & ~one.all(axis=0)  # 0/1, both present
    binary = np.flatnonzero(is_binary)
    b = np.compress(is_binary, one, axis=1)
    flagged = np.zeros(binary.size, dtype=bool)
    ones = np.count_nonzero(b, axis=0)
    for t in _binary_targets(y):
        n1 = int(t.sum())
        n0 = t.size - n1
        on_t = np.count_nonzero(b[t], axis=0)  # rows where c and t are on
        on_not_t = ones - on_t  # c on, t off
        same = (on_t / n1 >= threshold) & ((n0 - on_not_t) / n0 >= threshold)
        opposite = ((n1 - on_t) / n1 >= threshold) & (on_not_t / n0 >= threshold)
        flagged |= same | opposite
        flagged[_complement_group(b, t, threshold)] = True
    if y.ndim == 2 and y.shape[1] >= 2 and ((y == 0.0) | (y == 1.0)).all():
        yb = y == 1.0
        for j in range(binary.size):
            flagged[j] |= _complement_group(yb, b[:, j], threshold).size > 0
    return [names[int(j)] for j in binary[flagged]]


# ---------------------------------------------------------------- split and scale
def train_test_split(
    x: np.ndarray,
    y: np.ndarray,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    stratify: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split into ``(x_train, x_test, y_train, y_test)``, deterministic in ``seed``.

    x (N, ...) and y (N,) or (N, k) are split on axis 0 and keep their dtypes.
    With ``stratify`` and class labels (:func:`infer_head` says sigmoid or
    softmax: 0/1 or one-hot rows, integer classes) each class (value of
    ``y``, or row of a 2-D ``y``) puts ``round(test_fraction * count)``
    samples in the test set (at least one, and at least one left for
    training, when the class has two or more), so both sets keep the class
    ratios. Regression targets (identity head) get a plain shuffled split.

    >>> x = np.arange(20.0).reshape(10, 2); y = np.array([0.0] * 5 + [1.0] * 5)
    >>> _, _, y_tr, y_te = train_test_split(x, y, test_fraction=0.4, seed=1)
    >>> sorted(y_te.tolist()), len(y_tr)
    ([0.0, 0.0, 1.0, 1.0], 6)
    """
    x = _numeric(x, "x")
    y = _numeric(y, "y")
    if x.ndim < 1 or y.ndim < 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x, y: expected the same number of samples on axis 0, got shapes {x.shape} and {y.shape}")
    if (
        isinstance(test_fraction, (bool, np.bool_))
        or not isinstance(test_fraction, (int, float, np.integer, np.floating))
        or not (0.0 < float(test_fraction) < 1.0)
    ):
        raise ValueError(f"test_fraction: expected a number strictly between 0 and 1, got {test_fraction!r}")
    test_fraction = float(test_fraction)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed: expected a non-negative int, got {seed}")
    n = x.shape[0]
    rng = np.random.default_rng(int(seed))
    if stratify and n and HEADS[infer_head(y)].classifier:
        _, group = np.unique(y.reshape(n, -1), axis=0, return_inverse=True)
        group = group.reshape(n)
        by_class = np.split(np.argsort(group, kind="stable"), np.cumsum(np.bincount(group))[:-1])
        test_parts = []
        for members in by_class:
            idx = rng.permutation(members)
            k = int(round(test_fraction * idx.size))
            if idx.size >= 2:
                k = min(max(k, 1), idx.size - 1)
            test_parts.append(idx[:k])
        test_idx = np.concatenate(test_parts)
    else:
        test_idx = rng.permutation(n)[: int(round(test_fraction * n))]
    mask = np.zeros(n, dtype=bool)
    mask[test_idx] = True
    if mask.all() or not mask.any():
        raise ValueError(f"test_fraction: {test_fraction} of {n} samples leaves an empty train or test set")
    train_idx = rng.permutation(np.flatnonzero(~mask))
    test_idx = rng.permutation(np.flatnonzero(mask))
    return x[train_idx], x[test_idx], y[train_idx], y[test_idx]


def _numeric(a: Any, what: str) -> np.ndarray:
    """``a`` as a numeric (bool, int or float) numpy array, or a TypeError/ValueError naming ``what``."""
    try:
        arr = np.asarray(a)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise ValueError(f"{what}: expected a rectangular numeric array, got {type(a).__name__} ({e})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what}: expected a numeric array, got dtype {arr.dtype} ({type(a).__name__})")
    return arr


def _column(j: int, names: Sequence[str] | None) -> str:
    """``column 3 ('a')``: a column's 0-based index and, when known, its name."""
    return f"column {j} ({names[j]!r})" if names is not None else f"column {j}"


def _column_names(names: Any, width: int, what: str = "names") -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str) or not all(isinstance(n, str) for n in names) or len(names) != width:
        raise ValueError(f"{what}: expected {width} column names (one per column of x), got {names!r}")
    return list(names)


def fit_standardize(x: np.ndarray, *, names: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-column ``(mean (F,), std (F,))`` of ``x`` (N, F), in float64; a constant column gets std 1.

    ``std`` is the population standard deviation ``sqrt(mean((x - mean)**2))``
    (scikit-learn's ``StandardScaler``). It is computed on each column scaled
    by a power of two ``s <= max|x| < 2s`` and centred on its first value
    (``mean = s (x0/s + mean(x/s - x0/s))``), so no finite column overflows
    (a ±1e200 column has std 1e200) and large offsets keep their spread
    (nanosecond timestamps 1.7e18 + k·1e5 are not constant). A column is
    constant when ``std <= 16 eps max|x|``, ``eps`` the resolution of ``x``'s
    float dtype (float64 for integers): differences at the rounding level of
    its values. ``names`` (F column names) are used in error messages.
    Save both (e.g. in checkpoint metadata) and apply them to new data with
    :func:`apply_standardize`.

    >>> fit_standardize(np.array([[1.0, 5.0], [3.0, 5.0]]))
    (array([2., 5.]), array([1., 1.]))
    >>> fit_standardize(np.array([[-1e200], [1e200]]))[1]
    array([1.e+200])
    """
    x = _numeric(x, "x")
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"x: expected a non-empty 2-D array (samples, features), got shape {x.shape}")
    cols = _column_names(names, x.shape[1])
    finite = np.isfinite(x)
    if not finite.all():
        i, j = (int(k[0]) for k in np.nonzero(~finite))
        raise ValueError(f"x: expected finite values, got {x[i, j]} in {_column(j, cols)}, row {i}")
    eps = np.finfo(x.dtype if x.dtype.kind == "f" else np.float64).eps
    top = np.maximum(np.abs(x.max(axis=0).astype(np.float64)), np.abs(x.min(axis=0).astype(np.float64)))
    scale = np.ldexp(1.0, np.frexp(np.where(top > 0, top, 1.0))[1] - 1)  # a power of two: x / scale is exact
    d = x / scale  # float64, |d| < 2: the one temporary the size of x
    first = d[0].copy()
    d -= first
    shift = d.mean(axis=0)
    d -= shift
    std = np.sqrt(np.einsum("ij,ij->j", d, d) / x.shape[0]) * scale
    mean = (first + shift) * scale
    std = np.where(std > 16.0 * eps * top, std, 1.0)
    return mean, std


def _check_statistics(mean: np.ndarray, std: np.ndarray, cols: list[str] | None) -> None:
    bad = ~(np.isfinite(mean) & np.isfinite(std) & (std > 0))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"mean, std: expected finite values and std > 0, got mean {float(mean[j])!r}, std {float(std[j])!r} "
            f"in {_column(j, cols)}"
        )


def apply_standardize(
    x: np.ndarray, mean: np.ndarray, std: np.ndarray, *, names: Sequence[str] | None = None
) -> np.ndarray:
    """``(x - mean) / std`` column-wise: x (N, F), mean and std (F,) from :func:`fit_standardize`.

    A float32 ``x`` stays float32 (mean and std are rounded to it); anything
    else is computed in float64. A result that overflows (data far outside
    the training range) is refused naming the column (and ``names[j]``).

    >>> apply_standardize(np.array([[3.0]]), np.array([1.0]), np.array([2.0]))
    array([[1.]])
    """
    x = _numeric(x, "x")
    mean = _numeric(mean, "mean").astype(np.float64)
    std = _numeric(std, "std").astype(np.float64)
    if x.ndim != 2 or mean.shape != (x.shape[1],) or std.shape != (x.shape[1],):
        raise ValueError(f"x, mean, std: expected shapes (N, F), (F,), (F,), got {x.shape}, {mean.shape}, {std.shape}")
    cols = _column_names(names, x.shape[1])
    _check_statistics(mean, std, cols)
    dt = x.dtype if x.dtype == np.float32 else np.dtype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        out = (x.astype(dt, copy=False) - mean.astype(dt)) / std.astype(dt)
    finite = np.isfinite(out)
    if not finite.all():
        i, j = (int(k[0]) for k in np.nonzero(~finite))
        why = "is not finite" if not np.isfinite(x[i, j]) else f"overflows {dt.name} when standardised"
        raise ValueError(
            f"x: the value {float(x[i, j])!r} in {_column(j, cols)}, row {i} {why} "
            f"(mean {mean[j]:.6g}, std {std[j]:.6g})"
        )
    return out


def standardize(
    x_train: np.ndarray, *x_others: np.ndarray, names: Sequence[str] | None = None
) -> tuple[np.ndarray, ...]:
    """Standardise ``x_train`` (N, F) and any other sets with the mean/std of ``x_train`` only.

    Returns ``(x_train, *x_others)`` standardised, same shapes. Fitting on the
    training set alone keeps the test set unseen. ``names``: F column names
    for error messages.

    >>> a, b = standardize(np.array([[0.0], [2.0]]), np.array([[4.0]]))
    >>> a.ravel().tolist(), b.ravel().tolist()
    ([-1.0, 1.0], [3.0])
    """
    mean, std = fit_standardize(x_train, names=names)
    return tuple(apply_standardize(x, mean, std, names=names) for x in (x_train, *x_others))


def _short_list(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")

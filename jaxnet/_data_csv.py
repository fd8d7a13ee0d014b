"""Reading a numeric CSV into arrays, for :mod:`jaxnet.data`: the header, the strict cell syntax, the rows.

One pass over a :class:`jaxnet._source.Source` (a file or a pipe): the header
line is checked (names, no numbers-only line), then the rows are parsed in
chunks of about :data:`_CHUNK_CELLS` cells, each cell matched against
:data:`NUMBER` (plain decimal or scientific notation, ASCII digits only) and
checked finite in float64 and in the dtype it is stored in. A bad cell is a
:class:`jaxnet.data.DataError` in the one message format, naming the file,
line and column: ``"{file}: line L, column J ('name'): expected a finite
number, got '{cell}' ({why})"``. Which columns are read is the caller's
(:mod:`jaxnet._data_tables`).

>>> import os, tempfile
>>> import jaxnet.data
>>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
>>> _ = open(p, "w").write("a,b\\n1,x\\n")
>>> jaxnet.data.read_csv(p)
Traceback (most recent call last):
...
jaxnet.data.DataError: ...d.csv: line 2, column 2 ('b'): expected a finite number, got 'x' (text; ...)
"""

from __future__ import annotations

import csv
import math
import operator
import os
import re
from collections.abc import Callable, Iterator, Sequence
from itertools import chain, islice
from typing import Any, Literal

import numpy as np

from jaxnet._checks import message, refuse
from jaxnet._source import DataError, Source, open_source

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
        raise refuse("path", "a file path (str or os.PathLike)", type(path).__name__, TypeError)
    return os.fspath(path)


def csv_header(path: str | os.PathLike) -> list[str]:
    """The column names of a CSV file (its first non-blank line), checked.

    Raises :class:`DataError` for a missing or empty file, an empty or repeated
    name, or a first line of numbers (a file without a header). Reads only
    the first lines: on a pipe, use :func:`jaxnet.data.read_table` for header and data.

    >>> import os, tempfile
    >>> import jaxnet.data
    >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(p, "w").write(" id , a,y\\n s0,1,0\\n")
    >>> jaxnet.data.csv_header(p)
    ['id', 'a', 'y']
    """
    header, _ = _read(_path(path), lambda header: [], False)
    return header


def _check_progress(progress: Any) -> None:
    """A choice of a bool or ``"auto"`` (``_checks.one_of`` takes options of one type)."""
    if not (isinstance(progress, bool) or progress == "auto"):
        raise refuse("progress", "True, False or 'auto'", repr(progress))


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
    """A cell that is not a finite number, in the one message format, named by file, line and column."""
    return DataError(
        message(f"{p}: line {line}, column {j + 1} ({name!r})", "a finite number", f"{cell.strip()!r} ({why})")
    )


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

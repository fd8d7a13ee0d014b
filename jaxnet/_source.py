"""Reading a CSV file's text once, block by block, for :mod:`jaxnet.data`.

- :func:`open_source` opens a regular file or a pipe that has a writer (a
  process substitution ``<(cat f.csv)``, ``/dev/stdin`` piped from another
  program); a FIFO with no writer is refused at once (never waited on) and
  a device (``/dev/zero``, a terminal) or socket is refused unread.
- :meth:`Source.lines` yields the text one line at a time, each ending in
  ``\\n``, ``\\r`` or ``\\r\\n`` (what ``csv.reader`` expects; form feeds and
  other Unicode line separators stay inside their line), decoding UTF-8 (a
  byte-order mark skipped) in 256 KiB blocks: an invalid byte is reported
  with its offset in the file and its line, and a line longer than
  :data:`MAX_LINE_BYTES` (an endless pipe with no line breaks) is refused
  instead of filling memory.

The source is read exactly once, so a pipe works: the header and the rows
come from one pass.

>>> import tempfile, os
>>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
>>> _ = open(p, "wb").write(b"\\xef\\xbb\\xbfa,b\\r\\n1,2\\n")
>>> with open_source(p) as src:
...     list(src.lines())
['a,b\\r\\n', '1,2\\n']
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

BLOCK_BYTES = 1 << 18  # bytes read at once
MAX_LINE_BYTES = 1 << 26  # a line longer than this (64 MiB) is refused: not a CSV, or an endless stream
_BOM = b"\xef\xbb\xbf"
_OTHER_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")  # where str.splitlines also cuts
_KINDS = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class DataError(ValueError):
    """A data file that cannot be used; the message names the file, the
    line/column and the problem on one line."""

    __module__ = "jaxnet.data"


class Source:
    """An open file or pipe, read once through :meth:`lines`.

    ``size``: the file's size in bytes, or None for a pipe; ``on_read``: a
    function called with the size of each block read. ``line_text(n)``:
    the text of line ``n`` when it is in the block being read (for error
    messages).
    """

    def __init__(self, path: str, f: BinaryIO, first: bytes, size: int | None) -> None:
        self.path, self._f, self._first, self.size = path, f, first, size
        self.on_read: Callable[[int], Any] | None = None  # called with each block's size (a progress bar)
        self._block: list[str] = []
        self._block_line = 1  # line number of self._block[0]

    def line_text(self, line: int) -> str | None:
        k = line - self._block_line
        return self._block[k] if 0 <= k < len(self._block) else None

    def _read(self) -> bytes:
        block, self._first = self._first or self._f.read(BLOCK_BYTES), b""
        if self.on_read is not None:
            self.on_read(len(block))
        return block

    def lines(self) -> Iterator[str]:
        """The lines of the text, each with its line break (the last may have none)."""
        buf = bytearray()
        offset, line, eof = 0, 1, False  # file offset of buf[0], line number of its first line
        while not eof:
            block = self._read()
            eof = not block
            buf += block
            if offset == 0 and buf[:3] == _BOM:
                del buf[:3]
                offset = 3
            # cut after the last line break; a final \r waits for a possible \n in the next block
            cut = len(buf) if eof else max(buf.rfind(b"\n"), buf.rfind(b"\r", 0, len(buf) - 1)) + 1
            if cut == 0:
                if len(buf) > MAX_LINE_BYTES:
                    raise DataError(
                        f"{self.path}: line {line}: longer than {MAX_LINE_BYTES >> 20} MiB with no line break "
                        f"(not a CSV file, or an endless stream)"
                    )
                continue
            piece = bytes(buf[:cut])
            del buf[:cut]
            self._block = _split(_decode(self.path, piece, offset, line))
            self._block_line = line
            offset += cut
            line += len(self._block)
            yield from self._block


def _split(text: str) -> list[str]:
    """``text`` cut after each ``\\n``, ``\\r`` or ``\\r\\n`` (and nowhere else), line breaks kept."""
    if _OTHER_BREAKS.search(text):  # str.splitlines would cut there too
        return io.StringIO(text, newline="").readlines()
    return text.splitlines(keepends=True)


def _decode(p: str, piece: bytes, offset: int, line: int) -> str:
    """``piece`` (whole lines from byte ``offset``, line ``line`` of the file) as text, or a DataError at the byte."""
    try:
        return piece.decode("utf-8")
    except UnicodeDecodeError as e:
        before = piece[: e.start]
        at = line + before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n")
        bad = piece[e.start : e.end].hex(" ")
        raise DataError(
            f"{p}: line {at}: not UTF-8 text ({e.reason}, byte {bad} at byte offset {offset + e.start} of the file)"
        ) from None


def _set_blocking(fd: int) -> None:
    if hasattr(os, "set_blocking"):  # not on Windows before Python 3.12, where O_NONBLOCK is not used either
        os.set_blocking(fd, True)


def _first_bytes(p: str, fd: int) -> bytes:
    """The first bytes of a pipe opened non-blocking; refuses one with no writer instead of waiting for it."""
    try:
        first = os.read(fd, BLOCK_BYTES)
    except BlockingIOError:  # a writer is there, it has not written yet
        first = b""
    else:
        if not first:  # end of file at once: no process holds the other end
            raise DataError(
                f"{p}: a pipe (FIFO) with no writer and nothing in it; start the program that writes it "
                f"first, or give a regular file"
            )
    _set_blocking(fd)
    return first


@contextlib.contextmanager
def open_source(p: str) -> Iterator[Source]:
    """Open ``p`` (a regular file or a pipe with a writer) for :meth:`Source.lines`; OS errors as DataErrors."""
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise DataError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{p}: is a folder, expected a CSV file") from None
    except PermissionError:
        raise DataError(f"{p}: permission denied") from None
    except OSError as e:
        raise DataError(f"{p}: cannot open ({e.strerror or e})") from None
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode):
        os.close(fd)
        raise DataError(f"{p}: is a folder, expected a CSV file")
    with os.fdopen(fd, "rb", buffering=0) as f:
        kind = next((name for test, name in _KINDS if test(mode)), None)
        if kind is not None:
            raise DataError(f"{p}: {kind}, not a regular file or pipe; expected a CSV file")
        first = b""
        if stat.S_ISFIFO(mode):
            first = _first_bytes(p, fd)
        else:
            _set_blocking(fd)
        try:
            yield Source(p, f, first, os.fstat(fd).st_size if stat.S_ISREG(mode) else None)
        except OSError as e:  # a read failing mid-way (an I/O error, a file on a network share gone)
            raise DataError(f"{p}: cannot read ({e.strerror or e})") from None

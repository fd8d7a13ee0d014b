"""Files written atomically and read only when regular: the file-system side of checkpoints.

:func:`atomic_write` writes to a locked temporary file ``.NAME.<12 hex>.tmp``
beside the target, fsyncs it and renames it over, so a crash never leaves a
half-written file; temporary files of killed writers are removed by the next
write. :func:`kind` names what a non-regular path is. Used by
:func:`jaxnet.save` and the CLI's ``predict --out``.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "out.txt")
>>> atomic_write(path, b"done")
>>> open(path, "rb").read()
b'done'
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: stale temp files are recognised by age alone
    fcntl = None  # type: ignore[assignment]

_TMP_GRACE_S = 2.0 if fcntl is not None else 600.0  # see _remove_stale_temps


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def atomic_write(p: str, data: bytes) -> None:
    """Write ``data`` to a locked temporary file beside ``p``'s real target, fsync it and rename it over."""
    target = os.path.realpath(p)  # through symlinks: the link stays, its target is replaced
    mode = _existing_mode(p, target)
    folder, name = os.path.split(target)
    _remove_stale_temps(folder, name)
    tmp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as e:
        raise OSError(e.errno, f"cannot write checkpoint in {folder!r}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # tells _remove_stale_temps a live writer owns it
            if mode is not None:
                os.chmod(tmp, mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, target)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)


def _existing_mode(p: str, target: str) -> int | None:
    """The permission bits of the file being replaced (None if new); refuses to replace a non-regular file."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"path: {p!r} is {kind(st.st_mode)}, not a regular file; refusing to replace it")
    return stat.S_IMODE(st.st_mode) & 0o777


def _remove_stale_temps(folder: str, name: str) -> None:
    """Remove ``.NAME.<12 hex>.tmp`` files a killed writer left beside ``NAME``.

    Only files of exactly that pattern, regular, not locked (a live writer
    holds an ``flock`` on its temporary file until the rename; the kernel
    drops it when a writer dies) and not modified for ``_TMP_GRACE_S``
    seconds (the moment between a writer's create and lock). Without
    ``fcntl`` (Windows) only the age tells, so the wait is 10 minutes.
    Errors are ignored: cleaning up never makes a save fail.
    """
    pattern = re.compile(rf"\.{re.escape(name)}\.[0-9a-f]{{12}}\.tmp")
    try:
        entries = [e for e in os.listdir(folder) if pattern.fullmatch(e)]
    except OSError:
        return
    for entry in entries:
        _remove_if_stale(os.path.join(folder, entry))


def _remove_if_stale(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or time.time() - st.st_mtime < _TMP_GRACE_S:
            return
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # OSError while a live writer holds it
        os.remove(path)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_folder(folder: str) -> None:
    """Make the rename durable where the OS allows opening a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

"""Atomic file writes: a reader sees the old file or the whole new one, never half of it.

The data is fsynced before the rename and the directory after it, so a power cut leaves the old
file or the new one. A process killed mid-write leaves its hidden temporary file
(``.<name>.<random><suffix>``); :func:`sweep_temporaries` removes such leftovers.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``, on error it is removed.

    The temporary file keeps ``path``'s suffix (or ``suffix``) so that libraries choosing a format
    by extension still work. Raises a clear ``OSError`` when the directory is not writable.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"directory {parent} is not writable")
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=(suffix if suffix is not None else path.suffix), dir=parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; the final file gets normal permissions
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
        fsync_dir(parent)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def fsync_dir(directory: str | os.PathLike) -> None:
    """Flush a directory's entries (a rename in it) to disk; a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on directories
    finally:
        os.close(fd)


def sweep_temporaries(directory: str | os.PathLike, suffix: str, older_than_s: float = 60.0) -> list[Path]:
    """Remove the temporary files that :func:`atomic_path` left in ``directory`` for ``*suffix`` files
    when a writer was killed, if older than ``older_than_s`` (a live writer's is younger); returns them."""
    import time

    directory = Path(directory)
    if not directory.is_dir():
        return []
    now, gone = time.time(), []
    for p in directory.glob(f".*{suffix}"):
        try:
            if p.is_file() and now - p.stat().st_mtime > older_than_s:
                p.unlink()
                gone.append(p)
        except OSError:
            continue
    return gone


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))

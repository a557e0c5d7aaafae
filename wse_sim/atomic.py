"""Atomic file writes: a reader, or a process killed at any moment, sees the old complete file
or the new complete file, never a torn one.

The data go to a temporary file in the same folder, which is flushed and fsynced, then
``os.replace``d over the target (atomic on POSIX and Windows within one file system), then the
folder is fsynced so the rename itself survives a power cut. Every file wse-sim writes as a
whole (result.json, arrays.npz, report.md, the PNG plots, results.csv, sweep.json, point
files) goes through here.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .errors import WseSimFileError


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # no directory handles (Windows): the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _tmp_name(path: Path) -> Path:
    # same folder (rename must not cross file systems); pid: two writers never share a temp
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; return ``path``.

    A path that cannot be written (a folder, a missing or read-only folder, a name too long)
    raises :class:`~wse_sim.errors.WseSimFileError` naming it, so every writer built on this
    one refuses such a path the same way (never a raw ``IsADirectoryError``)."""
    from .validate import path as as_path

    path = as_path("output file", path)
    tmp = _tmp_name(path)
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "it is a folder", str(path))
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, WseSimFileError):
            raise
        raise WseSimFileError(f"cannot write {str(path)!r}: {e.strerror or e}; give the path of "
                              "a file (not a folder) in a folder you can write") from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically; return ``path``."""
    return atomic_write_bytes(path, text.encode("utf-8"))

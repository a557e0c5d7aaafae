"""Crash-safe storage of sweep rows (see :mod:`.sweep` for the layout of an output folder).

Writes are atomic or append-only with a single ``write`` of a complete line, so a process killed
at any moment leaves every file readable: at worst the JSON Lines file ends in a torn line,
which readers skip and the next sweep cuts off before it appends.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path

from ..atomic import atomic_write_text as _atomic_write_text
from ..errors import WseSimFileError
from ..jsonable import jsonable
from ..validate.files import file_errors

POINTS_DIR = "points"
JSONL_NAME = "results.jsonl"
CSV_NAME = "results.csv"
MANIFEST_NAME = "sweep.json"

def encode_row(row: dict) -> str:
    """One line of strict JSON (no newline); non-finite floats become null (the one rule,
    :func:`wse_sim.jsonable.jsonable`)."""
    return json.dumps(jsonable(row), separators=(",", ":"), allow_nan=False)


def decode_row(text: str) -> dict:
    """The row of :func:`encode_row`."""
    row = json.loads(text)
    if not isinstance(row, dict) or "key" not in row:
        raise ValueError("not a sweep row")
    return row


def normalize_row(row: dict) -> dict:
    """``row`` as it reads back from disk (so fresh and reused rows compare equal)."""
    return decode_row(encode_row(row))


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, fsync and ``os.replace``: readers
    see the old file or the new one, never a part (:mod:`wse_sim.atomic`)."""
    _atomic_write_text(path, text)


def append_line(path: Path, line: str) -> None:
    """Append ``line`` + newline to ``path`` with one ``write`` call, then fsync."""
    data = (line + "\n").encode("utf-8")
    with file_errors("append a row to", path, "give a sweep folder you can write"):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, data)
            if written != len(data):  # never for a regular file in practice; a reader skips it
                raise WseSimFileError(f"short write to {path}: {written} of {len(data)} bytes")
            os.fsync(fd)
        finally:
            os.close(fd)


def cut_torn_tail(path: Path) -> int:
    """Truncate ``path`` after its last newline (a line torn by a crash); bytes removed."""
    path = Path(path)
    if not path.exists():
        return 0
    with file_errors("repair the end of", path, "give a sweep folder you can write"), \
            open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        pos = size
        while pos > 0:
            step = min(65536, pos)
            f.seek(pos - step)
            chunk = f.read(step)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                keep = pos - step + nl + 1
                break
            pos -= step
        else:
            keep = 0
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return size - keep


def read_jsonl(path: Path) -> dict[str, dict]:
    """``{key: row}`` of a JSON Lines file, first occurrence of a key wins; lines that do not
    parse (a torn last line) are skipped. A missing file gives ``{}``."""
    rows: dict[str, dict] = {}
    if not Path(path).exists():
        return rows
    with file_errors("read the sweep rows of", path,
                     f"{Path(path).name} must be the JSON Lines file a sweep wrote"):
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    for line in text.splitlines():
        try:
            row = decode_row(line)
        except ValueError:
            continue
        rows.setdefault(row["key"], row)
    return rows


def point_path(out_dir: Path, key: str) -> Path:
    return Path(out_dir) / POINTS_DIR / f"{key}.json"


def read_point(out_dir: Path, key: str) -> dict | None:
    """The stored row of point ``key``, or None when absent or unreadable."""
    try:
        row = decode_row(point_path(out_dir, key).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return row if row["key"] == key else None


def store_point(out_dir: Path, row: dict) -> None:
    """Record a finished point: its own file (atomic), then one line of the JSON Lines file."""
    line = encode_row(row)
    atomic_write_text(point_path(out_dir, row["key"]), line)
    append_line(Path(out_dir) / JSONL_NAME, line)


def csv_text(rows: Iterable[dict]) -> str:
    """CSV of ``rows`` (columns in first-seen order; None as an empty cell)."""
    rows = list(rows)
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()

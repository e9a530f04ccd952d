"""Copies kept in a cache folder under the digest of what made them (typeset PDFs, drawn charts), so that a rerun of
unchanged content takes them instead of making them again.

A copy is whole or absent (written beside and renamed into place; a run at once may read it), the copies used most
recently are kept longest, and a cache folder that cannot be read or written costs time, never the report.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


def kept_copy(kept: Path, head: bytes, tail: bytes) -> bytes | None:
    """The kept copy's bytes if it is there and whole (starts with `head`, has `tail` in its last kilobyte: one cut
    short by a full disk is made again, never used); it is then marked as recently used."""
    try:
        data = kept.read_bytes()
    except OSError:
        return None
    if not (data.startswith(head) and tail in data[-1024:]):
        return None
    try:
        _mark_used(kept)
    except OSError:
        pass  # a read-only cache still serves
    return data


def _mark_used(path: Path) -> None:
    """The copy's time, to the nanosecond: the file system's own stamps are coarse (milliseconds), and a copy used
    just after another was made must still count as the newer."""
    now = time.time_ns()
    os.utime(path, ns=(now, now))


def keep_copy(data: bytes, kept: Path, newest: int) -> None:
    """Keep `data` as `kept`, whole or not at all, and remove the oldest copies of its kind (suffix) beyond the
    `newest` few."""
    tmp = None
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=kept.parent, suffix=".part")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, kept)
        tmp = None
        _mark_used(kept)
        copies = sorted(kept.parent.glob(f"*{kept.suffix}"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in copies[newest:]:
            old.unlink(missing_ok=True)
    except OSError:  # includes a copy removed by another run while sorting: its turn comes next time
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)

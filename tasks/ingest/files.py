"""Which files a report reads of one source: the period's files by the contract's file names.

A monthly source is read from January of `year - history_years` up to the
report's month; a yearly source from `year - history_years` up to `year`.
With `expect: all` every period of the report's own year is required; earlier
years only shape forecasts and trends.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

from reports import fmt
from tasks.contracts import Source, settings, sources
from tasks.ingest.parsing import copy_hashing


@dataclass(frozen=True)
class PeriodFile:
    """One file a run looks for: its period, its path if it exists, and whether it is required."""

    period: str
    name: str
    path: Path | None
    required: bool


@dataclass(frozen=True)
class FileInfo:
    """One file of a run: its name, where it was, the SHA-256 of its bytes, rows and period."""

    name: str
    path: str
    sha256: str
    rows: int
    period: str
    # The key its validation is kept under (see `reuse`), and for a file not read again because an earlier run
    # validated and loaded these very bytes: that batch and run.
    validation_key: str = ""
    reused_batch: int | None = None
    checked_by_run: str | None = None
    # Of a reused file: what the warning checks found in its rows then (JSON, see `validate.file_warnings`), "" none.
    warned: str = ""

    @property
    def reused(self) -> bool:
        return self.reused_batch is not None


def find_file(extracts: Path, src: Source, year: int, month: int = 12) -> Path | None:
    """The source's file of a period under its contract's name or an alternative one (`.xlsx`)."""
    for pattern in (src.file, *src.alternatives):
        p = extracts / pattern.format(year=year, month=month)
        if p.exists():
            return p
    return None


def period_files(extracts: Path, src: Source, year: int, month: int) -> list[PeriodFile]:
    """The files a report for `year-month` reads of one source."""
    first = year - src.history_years
    if src.period == "month":
        wanted = [(y, m) for y in range(first, year + 1) for m in range(1, 13) if (y, m) <= (year, month)]
    else:
        wanted = [(y, 12) for y in range(first, year + 1)]
    out = []
    for y, m in wanted:
        label = f"{y}-{m:02d}" if src.period == "month" else str(y)
        out.append(
            PeriodFile(label, src.file_name(y, m), find_file(extracts, src, y, m), src.expect == "all" and y == year)
        )
    return out


MB = 1024 * 1024


def size_problem(path: Path) -> str | None:
    """Why a file is too large to read (in Finnish, naming it), before a byte of it is parsed; None if it is not.

    A delimited file is judged by its size, a workbook (a zip) also by what its parts unpack to: a small file
    that unpacks to gigabytes would exhaust the memory of the machine that opens it.
    """
    limit, unpacked_limit = settings().max_file_mb, settings().max_workbook_unpacked_mb
    size = path.stat().st_size
    if size > limit * MB:
        return (
            f"{path.name}: tiedosto on liian suuri ({fmt.number(size / MB, 1)} Mt, enintään "
            f"{fmt.number(limit, 1)} Mt); sitä ei luettu"
        )
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                unpacked = sum(i.file_size for i in z.infolist())
        except (zipfile.BadZipFile, OSError):
            return None  # the reader says what is wrong with it
        if unpacked > unpacked_limit * MB:
            return (
                f"{path.name}: työkirjan sisältö purkautuu liian suureksi ({fmt.number(unpacked / MB, 1)} Mt, "
                f"enintään {fmt.number(unpacked_limit, 1)} Mt); sitä ei luettu"
            )
    return None


def snapshot(pf: PeriodFile, src: Source, into: Path) -> tuple[PeriodFile, str]:
    """A private copy of the file (and its companions, e.g. the ledger's control file) to parse, and the SHA-256
    of exactly the bytes copied.

    A file replaced while the run reads it is then either wholly the old or wholly the new one, and the hash
    stored for it is of the bytes that were parsed, never of a second read.
    """
    assert pf.path is not None
    into.mkdir(parents=True, exist_ok=True)
    digest = copy_hashing(pf.path, into / pf.path.name)
    for path in companion_files(pf, src.id):
        if path.is_file():
            copy_hashing(path, into / path.name)
    return replace(pf, path=into / pf.path.name), digest


def companion_files(pf: PeriodFile, source: str) -> list[Path]:
    """The files read together with `pf` (the ledger's control file), beside it, in the contracts' order."""
    assert pf.path is not None
    year, month = int(pf.period[:4]), int(pf.period[5:7] or 12)
    return [pf.path.parent / c.file_name(year, month) for c in sources().values() if c.companion_of == source]

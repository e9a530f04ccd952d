"""Which files a report reads of one source: the period's files by the contract's file names.

A monthly source is read from January of `year - history_years` up to the
report's month; a yearly source from `year - history_years` up to `year`.
With `expect: all` every period of the report's own year is required; earlier
years only shape forecasts and trends.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tasks.contracts import Source


@dataclass(frozen=True)
class PeriodFile:
    """One file a run looks for: its period, its path if it exists, and whether it is required."""

    period: str
    name: str
    path: Path | None
    required: bool


@dataclass(frozen=True)
class FileInfo:
    """One file that was read: its name, where it was, the SHA-256 of its bytes, rows and period."""

    name: str
    path: str
    sha256: str
    rows: int
    period: str


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

"""Each source's standing for the period: read, checked and usable, missing, or quarantined, and why.

`source_statuses` joins what the extract found (files, missing files, bad cells)
with what the suites found (failed and warned expectations) into one
`SourceStatus` per source, the form the report, the manifest, the quality
history and the controller's summaries all take. `Validated` is the validate
stage's result.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tasks.contracts import sources
from tasks.contracts.vocab import SOURCE_FAILED, SOURCE_MISSING, SOURCE_OK, SOURCE_STATUS_FI
from tasks.ingest.period import Extracted
from tasks.ingest.validate import SourceQuality, row_bands, run_suites, suite_parameters


@dataclass(frozen=True)
class SourceStatus:
    """One source of a run: its files and rows, the checks it passed, its errors and warnings, and why it stands so."""

    source: str
    title: str
    status: str
    status_fi: str
    files: list[str]
    files_text: str
    rows: int
    checks: int
    passed: int
    errors: list[str]
    warnings: list[str]
    missing: list[str]
    reason: str
    # The newest period the files that were read cover (`2024-08`, or a year `2024`).
    latest_period: str = ""

    @property
    def usable(self) -> bool:
        return self.status == SOURCE_OK

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Validated:
    """The validate stage's result: every source's status, in the contracts' order."""

    statuses: list[SourceStatus]

    @property
    def usable(self) -> set[str]:
        return {s.source for s in self.statuses if s.usable}

    def status_of(self, source: str) -> str:
        return next((s.status for s in self.statuses if s.source == source), SOURCE_MISSING)

    @property
    def by_source(self) -> dict[str, str]:
        return {s.source: s.status for s in self.statuses}

    @property
    def quarantined(self) -> list[SourceStatus]:
        return [s for s in self.statuses if s.status == SOURCE_FAILED]


def source_statuses(extracted: Extracted, quality: dict[str, SourceQuality]) -> list[SourceStatus]:
    """One entry per source for the report and manifest: files, rows, status and why."""
    out = []
    for sid, e in extracted.sources.items():
        q = quality.get(sid)
        status = e.status if e.status != SOURCE_OK else (q.status if q else SOURCE_OK)
        errors = [str(x) for x in e.errors] + (q.failures if q else [])
        warnings = [str(x) for x in e.warnings] + (q.warnings if q else [])
        if errors:
            reason = errors[0]
        elif e.required_missing:
            reason = "puuttuvat tiedostot: " + _files_text(e.required_missing)
        elif e.missing:
            reason = (
                "edellisen vuoden tiedostoja puuttuu, ennuste ja vertailu edelliseen vuoteen ovat vajaita: "
                + _files_text(e.missing)
            )
        else:
            reason = ""
        out.append(
            SourceStatus(
                source=sid,
                title=sources()[sid].title,
                status=status,
                status_fi=SOURCE_STATUS_FI[status],
                files=[f.name for f in e.files],
                files_text=_files_text([f.name for f in e.files]) or _files_text(e.missing) or "–",
                rows=sum(f.rows for f in e.files),
                checks=q.checks if q else 0,
                passed=q.passed if q else 0,
                errors=errors,
                warnings=warnings,
                missing=e.missing,
                reason=reason,
                latest_period=max((f.period for f in e.files), default=""),
            )
        )
    return out


def _files_text(names: list[str]) -> str:
    if len(names) <= 2:
        return ", ".join(names)
    return f"{names[0]} … {names[-1]} ({len(names)} tiedostoa)"


def write_quality_summary(statuses: list[SourceStatus], quality_dir: Path) -> None:
    """Machine-readable summary of every source's status, checks and errors (`quality/summary.json`)."""
    quality_dir.mkdir(parents=True, exist_ok=True)
    (quality_dir / "summary.json").write_text(
        json.dumps([s.as_dict() for s in statuses], indent=2, ensure_ascii=False), encoding="utf-8"
    )


def validate_period(
    extracted: Extracted, history: pd.DataFrame, today: dt.date, quality_dir: Path, margin: float
) -> Validated:
    """Run the suites of the sources that were read, and judge every source of the period.

    `history`: row counts of earlier loads (the warehouse's), which with this
    run's files give each monthly file its expected band of rows. Results go to
    `quality_dir` (one JSON per source, Data Docs, `summary.json`).
    """
    readable = extracted.readable()
    bands = row_bands(extracted.files(), history, margin)
    quality = run_suites(readable, quality_dir, suite_parameters(today), bands) if readable else {}
    statuses = source_statuses(extracted, quality)
    write_quality_summary(statuses, quality_dir)
    return Validated(statuses)

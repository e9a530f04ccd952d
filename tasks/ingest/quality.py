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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from reports import fmt
from tasks.contracts import sources
from tasks.contracts.vocab import SOURCE_FAILED, SOURCE_MISSING, SOURCE_OK, SOURCE_STATUS_FI
from tasks.ingest.extract import Extract
from tasks.ingest.period import Extracted
from tasks.ingest.reuse import REUSED_FI, collision_failures
from tasks.ingest.rows import Rows
from tasks.ingest.validate import (
    SourceQuality,
    file_warnings,
    row_bands,
    run_suites,
    suite_document,
    suite_parameters,
    uniqueness_keys,
    with_earlier_warnings,
)


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
    # Files not read again: an earlier run validated and loaded these very bytes under the same checks.
    reused: list[str] = dataclasses.field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.status == SOURCE_OK

    @property
    def reused_text(self) -> str:
        """How many of its files were not read again (the quality appendix), in Finnish; "" when none."""
        if not self.reused:
            return ""
        if len(self.reused) == len(self.files):
            return f"kaikki {REUSED_FI}" if len(self.files) > 1 else REUSED_FI
        return f"{fmt.count(len(self.reused), 'tiedosto', 'tiedostoa')} {REUSED_FI}"

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Validated:
    """The validate stage's result: every source's status, in the contracts' order."""

    statuses: list[SourceStatus]
    # Per source, the files read and validated clean in this run (no check failed on them; a warning check told
    # its every row): what a later run may reuse without reading them again.
    clean: dict[str, frozenset[str]] = dataclasses.field(default_factory=dict)
    # Per source and file read now, what the kept warning checks found in its rows (`validate.file_warnings`);
    # stored with the batches of the clean ones.
    warned: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)

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
                reused=[f.name for f in e.files if f.reused],
            )
        )
    return out


def clean_files(extracted: Extracted, statuses: list[SourceStatus], quality: dict[str, SourceQuality]) -> dict:
    """Per usable source, the files read in this run that no failed check or extract warning concerns (a warning
    check whose every row is told does not: its rows are kept with the batch)."""
    out = {}
    for s in statuses:
        e, q = extracted.sources[s.source], quality.get(s.source)
        if not s.usable or (q is not None and q.flagged is None):
            continue
        flagged = (q.flagged if q is not None else frozenset()) | {w.file for w in e.warnings}
        out[s.source] = frozenset(f.name for f in e.files if not f.reused and f.name not in flagged)
    return out


def checked_before(sid: str) -> SourceQuality:
    """The quality of a source whose every file is reused: each was validated clean, every check passed."""
    checks = len((suite_document(sid) or {"expectations": []})["expectations"])
    return SourceQuality(sid, SOURCE_OK, checks=checks, passed=checks)


def source_verdict(
    quality: SourceQuality, extract: Extract, rows: Rows | None, earlier_keys: pd.DataFrame | None
) -> SourceQuality:
    """A source's whole verdict from its suite's on the rows read now (`rows`): the unique keys those rows share
    with its reused files (`earlier_keys`) fail it, and the reused files' rows warn as they did when read (one
    message per check over every file)."""
    if rows is not None and earlier_keys is not None:
        keys = sorted({c for key in uniqueness_keys(quality.source) for c in key if c in rows.columns})
        new = rows.whole([*keys, "_file", "_line"])  # only the keys' columns: the rows read now may be millions
        quality = with_collisions(quality, collision_failures(quality.source, new, earlier_keys))
    earlier = {f.name: f.warned for f in extract.files if f.reused}
    return with_earlier_warnings(quality, [f.name for f in extract.files], earlier)


def with_collisions(quality: SourceQuality, failures: list[str]) -> SourceQuality:
    """The source's quality with the unique keys it shares with reused files as failures (quarantined)."""
    if not failures:
        return quality
    return dataclasses.replace(quality, status=SOURCE_FAILED, failures=[*quality.failures, *failures], flagged=None)


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
    extracted: Extracted,
    history: pd.DataFrame,
    today: dt.date,
    quality_dir: Path,
    margin: float,
    earlier_keys: dict[str, pd.DataFrame] | None = None,
    on_source: Callable[[SourceQuality, int], None] | None = None,
) -> Validated:
    """Run the suites on the files read in this run, and judge every source of the period.

    `history`: row counts of earlier loads (the warehouse's), which with this
    run's files give each monthly file its expected band of rows. Reused files
    (see `reuse`) are not validated again; `earlier_keys` holds, per source,
    their values of the keys the suite requires to be unique, which the rows
    read now must not repeat. Results go to `quality_dir` (one JSON per source,
    Data Docs, `summary.json`). `on_source` is told of each suite's outcome as it comes (the run's progress).
    """
    readable = extracted.readable()
    bands = row_bands(extracted.files(), history, margin)
    keys = earlier_keys or {}

    def judged(q: SourceQuality) -> SourceQuality:
        return source_verdict(q, extracted.sources[q.source], readable.get(q.source), keys.get(q.source))

    params = suite_parameters(today)
    quality = run_suites(readable, quality_dir, params, bands, on_source, judged) if readable else {}
    for sid, e in extracted.sources.items():
        if sid not in quality and e.status == SOURCE_OK and e.files and all(f.reused for f in e.files):
            quality[sid] = source_verdict(checked_before(sid), e, None, None)
    statuses = source_statuses(extracted, quality)
    write_quality_summary(statuses, quality_dir)
    # Only the clean files' notes are stored (`load_plan` keeps a file's with its key).
    warned = {sid: file_warnings(q) for sid, q in quality.items() if q.kept}
    return Validated(statuses, clean_files(extracted, statuses, quality), warned)
